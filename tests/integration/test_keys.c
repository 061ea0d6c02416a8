/*
 * test_keys.c - wrapped key storage through the real `ra serve`, its job runner, SoftHSM2 and
 * the local CA (issue #15): keys made as session objects and stored in PostgreSQL wrapped
 * under the token's KEK, the certificate's CSR signed from the blob, R2 for wrapped keys, a
 * retried issuance that never makes a second key, and the `ra kek` commands.
 */
#include <criterion/criterion.h>
#include <libpq-fe.h>
#include <openssl/pem.h>
#include <openssl/sha.h>
#include <openssl/x509.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tests/lib/rt.h"
#include "tests/lib/ts_token.h"

struct env {
	char *db;
	char *dir;
	char e_conf[600], e_cadir[600], e_db[700];
	const char *envv[16];
	struct rt_ra ra;
};

static void start(struct env *e, const char *extra)
{
	int n = 0;

	memset(e, 0, sizeof(*e));
	e->db = rt_db_new();
	e->dir = rt_tmpdir();
	cr_assert_eq(ts_token_init(e->dir, "ra-test", "12345678", "4711"), 0);
	snprintf(e->e_conf, sizeof(e->e_conf), "SOFTHSM2_CONF=%s/softhsm2.conf", e->dir);
	snprintf(e->e_cadir, sizeof(e->e_cadir), "RA_CA_DIR=%s/ca", e->dir);
	snprintf(e->e_db, sizeof(e->e_db), "RA_DATABASE_URL=%s", e->db);
	e->envv[n++] = "RA_PKCS11_PIN=4711";
	e->envv[n++] = "RA_PKCS11_TOKEN=ra-test";
	e->envv[n++] = e->e_conf;
	e->envv[n++] = e->e_cadir;
	/* "slow": retries far enough apart that a test can act between them */
	e->envv[n++] = extra && !strcmp(extra, "slow") ? "RA_JOBS_BACKOFF_MS=400" : "RA_JOBS_BACKOFF_MS=50";
	e->envv[n++] =
		extra && !strcmp(extra, "slow") ? "RA_JOBS_BACKOFF_MAX_MS=800" : "RA_JOBS_BACKOFF_MAX_MS=200";
	e->envv[n++] = "RA_CA_PDS_URL=https://pki.example.test/pds_en.pdf";
	e->envv[n++] = "RA_CA_CRL_URL=http://pki.example.test/v1/ca/crl";
	if (extra && (!strcmp(extra, "rewrap") || !strcmp(extra, "rewrap-slow"))) {
		/* a re-wrap slow enough to crash in the middle: 5 blobs per run, 600 ms apart; "slow":
		 * 3 s apart, for a test that acts between two runs */
		e->envv[n++] = "RA_PKCS11_REWRAP_BATCH=5";
		e->envv[n++] = !strcmp(extra, "rewrap") ? "RA_PKCS11_REWRAP_PAUSE_MS=600"
							: "RA_PKCS11_REWRAP_PAUSE_MS=3000";
		e->envv[n++] = "RA_JOBS_POLL_MS=100";
	} else if (extra && !strcmp(extra, "expiry")) {
		e->envv[n++] = "RA_SCHED_TICK_MS=100";
		e->envv[n++] = "RA_LIFECYCLE_EXPIRY_INTERVAL_S=1";
	} else if (extra && strcmp(extra, "slow") != 0) {
		e->envv[n++] = extra;
	}
	e->envv[n] = NULL;
	cr_assert_eq(rt_ra_start(&e->ra, e->db, e->envv), 0);
}

static void stop(struct env *e)
{
	cr_expect_eq(rt_ra_stop(&e->ra, SIGTERM), 0);
	free(e->db);
	free(e->dir);
}

/* A certificate request and its cert_issue job in one transaction, as order_issue.c writes
 * them (SQL: these tests are about the key, the order flow's interfaces are test_ident's). */
static void request(const char *db, const char *id)
{
	char sql[1024], err[512];

	snprintf(
		sql, sizeof(sql),
		"BEGIN;"
		"INSERT INTO certificates (id, class, subject, validity_years, ident_id) VALUES ('%s', 'qualified',"
		" '{\"country\":\"AT\",\"given_name\":\"Anna\",\"surname\":\"Müller\",\"serial_number\":\"PNOAT-1\","
		"\"common_name\":\"Anna Müller\"}', 5, 'ident-1');"
		"INSERT INTO jobs (kind, payload, idempotency_key) VALUES ('cert_issue',"
		" jsonb_build_object('certificate_id', '%s'), 'cert_issue:%s');"
		"COMMIT;",
		id, id, id);
	cr_assert_eq(rt_exec(db, sql, err, sizeof(err)), 0, "%s", err);
}

/* The first value of a query with the certificate id put in (fmt is a literal). */
#define val(db, fmt, id)                               \
	({                                             \
		char sql_[512];                        \
		snprintf(sql_, sizeof(sql_), fmt, id); \
		rt_sql(db, sql_);                      \
	})

static int wait_issued(const char *db, const char *id)
{
	char sql[256];

	snprintf(sql, sizeof(sql), "SELECT state FROM certificates WHERE id = '%s'", id);
	return rt_wait_sql(db, sql, "issued", 60);
}

/* The first value sql reads is want. */
static void expect_sql(const char *db, const char *sql, const char *want, const char *what)
{
	char *s = rt_sql(db, sql);

	cr_expect(s && strcmp(s, want) == 0, "%s: got %s, want %s", what, s ? s : "NULL", want);
	free(s);
}

/* One certificate requested and issued through the service. */
static void issue_one(const char *db, const char *id)
{
	request(db, id);
	cr_assert(wait_issued(db, id), "%s issued", id);
}

/* SHA-256 (hex) of the SubjectPublicKeyInfo in the certificate's PEM. */
static void cert_spki_sha256(const char *pem, char hex[65])
{
	BIO *b = BIO_new_mem_buf(pem, -1);
	X509 *x = PEM_read_bio_X509(b, NULL, NULL, NULL);
	unsigned char *der = NULL, md[32];
	int n;

	cr_assert_not_null(x);
	n = i2d_PUBKEY(X509_get0_pubkey(x), &der);
	cr_assert_gt(n, 0);
	SHA256(der, (size_t)n, md);
	for (int i = 0; i < 32; i++)
		snprintf(hex + 2 * i, 3, "%02x", md[i]);
	OPENSSL_free(der);
	X509_free(x);
	BIO_free(b);
}

/* How many objects of a type ("privkey", "secrkey", ...) pkcs11-tool lists on the token. */
static int token_objects(struct env *e, const char *type)
{
	char cmd[1400], line[512];
	FILE *p;
	int n = 0;

	snprintf(
		cmd, sizeof(cmd),
		"SOFTHSM2_CONF='%s/softhsm2.conf' pkcs11-tool --module '%s' --token-label ra-test --login --pin 4711"
		" --list-objects --type %s 2>/dev/null",
		e->dir, ts_softhsm_module(), type);
	p = popen(cmd, "r");
	cr_assert_not_null(p);
	/* the audit checkpoints' key (audit.key_id, label cab-ra-audit-log) is made on the same
	 * token when the first checkpoint is due, at a moment of its own: not a subscriber key */
	while (fgets(line, sizeof(line), p)) {
		if (strstr(line, "Object;") != NULL)
			n++;
		else if (strstr(line, "label:") != NULL && strstr(line, "cab-ra-audit-log") != NULL)
			n--;
	}
	pclose(p);
	return n;
}

/* R2, issue #15: the default storage makes the key as session objects, stores it wrapped
 * beside the certificate and leaves only the KEK on the token; the certificate carries the
 * stored key (its CSR was signed from the blob). */
Test(keys, r2_wrapped_keys_end_to_end, .timeout = 120)
{
	struct env e;
	const char *ids[] = {"crt-w1", "crt-w2", "crt-w3"};
	char *s, hex[65];

	start(&e, NULL);
	for (int i = 0; i < 3; i++)
		request(e.db, ids[i]);
	for (int i = 0; i < 3; i++) {
		char *fp, *pem;

		cr_assert(wait_issued(e.db, ids[i]), "%s issued", ids[i]);
		s = val(e.db,
			"SELECT key_storage || '/' || kek_label || '/' || kek_version || '/' || (length(key_blob) > 100)"
			" FROM certificates WHERE id = '%s'",
			ids[i]);
		cr_expect_str_eq(s, "wrapped/ra-kek/1/true", "%s", ids[i]);
		free(s);
		fp = val(e.db, "SELECT key_fingerprint FROM certificates WHERE id = '%s'", ids[i]);
		pem = val(e.db, "SELECT pem FROM certificates WHERE id = '%s'", ids[i]);
		cert_spki_sha256(pem, hex);
		cr_expect_str_eq(hex, fp, "R2: the certificate carries the stored key");
		free(fp);
		free(pem);
		s = val(e.db,
			"SELECT count(*) FROM audit_log WHERE action = 'cert.key_generated' AND object_id = '%s'"
			" AND details->>'storage' = 'wrapped' AND details->>'kek_version' = '1'",
			ids[i]);
		cr_expect_str_eq(s, "1");
		free(s);
	}
	cr_expect_eq(token_objects(&e, "privkey"), 0, "no subscriber key left on the token");
	cr_expect_eq(token_objects(&e, "pubkey"), 0);
	cr_expect_eq(token_objects(&e, "secrkey"), 1, "the token holds the KEK only");
	/* R2 for wrapped keys: a second certificate with the same key is refused */
	{
		char err[512];
		cr_expect_neq(rt_exec(e.db,
				      "UPDATE certificates SET key_fingerprint = (SELECT key_fingerprint FROM"
				      " certificates WHERE id = 'crt-w1') WHERE id = 'crt-w2'",
				      err, sizeof(err)),
			      0);
		cr_expect_neq(rt_exec(e.db,
				      "UPDATE certificates SET key_blob = (SELECT key_blob FROM certificates"
				      " WHERE id = 'crt-w1') WHERE id = 'crt-w2'",
				      err, sizeof(err)),
			      0, "a blob changes only by a re-wrap");
		cr_expect(strstr(err, "R2") != NULL, "%s", err);
	}
	stop(&e);
}

/* R2, issue #15: a retried issuance never makes a second key.  The certificate's final store
 * is made to fail for a while (a trigger: fault injection, there is no interface for it); the
 * retries find the key stored by the first attempt and sign the CSR with it again. */
Test(keys, r2_retried_issuance_reuses_the_stored_wrapped_key, .timeout = 120)
{
	struct env e;
	char err[512], *fp1, *fp2, *s;

	start(&e, "slow");
	cr_assert_eq(rt_exec(e.db,
			     "CREATE FUNCTION t_refuse_issued() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN"
			     " RAISE EXCEPTION 'test: storing the certificate fails'; END $$;"
			     "CREATE TRIGGER t_refuse_issued BEFORE UPDATE ON certificates FOR EACH ROW"
			     " WHEN (NEW.state = 'issued') EXECUTE FUNCTION t_refuse_issued();",
			     err, sizeof(err)),
		     0, "%s", err);
	request(e.db, "crt-retry");
	cr_assert(rt_wait_sql(e.db,
			      "SELECT attempts >= 3 FROM jobs WHERE idempotency_key = 'cert_issue:crt-retry'",
			      "t", 60),
		  "the job retried");
	fp1 = val(e.db,
		  "SELECT key_fingerprint FROM certificates WHERE id = '%s' AND state = 'key_generated'",
		  "crt-retry");
	cr_assert_not_null(fp1, "the key is stored before the certificate");
	cr_assert_eq(rt_exec(e.db, "DROP TRIGGER t_refuse_issued ON certificates", err, sizeof(err)), 0, "%s",
		     err);
	cr_assert(wait_issued(e.db, "crt-retry"));
	fp2 = val(e.db, "SELECT key_fingerprint FROM certificates WHERE id = '%s'", "crt-retry");
	cr_expect_str_eq(fp1, fp2, "the same key");
	s = val(e.db,
		"SELECT count(*) FROM audit_log WHERE action = 'cert.key_generated' AND object_id = '%s'",
		"crt-retry");
	cr_expect_str_eq(s, "1", "one key made");
	free(s);
	{
		char hex[65], *pem = val(e.db, "SELECT pem FROM certificates WHERE id = '%s'", "crt-retry");
		cert_spki_sha256(pem, hex);
		cr_expect_str_eq(hex, fp1);
		free(pem);
	}
	free(fp1);
	free(fp2);
	stop(&e);
}

/* pkcs11.key_storage = token keeps the old behaviour: the key is a token object. */
Test(keys, r2_token_storage_keeps_keys_on_the_token, .timeout = 120)
{
	struct env e;
	char *s;

	start(&e, "RA_PKCS11_KEY_STORAGE=token");
	request(e.db, "crt-tok");
	cr_assert(wait_issued(e.db, "crt-tok"));
	s = val(e.db, "SELECT key_storage || '/' || (key_blob IS NULL) FROM certificates WHERE id = '%s'",
		"crt-tok");
	cr_expect_str_eq(s, "token/true");
	free(s);
	cr_expect_eq(token_objects(&e, "privkey"), 1);
	cr_expect_eq(token_objects(&e, "secrkey"), 0, "no KEK made for token storage");
	stop(&e);
}

/* `ra kek`: the first start made version 1 (pkcs11.kek_create); create finds it, status shows
 * it with the blobs it wraps; with token storage there is no KEK to speak of. */
Test(keys, kek_create_and_status_commands, .timeout = 120)
{
	struct env e;
	char *out = NULL;
	const char *env[20];
	int n = 0;

	start(&e, NULL);
	request(e.db, "crt-k1");
	cr_assert(wait_issued(e.db, "crt-k1"));
	for (int i = 0; e.envv[i]; i++)
		env[n++] = e.envv[i];
	env[n++] = e.e_db;
	env[n] = NULL;
	cr_expect_eq(rt_ra_cmd(env, &out, "kek", "status", NULL), 0, "%s", out);
	cr_expect(out && strstr(out, "KEK ra-kek: current version 1") &&
			  strstr(out, "version 1: 1 wrapped keys"),
		  "%s", out);
	free(out);
	cr_expect_eq(rt_ra_cmd(env, &out, "kek", "create", NULL), 0, "%s", out);
	cr_expect(out && strstr(out, "exists, version 1"), "%s", out);
	free(out);
	cr_expect_eq(rt_ra_cmd(env, &out, "kek", "frobnicate", NULL), 2, "%s", out);
	free(out);
	env[n++] = "RA_PKCS11_KEY_STORAGE=token";
	env[n] = NULL;
	cr_expect_eq(rt_ra_cmd(env, &out, "kek", "status", NULL), 1, "%s", out);
	cr_expect(out && strstr(out, "pkcs11.key_storage"), "%s", out);
	free(out);
	stop(&e);
}

/* A token without a KEK and pkcs11.kek_create = false: `ra serve` refuses to start, naming the
 * key; `ra kek create` makes version 1 (audited), and then it starts. */
Test(keys, no_kek_without_kek_create_is_refused_then_ra_kek_create, .timeout = 120)
{
	struct env e;
	char *out = NULL, *s;
	const char *env[20];
	int n = 0;

	start(&e, "RA_PKCS11_KEY_STORAGE=token"); /* the environment, not yet a KEK */
	cr_expect_eq(rt_ra_stop(&e.ra, SIGTERM), 0);
	for (int i = 0; e.envv[i]; i++)
		if (strncmp(e.envv[i], "RA_PKCS11_KEY_STORAGE=", 22) != 0)
			env[n++] = e.envv[i];
	env[n++] = e.e_db;
	env[n++] = "RA_PKCS11_KEK_CREATE=false";
	env[n] = NULL;
	cr_expect_neq(rt_ra_start(&e.ra, e.db, env), 0, "no KEK: ra serve refuses to start");
	s = rt_read_file(e.ra.log, NULL);
	cr_expect(s && strstr(s, "pkcs11.kek_label") && strstr(s, "ra kek create"),
		  "the log names the key: %s", s);
	free(s);
	cr_expect_eq(rt_ra_cmd(env, &out, "kek", "create", "--actor", "alice", NULL), 0, "%s", out);
	cr_expect(out && strstr(out, "KEK ra-kek version 1 created"), "%s", out);
	free(out);
	s = rt_sql(e.db, "SELECT actor || ' ' || object_id FROM audit_log WHERE action = 'kek.created'");
	cr_expect_str_eq(s, "support:alice ra-kek/1");
	free(s);
	cr_assert_eq(rt_ra_start(&e.ra, e.db, env), 0);
	request(e.db, "crt-k2");
	cr_assert(wait_issued(e.db, "crt-k2"));
	stop(&e);
}

/* A support token (ra token create) for the admin API. */
static char *support_token(struct env *e)
{
	return rt_token(e->db, "sam", "support");
}

/* `ra key csr ID`: exit status, output in *out (caller frees). */
static int key_csr(struct env *e, const char *id, char **out)
{
	const char *env[20];
	int n = 0;

	for (int i = 0; e->envv[i]; i++)
		env[n++] = e->envv[i];
	env[n++] = e->e_db;
	env[n] = NULL;
	return rt_ra_cmd(env, out, "key", "csr", id, NULL);
}

/* R22 (issue #15): revocation destroys the key in the same transaction (the blob is gone, audited);
 * a CSR with it then fails with "key destroyed", while another certificate's key still signs. */
Test(keys, r22_revocation_destroys_the_wrapped_key_in_the_same_transaction, .timeout = 120)
{
	struct env e;
	char *tok, *out = NULL, *s;

	start(&e, NULL);
	request(e.db, "crt-rv1");
	request(e.db, "crt-rv2");
	cr_assert(wait_issued(e.db, "crt-rv1"));
	cr_assert(wait_issued(e.db, "crt-rv2"));
	cr_expect_eq(key_csr(&e, "crt-rv1", &out), 0, "%s", out);
	cr_expect(out && strstr(out, "BEGIN CERTIFICATE REQUEST"), "a CSR from the blob: %s", out);
	free(out);
	tok = support_token(&e);
	rt_admin_revoke(&e.ra, tok, "crt-rv1", "keyCompromise");
	/* the answer came after the commit: the blob is gone already, no job needed */
	s = rt_sql(e.db,
		   "SELECT state || '/' || (key_blob IS NULL) || '/' || (key_destroyed_at IS NOT NULL)"
		   " FROM certificates WHERE id = 'crt-rv1'");
	cr_expect_str_eq(s, "revoked/true/true");
	free(s);
	s = rt_sql(
		e.db,
		"SELECT count(*) FROM audit_log a JOIN audit_log r ON r.object_id = a.object_id"
		" AND r.action = 'cert.revoked' WHERE a.action = 'cert.key_destroyed' AND a.object_id = 'crt-rv1'"
		" AND a.details->>'storage' = 'wrapped' AND a.details ? 'key_fingerprint'");
	cr_expect_str_eq(s, "1", "audited with the revocation");
	free(s);
	cr_expect_eq(key_csr(&e, "crt-rv1", &out), 1, "%s", out);
	cr_expect(out && strstr(out, "key destroyed"), "named error: %s", out);
	free(out);
	cr_expect_eq(key_csr(&e, "crt-rv2", &out), 0, "the other key still signs: %s", out);
	free(out);
	{
		char err[512];
		cr_expect_neq(rt_exec(e.db,
				      "UPDATE certificates SET key_blob = '\\x00', key_destroyed_at = NULL"
				      " WHERE id = 'crt-rv1'",
				      err, sizeof(err)),
			      0, "a destroyed key never comes back");
	}
	free(tok);
	stop(&e);
}

/* R22, keys.destroy_delay_hours: the key outlives the revocation by the delay (a key_destroy job due
 * then, enqueued in the revocation's transaction), and is destroyed when it is due. */
Test(keys, r22_destruction_delay_is_a_due_job, .timeout = 120)
{
	struct env e;
	char *tok, *s, err[256];

	start(&e, "RA_KEYS_DESTROY_DELAY_HOURS=24");
	request(e.db, "crt-dl");
	cr_assert(wait_issued(e.db, "crt-dl"));
	tok = support_token(&e);
	rt_admin_revoke(&e.ra, tok, "crt-dl", "keyCompromise");
	s = rt_sql(
		e.db,
		"SELECT (key_blob IS NOT NULL) || '/' || (SELECT round(extract(epoch FROM run_at - now()) / 3600)"
		" FROM jobs WHERE idempotency_key = 'key_destroy:crt-dl') FROM certificates WHERE id = 'crt-dl'");
	if (s == NULL || strcmp(s, "true/24") != 0) {
		char *log = rt_read_file(e.ra.log, NULL);
		fprintf(stderr, "%s\n", log ? log : "");
		free(log);
	}
	cr_expect_str_eq(s, "true/24", "kept for 24 h: %s", s);
	free(s);
	/* the day passes (SQL: the clock has no interface) */
	cr_assert_eq(rt_exec(e.db,
			     "UPDATE jobs SET run_at = now() WHERE idempotency_key = 'key_destroy:crt-dl'",
			     err, sizeof(err)),
		     0, "%s", err);
	cr_expect(rt_wait_sql(e.db,
			      "SELECT (key_blob IS NULL AND key_destroyed_at IS NOT NULL) FROM certificates"
			      " WHERE id = 'crt-dl'",
			      "t", 30),
		  "destroyed when due");
	s = rt_sql(
		e.db,
		"SELECT count(*) FROM audit_log WHERE action = 'cert.key_destroyed' AND object_id = 'crt-dl'");
	cr_expect_str_eq(s, "1");
	free(s);
	free(tok);
	stop(&e);
}

/* R22, token storage: the token key of a revoked certificate is destroyed on the token. */
Test(keys, r22_revocation_destroys_the_token_key, .timeout = 120)
{
	struct env e;
	char *tok, *s;

	start(&e, "RA_PKCS11_KEY_STORAGE=token");
	request(e.db, "crt-tr");
	cr_assert(wait_issued(e.db, "crt-tr"));
	cr_expect_eq(token_objects(&e, "privkey"), 1);
	tok = support_token(&e);
	rt_admin_revoke(&e.ra, tok, "crt-tr", "keyCompromise");
	cr_expect(rt_wait_sql(
		e.db, "SELECT key_destroyed_at IS NOT NULL FROM certificates WHERE id = 'crt-tr'", "t", 30));
	cr_expect_eq(token_objects(&e, "privkey"), 0, "the private key is gone from the token");
	cr_expect_eq(token_objects(&e, "pubkey"), 0);
	s = rt_sql(e.db,
		   "SELECT details->>'token_objects' FROM audit_log WHERE action = 'cert.key_destroyed'"
		   " AND object_id = 'crt-tr'");
	cr_expect_str_eq(s, "2");
	free(s);
	free(tok);
	stop(&e);
}

/* `ra ARGS` with the test's environment (token, CA, database). */
static int ra_cmd(struct env *e, char **out, const char *a0, const char *a1)
{
	const char *env[20];
	int n = 0;

	for (int i = 0; e->envv[i]; i++)
		env[n++] = e->envv[i];
	env[n++] = e->e_db;
	env[n] = NULL;
	return rt_ra_cmd(env, out, a0, a1, NULL);
}

static long count(const char *db, const char *sql)
{
	char *s = rt_sql(db, sql);
	long n = s ? atol(s) : -1;

	free(s);
	return n;
}

static int ra_key_csr_ok(struct env *e, const char *id)
{
	char *out = NULL;
	int rc = key_csr(e, id, &out);

	if (rc != 0 || out == NULL || strstr(out, "BEGIN CERTIFICATE REQUEST") == NULL) {
		fprintf(stderr, "ra key csr %s: %s\n", id, out ? out : "");
		rc = rc ? rc : 1;
	}
	free(out);
	return rc;
}

/* Issue #15: the KEK rotates while certificates are being issued; everything still signs (new
 * keys under version 2, old blobs under 1 until re-wrapped); the re-wrap job is killed halfway
 * with the service (SIGKILL) and finishes after the restart: every blob under version 2,
 * each changed once, each still the same key and still signing. */
Test(keys, kek_rotation_mid_run_and_rewrap_crashed_halfway_finishes, .timeout = 180)
{
	struct env e;
	char id[32], *out = NULL, *fps1, *fps2;
	long v2;
	int n1 = 30;

	start(&e, "rewrap");
	for (int i = 0; i < n1; i++) {
		snprintf(id, sizeof(id), "crt-r%02d", i);
		request(e.db, id);
	}
	cr_assert(rt_wait_sql(e.db, "SELECT count(*) FROM certificates WHERE state = 'issued'", "30", 90),
		  "30 issued");
	fps1 = rt_sql(e.db, "SELECT string_agg(key_fingerprint, ',' ORDER BY id) FROM certificates");
	/* more requests, then the rotation while they are in flight */
	for (int i = 0; i < 10; i++) {
		snprintf(id, sizeof(id), "crt-n%02d", i);
		request(e.db, id);
	}
	cr_assert_eq(ra_cmd(&e, &out, "kek", "rotate"), 0, "%s", out);
	cr_expect(out && strstr(out, "version 2 is current"), "%s", out);
	free(out);
	/* the switch-over is the rotation's commit: the service recorded version 1 at its first
	 * start, the rotation version 2 (migration 0023) */
	{
		char *vs = rt_sql(
			e.db,
			"SELECT string_agg(label || '/' || version, ',' ORDER BY version) FROM kek_versions");
		cr_expect(vs && strcmp(vs, "ra-kek/1,ra-kek/2") == 0, "kek_versions: %s", vs ? vs : "NULL");
		free(vs);
	}
	cr_assert(rt_wait_sql(e.db, "SELECT count(*) FROM certificates WHERE state = 'issued'", "40", 90),
		  "40 issued");
	cr_expect_eq(count(e.db, "SELECT count(*) FROM audit_log WHERE action = 'kek.rotated'"), 1);
	/* a key made after the rotation's commit is wrapped under version 2 from the start */
	request(e.db, "crt-z");
	cr_assert(rt_wait_sql(e.db, "SELECT state FROM certificates WHERE id = 'crt-z'", "issued", 60));
	cr_expect_eq(count(e.db,
			   "SELECT count(*) FROM audit_log WHERE action = 'cert.key_generated'"
			   " AND object_id = 'crt-z' AND details->>'kek_version' = '2'"),
		     1, "crt-z's key was generated under version 2");
	/* halfway: some blobs moved, not all; then the crash */
	cr_assert(rt_wait_sql(
			  e.db,
			  "SELECT count(*) >= 5 FROM certificates WHERE kek_version = 2 AND id LIKE 'crt-r%'",
			  "t", 60),
		  "the re-wrap started");
	cr_expect_eq(rt_ra_stop(&e.ra, SIGKILL), 128 + SIGKILL);
	v2 = count(e.db, "SELECT count(*) FROM certificates WHERE kek_version = 2 AND id LIKE 'crt-r%'");
	cr_expect(v2 >= 5 && v2 < n1, "killed halfway: %ld of %d re-wrapped", v2, n1);
	{
		char *left = rt_sql(e.db, "SELECT min(id) FROM certificates WHERE kek_version = 1");
		cr_assert_not_null(left);
		cr_expect_eq(ra_key_csr_ok(&e, left), 0, "a blob still under version 1 signs");
		free(left);
	}
	cr_assert_eq(rt_ra_start(&e.ra, e.db, e.envv), 0);
	cr_expect(rt_wait_sql(e.db, "SELECT count(*) FROM certificates WHERE kek_version = 1", "0", 90),
		  "the re-wrap finished after the restart");
	cr_expect_eq(
		count(e.db,
		      "SELECT count(*) FROM certificates WHERE kek_version = 2 AND key_blob IS NOT NULL"),
		41);
	fps2 = rt_sql(
		e.db,
		"SELECT string_agg(key_fingerprint, ',' ORDER BY id) FROM certificates WHERE id LIKE 'crt-r%'");
	cr_expect_str_eq(fps1, fps2, "the same keys (R2)");
	for (int i = 0; i < n1; i += 7) {
		snprintf(id, sizeof(id), "crt-r%02d", i);
		cr_expect_eq(ra_key_csr_ok(&e, id), 0, "%s signs after the re-wrap", id);
	}
	free(fps1);
	free(fps2);
	stop(&e);
}

/* Issue #15: kek_versions names a version the token does not have (a database restored
 * beside a token made again; SQL: no interface records a version the token lacks, which is the
 * point).  The key is made under the token's highest in the job's first attempt, and the log
 * says why; nothing waits out a retry. */
Test(keys, a_kek_version_the_token_lacks_falls_back_to_its_highest_in_the_same_attempt, .timeout = 120)
{
	struct env e;
	char err[256], *log, *out = NULL;

	start(&e, NULL);
	cr_assert_eq(rt_exec(e.db, "INSERT INTO kek_versions (label, version) VALUES ('ra-kek', 9)", err,
			     sizeof(err)),
		     0, "%s", err);
	issue_one(e.db, "crt-k9");
	expect_sql(e.db,
		   "SELECT kek_version || '/' || (SELECT attempts FROM jobs"
		   " WHERE idempotency_key = 'cert_issue:crt-k9') FROM certificates WHERE id = 'crt-k9'",
		   "1/1", "under the token's version 1, in the first attempt");
	log = rt_read_file(e.ra.log, NULL);
	cr_expect(log && strstr(log, "kek.version_missing") && strstr(log, "kek_version=9"),
		  "the log names it");
	free(log);
	/* a rotation (the token's version 2) still re-wraps: its batch is checked against the
	 * table's 9 it read, not refused for wrapping under 2 (migration 0024) */
	cr_assert_eq(ra_cmd(&e, &out, "kek", "rotate"), 0, "%s", out);
	free(out);
	cr_expect(rt_wait_sql(e.db, "SELECT kek_version FROM certificates WHERE id = 'crt-k9'", "2", 60),
		  "re-wrapped under the token's version 2");
	stop(&e);
}

/* A rotation's kek_versions row in a transaction held open (migration 0024: it holds the
 * label's lock until rotation_commit); the tests below say why this is SQL. */
static PGconn *rotation_held(const char *db, int version)
{
	PGconn *c = PQconnectdb(db);
	PGresult *r;
	char sql[160];

	cr_assert_eq(PQstatus(c), CONNECTION_OK, "%s", PQerrorMessage(c));
	snprintf(sql, sizeof(sql), "BEGIN; INSERT INTO kek_versions (label, version) VALUES ('ra-kek', %d)",
		 version);
	r = PQexec(c, sql);
	cr_assert_eq(PQresultStatus(r), PGRES_COMMAND_OK, "%s", PQresultErrorMessage(r));
	PQclear(r);
	return c;
}

/* Until one transaction waits for the label's lock (the two-key advisory lock of 0024) in this
 * test's database (pg_locks shows the whole cluster; other tests run beside this one). */
static void wait_for_label_lock(const char *db, const char *what)
{
	cr_assert(rt_wait_sql(
			  db,
			  "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND classid = 7310024"
			  " AND objsubid = 2 AND NOT granted"
			  " AND database = (SELECT oid FROM pg_database WHERE datname = current_database())",
			  "1", 60),
		  "%s", what);
}

static void rotation_commit(PGconn *c)
{
	PGresult *r = PQexec(c, "COMMIT");

	cr_assert_eq(PQresultStatus(r), PGRES_COMMAND_OK, "%s", PQresultErrorMessage(r));
	PQclear(r);
	PQfinish(c);
}

/* Issue #15 (migration 0024): a rotation that commits after a job read its KEK version, while
 * the job holds a key made under the old one, cannot leave that key behind its re-wrap: the
 * key's store waits for the rotation's commit, is refused, and the job makes the key again
 * under the new version, in the same attempt.  The rotation here is its two halves, held apart
 * at the instant that matters: version 2 made on the token (pkcs11-tool, as `ra kek rotate`
 * makes it first), then its kek_versions row in a transaction this test keeps open (SQL: no
 * interface pauses a rotation before its commit). */
Test(keys, a_key_made_for_the_version_before_a_rotation_is_made_again_after_its_commit, .timeout = 120)
{
	struct env e;
	PGconn *c;
	char *log, err[512] = "";

	start(&e, NULL);
	issue_one(e.db, "crt-v1");
	cr_assert_eq(ts_token_secret_make("ra-test", "4711", "ra-kek", "2"), 0, "pkcs11-tool made version 2");
	c = rotation_held(e.db, 2);
	/* the job reads version 1 (the insert is not committed), makes its key, and its store
	 * waits for the label's lock */
	request(e.db, "crt-v2");
	wait_for_label_lock(e.db, "the key store waits for the rotation's commit");
	expect_sql(e.db, "SELECT key_blob IS NULL FROM certificates WHERE id = 'crt-v2'", "t",
		   "not stored yet");
	rotation_commit(c);
	cr_assert(wait_issued(e.db, "crt-v2"), "crt-v2 issued");
	expect_sql(e.db,
		   "SELECT kek_version || '/' || (SELECT attempts FROM jobs"
		   " WHERE idempotency_key = 'cert_issue:crt-v2') FROM certificates WHERE id = 'crt-v2'",
		   "2/1", "stored under version 2, in the first attempt");
	expect_sql(e.db,
		   "SELECT string_agg(details->>'kek_version', ',') FROM audit_log"
		   " WHERE action = 'cert.key_generated' AND object_id = 'crt-v2'",
		   "2", "one key stored: the one made again");
	cr_expect_eq(ra_key_csr_ok(&e, "crt-v2"), 0, "the stored key signs");
	log = rt_read_file(e.ra.log, NULL);
	cr_expect(log && strstr(log, "kek.rotated_meanwhile") && strstr(log, "certificate=crt-v2"),
		  "the log says why the key was made again");
	free(log);
	/* the check reads after its lock, which only READ COMMITTED does: elsewhere it refuses */
	cr_expect(
		rt_exec_refused(
			e.db,
			"BEGIN ISOLATION LEVEL REPEATABLE READ; SELECT kek_version_check('ra-kek', 2); COMMIT",
			"needs READ COMMITTED", err, sizeof(err)),
		"%s", err);
	stop(&e);
}

/* Issue #15 (migration 0024): a re-wrap batch that wrapped under version 2 while version 3's
 * rotation was committing is refused at its update, and its retry re-wraps under version 3:
 * version 3's re-wrap may have passed those ids.  Version 3 is made in its two halves around
 * the batch, as in the key store's test above: its kek_versions row in a transaction this test
 * holds open (SQL: no interface pauses a rotation before its commit), then its token object
 * (pkcs11-tool) once the batch waits, so the batch cannot have seen it. */
Test(keys, a_rewrap_batch_behind_a_newer_rotation_is_refused_and_rewraps_under_it, .timeout = 180)
{
	struct env e;
	char id[32], *out = NULL;
	PGconn *c;

	start(&e, "rewrap-slow");
	for (int i = 0; i < 10; i++) {
		snprintf(id, sizeof(id), "crt-w%02d", i);
		request(e.db, id);
	}
	cr_assert(rt_wait_sql(e.db, "SELECT count(*) FROM certificates WHERE state = 'issued'", "10", 90),
		  "10 issued");
	cr_assert_eq(ra_cmd(&e, &out, "kek", "rotate"), 0, "%s", out);
	free(out);
	/* the first batch of 5 moved to version 2; the next run is 3 s later */
	cr_assert(rt_wait_sql(e.db, "SELECT count(*) FROM certificates WHERE kek_version = 2", "5", 60));
	c = rotation_held(e.db, 3);
	wait_for_label_lock(e.db, "the second batch's update waits for version 3's commit");
	expect_sql(e.db, "SELECT count(*) FROM certificates WHERE kek_version = 1", "5", "not moved yet");
	cr_assert_eq(ts_token_secret_make("ra-test", "4711", "ra-kek", "3"), 0, "pkcs11-tool made version 3");
	rotation_commit(c);
	cr_expect(rt_wait_sql(e.db, "SELECT count(*) FROM certificates WHERE kek_version = 1", "0", 60),
		  "the batch's retry moved the rest");
	expect_sql(
		e.db,
		"SELECT string_agg(kek_version::text, ',' ORDER BY id) FROM certificates WHERE id LIKE 'crt-w%'",
		"2,2,2,2,2,3,3,3,3,3", "the refused batch is under version 3, none of it under 2");
	for (int i = 5; i < 10; i += 4) {
		snprintf(id, sizeof(id), "crt-w%02d", i);
		cr_expect_eq(ra_key_csr_ok(&e, id), 0, "%s signs under version 3", id);
	}
	stop(&e);
}

/* Issue #15: the database decides the version new keys are wrapped under, not the token's
 * newest object: a version 2 made on the token outside `ra kek` (pkcs11-tool) is not used. */
Test(keys, new_keys_follow_the_version_the_database_names, .timeout = 120)
{
	struct env e;

	start(&e, NULL);
	issue_one(e.db, "crt-d1");
	cr_assert_eq(ts_token_secret_make("ra-test", "4711", "ra-kek", "2"), 0, "pkcs11-tool made version 2");
	issue_one(e.db, "crt-d2");
	expect_sql(e.db,
		   "SELECT string_agg(id || '/' || kek_version, ',' ORDER BY id) FROM certificates"
		   " WHERE id LIKE 'crt-d%'",
		   "crt-d1/1,crt-d2/1", "both under the version kek_versions names");
	stop(&e);
}

/* R22 (issues #15 and #14): expiry ends the certificate and its key with it, in one transaction. */
Test(keys, r22_expiry_destroys_the_key, .timeout = 120)
{
	struct env e;
	char err[256], *s;

	start(&e, "expiry");
	request(e.db, "crt-ex");
	cr_assert(wait_issued(e.db, "crt-ex"));
	/* notAfter in the past (SQL: no CA issues a certificate valid for seconds; as test_sched) */
	cr_assert_eq(
		rt_exec(e.db,
			"UPDATE certificates SET not_after = now() - interval '1 second' WHERE id = 'crt-ex'",
			err, sizeof(err)),
		0, "%s", err);
	cr_assert(rt_wait_sql(e.db, "SELECT state FROM certificates WHERE id = 'crt-ex'", "expired", 30));
	s = rt_sql(
		e.db,
		"SELECT (key_blob IS NULL) || '/' || (key_destroyed_at IS NOT NULL) || '/' ||"
		" (SELECT count(*) FROM audit_log WHERE action = 'cert.key_destroyed' AND object_id = 'crt-ex'"
		"  AND reason = 'certificate expired') FROM certificates WHERE id = 'crt-ex'");
	cr_expect_str_eq(s, "true/true/1");
	free(s);
	stop(&e);
}

/* Issue #15: `ra key migrate` moves token-resident keys into wrapped storage and off the
 * token.  An extractable token key (made here with pkcs11-tool, as another tool might have)
 * moves: stored wrapped, the same key, gone from the token, still signing.  A key this code
 * made on the token (CKA_EXTRACTABLE false, for good) stays and keeps working, counted.  A
 * second run has nothing left to do. */
Test(keys, key_migrate_moves_extractable_token_keys_into_wrapped_storage, .timeout = 120)
{
	struct env e;
	char cmd[1600], *out = NULL, *fp1, *fp2, *s;
	const char *env[24];
	int n = 0;

	start(&e, "RA_PKCS11_KEY_STORAGE=token");
	snprintf(
		cmd, sizeof(cmd),
		"SOFTHSM2_CONF='%s/softhsm2.conf' pkcs11-tool --module '%s' --token-label ra-test --login --pin 4711"
		" --keypairgen --key-type EC:prime256v1 --id %s --label cab-crt-m1 --extractable --sensitive"
		" --usage-sign >/dev/null 2>&1",
		e.dir, ts_softhsm_module(), "6372742d6d31" /* "crt-m1" */);
	cr_assert_eq(system(cmd), 0, "pkcs11-tool made an extractable key pair");
	request(e.db, "crt-m1");
	request(e.db, "crt-m2");
	cr_assert(wait_issued(e.db, "crt-m1"));
	cr_assert(wait_issued(e.db, "crt-m2"));
	fp1 = rt_sql(e.db, "SELECT key_fingerprint FROM certificates WHERE id = 'crt-m1'");
	cr_expect_eq(token_objects(&e, "privkey"), 2);
	cr_expect_eq(rt_ra_stop(&e.ra, SIGTERM), 0);
	for (int i = 0; e.envv[i]; i++)
		if (strncmp(e.envv[i], "RA_PKCS11_KEY_STORAGE=", 22) != 0)
			env[n++] = e.envv[i];
	env[n++] = e.e_db;
	env[n] = NULL;
	cr_assert_eq(rt_ra_cmd(env, &out, "kek", "create", NULL), 0, "%s", out);
	free(out);
	cr_expect_eq(rt_ra_cmd(env, &out, "key", "migrate", "--actor", "alice", NULL), 0, "%s", out);
	cr_expect(out && strstr(out, "migrated 1, kept on the token (not extractable) 1"), "%s", out);
	cr_expect(out && strstr(out, "crt-m2: stays on the token"), "%s", out);
	free(out);
	s = rt_sql(
		e.db,
		"SELECT key_storage || '/' || (key_blob IS NOT NULL) || '/' || kek_version FROM certificates"
		" WHERE id = 'crt-m1'");
	cr_expect_str_eq(s, "wrapped/true/1");
	free(s);
	fp2 = rt_sql(e.db, "SELECT key_fingerprint FROM certificates WHERE id = 'crt-m1'");
	cr_expect_str_eq(fp1, fp2, "the same key");
	cr_expect_eq(token_objects(&e, "privkey"), 1, "crt-m1's key left the token, crt-m2's stayed");
	s = rt_sql(
		e.db,
		"SELECT string_agg(action || ':' || actor, ',' ORDER BY seq) FROM audit_log WHERE object_id = 'crt-m1'"
		" AND action LIKE 'cert.key_migrated%'");
	cr_expect_str_eq(s,
			 "cert.key_migrated:support:alice,cert.key_migrated_token_destroyed:support:alice");
	free(s);
	cr_expect_eq(key_csr(&e, "crt-m1", &out), 0, "the moved key signs from its blob: %s", out);
	free(out);
	cr_expect_eq(key_csr(&e, "crt-m2", &out), 0, "the kept key signs on the token: %s", out);
	free(out);
	cr_expect_eq(rt_ra_cmd(env, &out, "key", "migrate", NULL), 0, "%s", out);
	cr_expect(
		out && strstr(out,
			      "migrated 0, kept on the token (not extractable) 1, finished from an earlier run 0"),
		"%s", out);
	free(out);
	free(fp1);
	free(fp2);
	free(e.db);
	free(e.dir);
}
