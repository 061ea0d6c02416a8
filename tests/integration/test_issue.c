/*
 * test_issue.c - issuance and revocation through the real `ra serve`, its job runner, the
 * SoftHSM2 token and the local CA (issue #6): keys on the token (R2), profiles (R1, R5),
 * identification before issuance (R7), revocation final and in the CRL (R14), replacement
 * revoking the old certificate only once the new one exists (R15).
 */
#include <criterion/criterion.h>
#include <jansson.h>
#include <openssl/x509.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "tests/lib/rt.h"
#include "tests/lib/ts_cmp.h"
#include "tests/lib/ts_peers.h"
#include "tests/lib/ts_token.h"

/*
 * Every scenario runs twice (issue #9): with the embedded local CA, and with
 * ca.backend=cmp against build/ca-bridge serving a CA over CMP (PBM), the keys still on
 * the RA's token.  ca-bridge refuses subjects whose CN starts with "Refused".
 */
enum backend { LOCAL, CMP };

struct env {
	char *db;
	char *dir;
	char e_pin[64], e_tok[64], e_conf[600], e_cadir[600];
	char e_url[128], e_trusted[700];
	char e_sms[128], peers[700]; /* the SMS gateway, when a test activates (peers[0] != 0) */
	const char *envv[20];
	struct rt_ra ra;
	struct ts_proc bridge;
};

/* the SMS peer of the running test, if it started one: stopped after it even when an
 * assertion ended it early (its ra and ca-bridge go with the test's process) */
static char peers_dir[700];

static void peers_fini(void)
{
	if (peers_dir[0])
		ts_peer_stop_all(peers_dir);
}

TestSuite(issue, .fini = peers_fini);
TestSuite(issue_cmp, .fini = peers_fini);

/* One scenario as two tests: local CA, and CMP to ca-bridge. */
#define BOTH_BACKENDS(name)                   \
	Test(issue, name, .timeout = 120)     \
	{                                     \
		name(LOCAL);                  \
	}                                     \
	Test(issue_cmp, name, .timeout = 180) \
	{                                     \
		name(CMP);                    \
	}

#define CMP_SECRET "issue-cmp-3a9c1e7f5b2d8a4c6e0f9b1d3a5c7e9f2b4d6a8c"

static void start_bridge(struct env *e)
{
	char cadir[600], log[600];
	const char *args[] = {"--ca-dir",
			      cadir,
			      "--policy-oid",
			      "1.3.6.1.4.1.99999.1.1",
			      "--pds-url",
			      "https://ra.example/pds_en.pdf",
			      "--crl-url",
			      "http://127.0.0.1/crl",
			      "--ca-subject",
			      "C=AT,O=Test,CN=Test CMP CA",
			      "--refuse-cn",
			      "Refused *",
			      "--refuse-o",
			      "Refused *",
			      "--secret",
			      "env:ISSUE_CMP_SECRET",
			      "--reference",
			      "ca-bridge",
			      NULL};

	snprintf(cadir, sizeof(cadir), "%s/bridge-ca", e->dir);
	snprintf(log, sizeof(log), "%s/ca-bridge.log", e->dir);
	setenv("ISSUE_CMP_SECRET", CMP_SECRET, 1);
	cr_assert_eq(ts_cabridge_start(&e->bridge, log, args), 0, "ca-bridge did not start; see %s", log);
	snprintf(e->e_url, sizeof(e->e_url), "RA_CMP_URL=http://127.0.0.1:%d/cmp", e->bridge.port);
	snprintf(e->e_trusted, sizeof(e->e_trusted), "RA_CMP_TRUSTED=%s/ca.pem", cadir);
}

/* with_sms: the SMS gateway peer too, for the TransportPINs a test activates with */
static void start_env(struct env *e, enum backend b, int with_sms)
{
	int n = 0;

	memset(e, 0, sizeof(*e));
	e->db = rt_db_new();
	e->dir = rt_tmpdir();
	if (with_sms) {
		const char *args[] = {"--token", "issue-sms-token", NULL};
		snprintf(e->peers, sizeof(e->peers), "%s/peers", e->dir);
		snprintf(peers_dir, sizeof(peers_dir), "%s", e->peers);
		snprintf(e->e_sms, sizeof(e->e_sms), "RA_SMS_URL=http://127.0.0.1:%d/v1/sms",
			 ts_peer_start(e->peers, "sms", args));
		e->envv[n++] = e->e_sms;
		e->envv[n++] = "RA_SMS_TOKEN=issue-sms-token";
		/* the TransportPIN waits for its SMS sealed under the evidence key (tpin.c) */
		e->envv[n++] =
			"RA_EVIDENCE_KEY=000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f";
	}
	cr_assert_eq(ts_token_init(e->dir, "ra-test", "12345678", "4711"), 0);
	snprintf(e->e_pin, sizeof(e->e_pin), "RA_PKCS11_PIN=4711");
	snprintf(e->e_tok, sizeof(e->e_tok), "RA_PKCS11_TOKEN=ra-test");
	snprintf(e->e_conf, sizeof(e->e_conf), "SOFTHSM2_CONF=%s/softhsm2.conf", e->dir);
	snprintf(e->e_cadir, sizeof(e->e_cadir), "RA_CA_DIR=%s/ca", e->dir);
	e->envv[n++] = e->e_pin;
	e->envv[n++] = e->e_tok;
	e->envv[n++] = e->e_conf;
	e->envv[n++] = e->e_cadir;
	e->envv[n++] = "RA_JOBS_BACKOFF_MS=50";
	e->envv[n++] = "RA_CA_PDS_URL=https://pki.example.test/pds_en.pdf";
	e->envv[n++] = "RA_CA_CRL_URL=http://pki.example.test/v1/ca/crl";
	if (b == CMP) {
		start_bridge(e);
		e->envv[n++] = "RA_CA_BACKEND=cmp";
		e->envv[n++] = e->e_url;
		e->envv[n++] = e->e_trusted;
		e->envv[n++] = "RA_CMP_SECRET=" CMP_SECRET;
		e->envv[n++] = "RA_CMP_REFERENCE=ra-test";
		e->envv[n++] = "RA_CMP_TIMEOUT_S=5";
	}
	e->envv[n] = NULL;
	cr_assert_eq(rt_ra_start(&e->ra, e->db, e->envv), 0);
}

static void start_on(struct env *e, enum backend b)
{
	start_env(e, b, 0);
}

static void stop(struct env *e)
{
	cr_expect_eq(rt_ra_stop(&e->ra, SIGTERM), 0);
	if (e->bridge.pid > 0)
		cr_expect_eq(ts_proc_stop(&e->bridge), 0, "ca-bridge exits cleanly (no sanitizer report)");
	if (e->peers[0])
		ts_peer_stop_all(e->peers);
	peers_dir[0] = '\0';
	free(e->db);
	free(e->dir);
}

/* Inserts a certificate request and its cert_issue job in one transaction (the outbox).
 * ident: the identification id or NULL; replaces: "'old-id', 'reason'" or NULL; user: the
 * user's public id or NULL (a request nobody activates). */
#define PERSON_SUBJECT                                                                                       \
	"{\"country\":\"AT\",\"given_name\":\"Anna\",\"surname\":\"Müller\",\"serial_number\":\"PNOAT-1\"," \
	"\"common_name\":\"Anna Müller\"}"

/* request_as with a subject of its own (JSON, no single quotes) */
static void request_subject(const char *db, const char *id, const char *cls, int years, const char *ident,
			    const char *replaces, const char *user, const char *subject)
{
	char sql[2048], err[512], identv[80], userv[80];

	if (ident)
		snprintf(identv, sizeof(identv), "'%s'", ident);
	else
		snprintf(identv, sizeof(identv), "NULL");
	if (user)
		snprintf(userv, sizeof(userv), "'%s'", user);
	else
		snprintf(userv, sizeof(userv), "NULL");
	snprintf(
		sql, sizeof(sql),
		"BEGIN;"
		"INSERT INTO certificates (id, user_id, class, subject, validity_years, ident_id%s) VALUES ('%s', %s, '%s',"
		" '%s', %d, %s%s%s);"
		"INSERT INTO jobs (kind, payload, idempotency_key) VALUES ('cert_issue',"
		" jsonb_build_object('certificate_id', '%s'), 'cert_issue:%s');"
		"COMMIT;",
		replaces ? ", replaces, replace_reason" : "", id, userv, cls, subject, years, identv,
		replaces ? ", " : "", replaces ? replaces : "", id, id);
	cr_assert_eq(rt_exec(db, sql, err, sizeof(err)), 0, "%s\n%s", err, sql);
}

static void request_as(const char *db, const char *id, const char *cls, int years, const char *ident,
		       const char *replaces, const char *user)
{
	request_subject(db, id, cls, years, ident, replaces, user, PERSON_SUBJECT);
}

static void request(const char *db, const char *id, const char *cls, int years, const char *ident,
		    const char *replaces)
{
	request_as(db, id, cls, years, ident, replaces, NULL);
}

#define VAL(db, fmt, id)                               \
	({                                             \
		char sql_[512];                        \
		snprintf(sql_, sizeof(sql_), fmt, id); \
		rt_sql(db, sql_);                      \
	})

static int wait_state(const char *db, const char *id, const char *state)
{
	char sql[256];

	snprintf(sql, sizeof(sql), "SELECT state FROM certificates WHERE id = '%s'", id);
	return rt_wait_sql(db, sql, state, 60);
}

static void r1_r2_qualified_certificate_issued_with_key_on_token(enum backend b)
{
	struct env e;
	char *fp, *serial, *pem, *n;

	start_on(&e, b);
	request(e.db, "crt-q1", "qualified", 5, "ident-1", NULL);
	cr_assert(wait_state(e.db, "crt-q1", "issued"), "certificate issued");
	fp = VAL(e.db, "SELECT key_fingerprint FROM certificates WHERE id = '%s'", "crt-q1");
	serial = VAL(e.db, "SELECT serial FROM certificates WHERE id = '%s'", "crt-q1");
	pem = VAL(e.db, "SELECT pem FROM certificates WHERE id = '%s'", "crt-q1");
	cr_expect(fp && strlen(fp) == 64, "SHA-256 key fingerprint stored");
	cr_expect(serial && strlen(serial) > 8);
	cr_expect(pem && strstr(pem, "BEGIN CERTIFICATE"));
	n = VAL(e.db,
		"SELECT count(*) FROM jobs WHERE kind = 'transport_pin' AND payload->>'certificate_id' = '%s'",
		"crt-q1");
	cr_expect_str_eq(n, "1", "TransportPIN job enqueued with the issuance (outbox)");
	free(n);
	n = VAL(e.db, "SELECT count(*) FROM audit_log WHERE action = 'cert.issued' AND object_id = '%s'",
		"crt-q1");
	cr_expect_str_eq(n, "1");
	free(n);
	/* the cert_issue job ended in the certificate's own transaction (job_done_in, docs/jobs.md):
	 * done_at and issued_at are both that transaction's now(), and it stored its result */
	n = VAL(e.db,
		"SELECT (j.done_at = c.issued_at) || ' ' || j.state || ' ' || (j.result->>'serial' = c.serial)"
		" FROM jobs j JOIN certificates c ON c.id = j.payload->>'certificate_id'"
		" WHERE j.kind = 'cert_issue' AND c.id = '%s'",
		"crt-q1");
	cr_expect_str_eq(n, "true done true", "the job's done committed with the certificate");
	free(n);
	/* R5: five years for a qualified certificate */
	n = VAL(e.db,
		"SELECT extract(year FROM age(not_after, not_before))::int FROM certificates WHERE id = '%s'",
		"crt-q1");
	cr_expect_str_eq(n, "5");
	free(n);
	/* R2: the database refuses a second certificate with the same key */
	{
		char sql[512], err[256];
		snprintf(
			sql, sizeof(sql),
			"INSERT INTO certificates (id, class, subject, validity_years, key_fingerprint) VALUES"
			" ('crt-dup', 'advanced', '{}', 10, '%s')",
			fp);
		cr_expect_neq(rt_exec(e.db, sql, err, sizeof(err)), 0,
			      "R2: same key for an advanced certificate refused");
		cr_expect(strstr(err, "key_fingerprint") != NULL, "%s", err);
		/* R2: and a certificate that has a key never gets another one */
		cr_expect_neq(
			rt_exec(e.db,
				"UPDATE certificates SET key_fingerprint = repeat('a', 64) WHERE id = 'crt-q1'",
				err, sizeof(err)),
			0, "a second key for the same certificate refused");
		cr_expect(strstr(err, "R2") != NULL, "%s", err);
	}
	free(fp);
	free(serial);
	free(pem);
	stop(&e);
}

BOTH_BACKENDS(r1_r2_qualified_certificate_issued_with_key_on_token)

static void r7_no_certificate_without_identification(enum backend b)
{
	struct env e;
	char *n;

	start_on(&e, b);
	request(e.db, "crt-noid", "advanced", 10, NULL, NULL);
	cr_assert(rt_wait_sql(e.db, "SELECT state FROM jobs WHERE idempotency_key = 'cert_issue:crt-noid'",
			      "dead", 30));
	n = VAL(e.db, "SELECT last_error FROM jobs WHERE idempotency_key = 'cert_issue:%s'", "crt-noid");
	cr_expect(n && strstr(n, "R7"), "the dead job names R7: %s", n ? n : "(null)");
	free(n);
	n = VAL(e.db, "SELECT state || '/' || coalesce(serial, '-') FROM certificates WHERE id = '%s'",
		"crt-noid");
	cr_expect_str_eq(n, "requested/-", "nothing issued");
	free(n);
	stop(&e);
}

BOTH_BACKENDS(r7_no_certificate_without_identification)

static void r5_validity_outside_profile_fails_with_named_field(enum backend b)
{
	struct env e;
	char *n;

	start_on(&e, b);
	request(e.db, "crt-6y", "qualified", 6, "ident-2", NULL);
	cr_assert(wait_state(e.db, "crt-6y", "failed"));
	n = VAL(e.db, "SELECT failure FROM certificates WHERE id = '%s'", "crt-6y");
	cr_expect(n && strstr(n, "validity_years"), "%s", n ? n : "(null)");
	free(n);
	n = VAL(e.db, "SELECT state FROM jobs WHERE idempotency_key = 'cert_issue:%s'", "crt-6y");
	cr_expect_str_eq(n, "dead", "a profile refusal is not retried");
	free(n);
	stop(&e);
}

BOTH_BACKENDS(r5_validity_outside_profile_fails_with_named_field)

static void retried_issuance_returns_the_same_certificate(enum backend b)
{
	struct env e;
	char *s1, *s2, err[256];

	start_on(&e, b);
	request(e.db, "crt-re", "advanced", 10, "ident-3", NULL);
	cr_assert(wait_state(e.db, "crt-re", "issued"));
	s1 = VAL(e.db, "SELECT serial FROM certificates WHERE id = '%s'", "crt-re");
	/* a second job for the same certificate (as after a crash between CA and commit) */
	cr_assert_eq(rt_exec(e.db,
			     "INSERT INTO jobs (kind, payload, idempotency_key) VALUES ('cert_issue',"
			     " '{\"certificate_id\":\"crt-re\"}', 'cert_issue:crt-re:again')",
			     err, sizeof(err)),
		     0, "%s", err);
	cr_assert(rt_wait_sql(e.db,
			      "SELECT state FROM jobs WHERE idempotency_key = 'cert_issue:crt-re:again'",
			      "done", 30));
	s2 = VAL(e.db, "SELECT serial FROM certificates WHERE id = '%s'", "crt-re");
	cr_expect_str_eq(s1, s2, "one request, one certificate");
	free(s1);
	free(s2);
	stop(&e);
}

BOTH_BACKENDS(retried_issuance_returns_the_same_certificate)

/* Runs `openssl verify -crl_check` on the certificate against the chain and CRL that ra serves
 * (/v1/ca/chain, /v1/ca/crl); 1 when its output contains want. */
static int openssl_verify_says(struct env *e, const char *id, const char *want)
{
	char path[800], cmd[4000], url[256], out[1024] = "", sql[256];
	struct rt_resp r;
	FILE *f;
	char *pem;
	size_t n;

	snprintf(sql, sizeof(sql), "SELECT pem FROM certificates WHERE id = '%s'", id);
	pem = rt_sql(e->db, sql);
	cr_assert_not_null(pem);
	snprintf(path, sizeof(path), "%s/%s.pem", e->dir, id);
	f = fopen(path, "w");
	fputs(pem, f);
	fclose(f);
	free(pem);
	snprintf(url, sizeof(url), "%s/v1/ca/chain", e->ra.base);
	cr_assert_eq(rt_http("GET", url, NULL, NULL, 0, &r), 0);
	cr_assert_eq(r.status, 200);
	snprintf(path, sizeof(path), "%s/chain.pem", e->dir);
	f = fopen(path, "w");
	fwrite(r.body, 1, r.len, f);
	fclose(f);
	rt_resp_free(&r);
	snprintf(url, sizeof(url), "%s/v1/ca/crl", e->ra.base);
	cr_assert_eq(rt_http("GET", url, NULL, NULL, 0, &r), 0);
	cr_assert_eq(r.status, 200);
	snprintf(path, sizeof(path), "%s/crl.der", e->dir);
	f = fopen(path, "w");
	fwrite(r.body, 1, r.len, f);
	fclose(f);
	rt_resp_free(&r);
	snprintf(cmd, sizeof(cmd),
		 "cd %s && openssl crl -inform DER -in crl.der -out crl.pem && "
		 "openssl verify -crl_check -CAfile chain.pem -CRLfile crl.pem %s.pem 2>&1",
		 e->dir, id);
	f = popen(cmd, "r");
	cr_assert_not_null(f);
	n = fread(out, 1, sizeof(out) - 1, f);
	out[n] = '\0';
	pclose(f);
	if (strstr(out, want) == NULL)
		fprintf(stderr, "openssl verify said: %s\n", out);
	return strstr(out, want) != NULL;
}

static int crl_has(const struct rt_ra *ra, const char *serial_hex, int *reason)
{
	char url[256];
	struct rt_resp r;
	const unsigned char *p;
	X509_CRL *crl;
	int found = 0;

	snprintf(url, sizeof(url), "%s/v1/ca/crl", ra->base);
	cr_assert_eq(rt_http("GET", url, NULL, NULL, 0, &r), 0);
	cr_assert_eq(r.status, 200, "%s", r.body);
	p = (const unsigned char *)r.body;
	crl = d2i_X509_CRL(NULL, &p, (long)r.len);
	cr_assert_not_null(crl, "CRL parses as DER");
	STACK_OF(X509_REVOKED) *rev = X509_CRL_get_REVOKED(crl);
	for (int i = 0; i < sk_X509_REVOKED_num(rev); i++) {
		X509_REVOKED *x = sk_X509_REVOKED_value(rev, i);
		BIGNUM *bn = ASN1_INTEGER_to_BN(X509_REVOKED_get0_serialNumber(x), NULL);
		char *hex = BN_bn2hex(bn);
		const char *h = hex, *want = serial_hex;
		while (*h == '0' && h[1])
			h++; /* BN_bn2hex pads to whole bytes; stored serials carry no leading zeros */
		while (*want == '0' && want[1])
			want++;
		if (strcasecmp(h, want) == 0) {
			ASN1_ENUMERATED *rc = X509_REVOKED_get_ext_d2i(x, NID_crl_reason, NULL, NULL);
			found = 1;
			*reason = rc ? (int)ASN1_ENUMERATED_get(rc) : 0;
			ASN1_ENUMERATED_free(rc);
		}
		OPENSSL_free(hex);
		BN_free(bn);
	}
	X509_CRL_free(crl);
	rt_resp_free(&r);
	return found;
}

static void r14_revocation_reaches_the_crl_and_is_final(enum backend b)
{
	char *tok;
	struct env e;
	char *serial, *n, err[512];
	int reason = -1;

	start_on(&e, b);
	request(e.db, "crt-rv", "advanced", 10, "ident-4", NULL);
	cr_assert(wait_state(e.db, "crt-rv", "issued"));
	cr_expect(openssl_verify_says(&e, "crt-rv", ": OK"),
		  "openssl verify -crl_check: the fresh certificate verifies");
	serial = VAL(e.db, "SELECT serial FROM certificates WHERE id = '%s'", "crt-rv");
	cr_expect_not(crl_has(&e.ra, serial, &reason), "not on the CRL before revocation");
	/* through the admin API, as ractl cert revoke does */
	tok = rt_token(e.db, "sam", "support");
	rt_admin_revoke(&e.ra, tok, "crt-rv", "keyCompromise");
	free(tok);
	cr_assert(rt_wait_sql(e.db, "SELECT ca_revoked_at IS NOT NULL FROM certificates WHERE id = 'crt-rv'",
			      "t", 30));
	cr_expect(crl_has(&e.ra, serial, &reason), "serial on the CRL");
	cr_expect_eq(reason, 1, "reason keyCompromise (1)");
	cr_expect(openssl_verify_says(&e, "crt-rv", "certificate revoked"),
		  "openssl verify -crl_check: revoked");
	/* R14: final - the database refuses to reinstate it (SQL on purpose: no interface may) */
	cr_expect(rt_exec_refused(
			  e.db,
			  "UPDATE certificates SET state = 'active', revoked_at = NULL WHERE id = 'crt-rv'",
			  "R14", err, sizeof(err)),
		  "%s", err);
	n = VAL(e.db, "SELECT state FROM certificates WHERE id = '%s'", "crt-rv");
	cr_expect_str_eq(n, "revoked");
	free(n);
	free(serial);
	stop(&e);
}

BOTH_BACKENDS(r14_revocation_reaches_the_crl_and_is_final)

/* POST path with body under token on ra; the status, the answer in *reply (caller decrefs). */
static long post_json(const struct rt_ra *ra, const char *token, const char *path, const char *body,
		      json_t **reply)
{
	char url[300], auth[256];
	const char *h[] = {auth, "Content-Type: application/json", NULL};
	struct rt_resp r;
	long status;

	snprintf(url, sizeof(url), "%s%s", ra->base, path);
	snprintf(auth, sizeof(auth), "Authorization: Bearer %s", token);
	cr_assert_eq(rt_http("POST", url, h, body, strlen(body), &r), 0);
	status = r.status;
	*reply = json_loads(r.body ? r.body : "", 0, NULL);
	cr_assert_not_null(*reply, "a JSON answer from %s: %s", path, r.body ? r.body : "");
	rt_resp_free(&r);
	return status;
}

/* The TransportPIN the SMS gateway got for certificate id, into pin ("" when none yet). */
static void sms_pin(const struct env *e, const char *id, char *pin, size_t cap)
{
	char url[300], needle[96], *port = strrchr(e->e_sms, ':');
	struct rt_resp r;
	json_t *msgs, *m;
	size_t i;

	pin[0] = '\0';
	cr_assert_not_null(port);
	snprintf(url, sizeof(url), "http://127.0.0.1:%d/_control/messages", atoi(port + 1));
	cr_assert_eq(rt_http("GET", url, NULL, NULL, 0, &r), 0);
	msgs = json_loads(r.body ? r.body : "", 0, NULL);
	rt_resp_free(&r);
	snprintf(needle, sizeof(needle), "certificate %s: ", id);
	json_array_foreach (msgs, i, m) {
		const char *t = json_string_value(json_object_get(m, "text")), *p;
		size_t n = 0;
		if (t == NULL || (p = strstr(t, needle)) == NULL)
			continue;
		for (p += strlen(needle); *p >= '0' && *p <= '9' && n + 1 < cap; p++)
			pin[n++] = *p;
		pin[n] = '\0';
	}
	json_decref(msgs);
}

/*
 * Certificate id (class cls, years of validity) of user uid, issued and then activated as a customer does it: the
 * TransportPIN from the SMS gateway, given to the signing service's activation route.  The
 * user and the certificate request are seeded with SQL as the shop order and identification
 * leave them (test_ident.c walks that part from the webhook); from the request on, every
 * state is the product's.
 */
/* activated with a subject of its own (request_subject) */
static void activated_subject(struct env *e, const char *id, const char *cls, int years, const char *uid,
			      const char *subject)
{
	char sql[1024], err[512], pin[32] = "", body[256];
	char *tok;
	json_t *reply;

	snprintf(sql, sizeof(sql),
		 "INSERT INTO users (public_id, phone_e164, first_name, last_name, email, ident_verified_at)"
		 " VALUES ('%s', '+436641000042', 'Anna', 'Müller', 'anna@example.test', now())",
		 uid);
	cr_assert_eq(rt_exec(e->db, sql, err, sizeof(err)), 0, "%s", err);
	request_subject(e->db, id, cls, years, "ident-5", NULL, uid, subject);
	cr_assert(wait_state(e->db, id, "issued"));
	snprintf(
		sql, sizeof(sql),
		"SELECT count(*) FROM transport_pin_deliveries WHERE certificate_id = '%s' AND sent_at IS NOT NULL",
		id);
	cr_assert(rt_wait_sql(e->db, sql, "1", 30), "R11: the TransportPIN SMS of %s was not sent", id);
	sms_pin(e, id, pin, sizeof(pin));
	cr_assert_eq(strlen(pin), 8, "the SMS carries the 8-digit TransportPIN");
	tok = rt_token(e->db, "sigsrv", "signing");
	snprintf(body, sizeof(body),
		 "{\"user_id\": \"%s\", \"credential_id\": \"%s\", \"transport_pin\": \"%s\"}", uid, id, pin);
	cr_assert_eq(post_json(&e->ra, tok, "/v1/signing/activations", body, &reply), 200, "activation");
	json_decref(reply);
	free(tok);
	cr_assert(wait_state(e->db, id, "active"));
}

static void activated(struct env *e, const char *id, const char *cls, int years, const char *uid)
{
	activated_subject(e, id, cls, years, uid, PERSON_SUBJECT);
}

/* Support modifies certificate id at the desk to organisation org, function Prokuristin (the
 * admin API's modify, as ractl cert modify calls it): accepted (202), the old one to be revoked
 * affiliationChanged; the replacement's id into nid. */
static void desk_modify(struct env *e, const char *id, const char *org, char *nid, size_t cap)
{
	char path[128], body[256], *tok = rt_token(e->db, "sam", "support");
	json_t *reply;

	snprintf(path, sizeof(path), "/v1/admin/certs/%s/modify", id);
	snprintf(
		body, sizeof(body),
		"{\"organisation\": \"%s\", \"function\": \"Prokuristin\", \"reason\": \"changed employer\"}",
		org);
	cr_assert_eq(post_json(&e->ra, tok, path, body, &reply), 202,
		     "modify is accepted; the replacement is issued by a job");
	cr_expect_str_eq(json_string_value(json_object_get(reply, "old_revoked_as")), "affiliationChanged");
	cr_assert_not_null(json_string_value(json_object_get(reply, "replacement_id")));
	snprintf(nid, cap, "%s", json_string_value(json_object_get(reply, "replacement_id")));
	json_decref(reply);
	free(tok);
}

/* R15 through the product: the activated certificate is modified at the support desk (a new
 * organisation: the admin API's modify, as ractl cert modify calls it), which makes it
 * superseding and queues its replacement; the old one is revoked only once that is issued. */
static void r15_replacement_revokes_the_old_certificate_only_after_the_new_one_is_issued(enum backend b)
{
	struct env e;
	char *old_fp, *new_fp, *n, *old_serial, path[128], nid[64];
	int reason = -1;

	start_env(&e, b, 1);
	activated(&e, "crt-old", "advanced", 10, "AAAA-AAAA-AAAA-0042");
	desk_modify(&e, "crt-old", "Neu GmbH", nid, sizeof(nid));
	cr_assert(wait_state(e.db, nid, "issued"));
	n = VAL(e.db,
		"SELECT state || '/' || revocation_reason || '/' || replaced_by FROM certificates WHERE id = '%s'",
		"crt-old");
	snprintf(path, sizeof(path), "revoked/affiliationChanged/%s", nid);
	cr_expect_str_eq(n, path);
	free(n);
	n = VAL(e.db, "SELECT subject->>'organization' FROM certificates WHERE id = '%s'", nid);
	cr_expect_str_eq(n, "Neu GmbH", "the replacement names the new organisation");
	free(n);
	old_fp = VAL(e.db, "SELECT key_fingerprint FROM certificates WHERE id = '%s'", "crt-old");
	new_fp = VAL(e.db, "SELECT key_fingerprint FROM certificates WHERE id = '%s'", nid);
	cr_expect_str_neq(old_fp, new_fp, "R2/R12: a replacement has a new key");
	n = VAL(e.db,
		"SELECT (SELECT id FROM audit_log WHERE action = 'cert.issued' AND object_id = '%s') <"
		" (SELECT id FROM audit_log WHERE action = 'cert.revoked' AND object_id = 'crt-old')",
		nid);
	cr_expect_str_eq(n, "t", "audit shows the new issued before the old revoked");
	free(n);
	cr_assert(rt_wait_sql(e.db, "SELECT ca_revoked_at IS NOT NULL FROM certificates WHERE id = 'crt-old'",
			      "t", 30));
	old_serial = VAL(e.db, "SELECT serial FROM certificates WHERE id = '%s'", "crt-old");
	cr_expect(crl_has(&e.ra, old_serial, &reason));
	cr_expect_eq(reason, 3, "affiliationChanged (3)");
	free(old_serial);
	free(old_fp);
	free(new_fp);
	stop(&e);
}

BOTH_BACKENDS(r15_replacement_revokes_the_old_certificate_only_after_the_new_one_is_issued)

/* R4: a seal's organisation is its subject, not a person's affiliation.  The seal is issued
 * and activated through the product (its request seeded as request_subject says, the
 * TransportPIN from the SMS gateway, the signing service's activation); the desk's modify
 * refuses it naming R4 and the seal, and changes nothing. */
Test(issue, r4_an_organisation_seal_is_not_modified_at_the_desk, .timeout = 120)
{
	struct env e;
	char *n, *tok;
	json_t *reply = NULL;
	const char *bodies[] = {
		"{\"organisation\": \"Neu GmbH\", \"organisation_id\": \"FN-4711\", \"reason\": \"renamed\"}",
		"{\"organisation\": \"Neu GmbH\", \"function\": \"Prokuristin\", \"reason\": \"renamed\"}",
		"{\"no_organisation\": true, \"reason\": \"no longer a company\"}",
	};

	start_env(&e, LOCAL, 1);
	activated_subject(
		&e, "crt-seal", "seal", 2, "AAAA-AAAA-AAAA-0077",
		"{\"country\": \"AT\", \"organization\": \"Gruber Bau GmbH\", \"organization_identifier\":"
		" \"NTRAT-123456a\", \"common_name\": \"Gruber Bau GmbH Siegel\"}");
	tok = rt_token(e.db, "sam", "support");
	for (size_t i = 0; i < sizeof(bodies) / sizeof(bodies[0]); i++) {
		cr_expect_eq(post_json(&e.ra, tok, "/v1/admin/certs/crt-seal/modify", bodies[i], &reply), 422,
			     "case %zu", i);
		cr_expect_str_eq(json_string_value(json_object_get(reply, "rule")), "R4",
				 "case %zu names the rule", i);
		cr_expect(json_string_value(json_object_get(reply, "message")) != NULL &&
				  strstr(json_string_value(json_object_get(reply, "message")), "seal") !=
					  NULL,
			  "case %zu says why: %s", i, json_string_value(json_object_get(reply, "message")));
		json_decref(reply);
		reply = NULL;
	}
	n = VAL(e.db,
		"SELECT state || '/' || (SELECT count(*) FROM certificates) || '/' ||"
		" (SELECT count(*) FROM audit_log WHERE action = 'cert.modify') FROM certificates WHERE id = '%s'",
		"crt-seal");
	cr_expect_str_eq(n, "active/1/0", "nothing changed, nothing audited as a modification");
	free(n);
	free(tok);
	stop(&e);
}

Test(issue, crl_without_ca_configuration_is_503_json)
{
	char *db = rt_db_new();
	struct rt_ra ra;
	struct rt_resp r;
	char url[256];

	cr_assert_eq(rt_ra_start(&ra, db, NULL), 0);
	snprintf(url, sizeof(url), "%s/v1/ca/crl", ra.base);
	cr_assert_eq(rt_http("GET", url, NULL, NULL, 0, &r), 0);
	cr_expect_eq(r.status, 503);
	cr_expect(strstr(r.body, "pkcs11.pin") != NULL, "%s", r.body);
	rt_resp_free(&r);
	rt_ra_stop(&ra, SIGTERM);
	free(db);
}

Test(issue, r14_revocation_job_overtakes_a_backlog, .timeout = 60)
{
	char *db = rt_db_new(), err[512], *n;

	/* 50 ordinary jobs queued first, then a revocation: the revocation is claimed first */
	cr_assert_eq(
		rt_exec(db,
			"INSERT INTO jobs (kind, payload, idempotency_key) SELECT 'noop', '{}', 'n' || g"
			" FROM generate_series(1, 50) g;"
			"INSERT INTO jobs (kind, payload, idempotency_key) VALUES ('ca_revoke', '{}', 'r')",
			err, sizeof(err)),
		0, "%s", err);
	n = rt_sql(db,
		   "SELECT idempotency_key FROM jobs WHERE state = 'queued' AND run_at <= now()"
		   " ORDER BY priority DESC, run_at, id LIMIT 1");
	cr_expect_str_eq(n, "r", "the runner's claim order puts ca_revoke first");
	free(n);
	free(db);
}

/* Issue #9: a CA that refuses a request leaves the certificate failed with the CA's reason,
 * and the job dead (ractl jobs list --dead shows it), never retried into a second request. */
Test(issue_cmp, ca_rejection_fails_the_certificate_with_the_cas_reason, .timeout = 180)
{
	struct env e;
	char err[512], *n;

	start_on(&e, CMP);
	cr_assert_eq(
		rt_exec(e.db,
			"BEGIN;"
			"INSERT INTO certificates (id, class, subject, validity_years, ident_id) VALUES ('crt-refused',"
			" 'advanced', '{\"country\":\"AT\",\"given_name\":\"Max\",\"surname\":\"Muster\","
			"\"serial_number\":\"PNOAT-9\",\"common_name\":\"Refused Person\"}', 10, 'ident-9');"
			"INSERT INTO jobs (kind, payload, idempotency_key) VALUES ('cert_issue',"
			" '{\"certificate_id\":\"crt-refused\"}', 'cert_issue:crt-refused');"
			"COMMIT;",
			err, sizeof(err)),
		0, "%s", err);
	cr_assert(wait_state(e.db, "crt-refused", "failed"));
	n = rt_sql(e.db, "SELECT failure FROM certificates WHERE id = 'crt-refused'");
	cr_expect(n && strstr(n, "rejection"), "the CA's PKIStatus is recorded: %s", n ? n : "(null)");
	free(n);
	n = rt_sql(
		e.db,
		"SELECT state || ' ' || attempts FROM jobs WHERE idempotency_key = 'cert_issue:crt-refused'");
	cr_expect_str_eq(n, "dead 1", "refused once, parked dead, not retried");
	free(n);
	stop(&e);
}

/* R15: when the replacement fails, the old certificate is active again (wf cert:
 * replacement_failed), never left superseding.  All through the product: the certificate is
 * activated, the desk modifies it to an organisation this CA's policy refuses (ca-bridge
 * --refuse-o; the desk's own profile check passes it), and the CA refuses the replacement.
 * CMP only: the local CA has no policy of its own that refuses a request inside the profile,
 * and what the RA does with a refusal does not depend on the backend. */
Test(issue_cmp, r15_failed_replacement_returns_the_old_certificate_to_active, .timeout = 180)
{
	struct env e;
	char *n, nid[64];

	start_env(&e, CMP, 1);
	activated(&e, "crt-keep", "qualified", 5, "AAAA-AAAA-AAAA-0043");
	desk_modify(&e, "crt-keep", "Refused Holding GmbH", nid, sizeof(nid));
	cr_assert(wait_state(e.db, nid, "failed"), "the CA refuses the replacement");
	n = VAL(e.db, "SELECT failure FROM certificates WHERE id = '%s'", nid);
	cr_expect(strstr(n, "policy") != NULL, "the CA's reason is recorded: %s", n);
	free(n);
	n = VAL(e.db,
		"SELECT state || '/' || coalesce(revocation_reason, '-') FROM certificates WHERE id = '%s'",
		"crt-keep");
	cr_expect_str_eq(n, "active/-", "the old certificate works again");
	free(n);
	n = VAL(e.db,
		"SELECT count(*) FROM audit_log WHERE action = 'cert.replacement_failed' AND object_id = '%s'",
		"crt-keep");
	cr_expect_str_eq(n, "1");
	free(n);
	stop(&e);
}

/* GET path on ra; the status, body in *body (caller frees). */
static long get_body(const struct rt_ra *ra, const char *path, char **body)
{
	char url[300];
	struct rt_resp r;

	snprintf(url, sizeof(url), "%s%s", ra->base, path);
	cr_assert_eq(rt_http("GET", url, NULL, NULL, 0, &r), 0);
	*body = r.body;
	return r.status;
}

/* /healthz until it is 200 (the pool connects after ra listens), at most 30 s. */
static long healthz_200(const struct rt_ra *ra, char **body)
{
	long st = 0;

	for (int i = 0; i < 150; i++) {
		st = get_body(ra, "/healthz", body);
		if (st == 200)
			break;
		free(*body);
		*body = NULL;
		usleep(200000);
	}
	return st;
}

/*
 * Issue #19 item 3: a damaged CA record must not take the RA down.  ca.db's first page is
 * overwritten (a torn, half-written file); `ra serve` still starts, /healthz answers
 * 200 "degraded" naming the CA, the metrics show ra_component_healthy{component="ca"} 0, the
 * CRL route is 503, intake-side work goes on, and a new certificate's issuance waits - its job
 * deferred without using attempts, never dead.  With the record restored, a restart issues it.
 */
Test(issue, damaged_ca_record_keeps_the_ra_serving_and_issuance_waits, .timeout = 180)
{
	struct env e;
	char path[400], backup[400], cmd[2000], *body, *n;
	FILE *f;

	start_on(&e, LOCAL);
	request(e.db, "crt-d1", "qualified", 5, "ident-1", NULL);
	cr_assert(wait_state(e.db, "crt-d1", "issued"));
	cr_assert_eq(rt_ra_stop(&e.ra, SIGTERM), 0);
	snprintf(path, sizeof(path), "%s/ca/ca.db", e.dir);
	snprintf(backup, sizeof(backup), "%s/ca.good", e.dir);
	snprintf(cmd, sizeof(cmd), "cp -a '%s/ca' '%s'", e.dir, backup);
	cr_assert_eq(system(cmd), 0);
	/* garbage over the first page, and over the WAL's header (else the WAL's newer copy of
	 * the page would hide the damage) */
	for (int k = 0; k < 2; k++) {
		char name[420];

		snprintf(name, sizeof(name), "%s%s", path, k ? "-wal" : "");
		f = fopen(name, "r+");
		if (f == NULL && k == 1)
			break; /* checkpointed: no WAL */
		cr_assert_not_null(f, "%s", name);
		for (int i = 0; i < 4096; i++)
			fputc(0xA5, f);
		cr_assert_eq(fclose(f), 0);
	}

	cr_assert_eq(rt_ra_start(&e.ra, e.db, e.envv), 0, "ra serve starts over a damaged CA record");
	cr_expect_eq(healthz_200(&e.ra, &body), 200, "%s", body);
	cr_expect(strstr(body, "\"degraded\"") && strstr(body, "\"ca\"") && strstr(body, "damaged"),
		  "/healthz names the CA: %s", body);
	free(body);
	cr_expect_eq(get_body(&e.ra, "/metrics", &body), 200);
	cr_expect_not_null(strstr(body, "ra_component_healthy{component=\"ca\"} 0"), "the CA's gauge is 0");
	free(body);
	cr_expect_eq(get_body(&e.ra, "/v1/ca/crl", &body), 503, "%s", body);
	cr_expect(strstr(body, "unhealthy") != NULL, "%s", body);
	free(body);
	request(e.db, "crt-d2", "qualified", 5, "ident-1", NULL);
	/* the job comes round several times (jobs.busy_retry_ms) and is put back each time */
	cr_expect(rt_wait_sql(e.db,
			      "SELECT count(*) > 0 FROM jobs WHERE idempotency_key = 'cert_issue:crt-d2'"
			      " AND last_error LIKE '%CA is unhealthy%'",
			      "t", 30),
		  "the issuance was tried and deferred");
	sleep(2);
	n = rt_sql(e.db,
		   "SELECT state || ' ' || attempts FROM jobs WHERE idempotency_key = 'cert_issue:crt-d2'");
	cr_expect(n && (strcmp(n, "queued 0") == 0 || strcmp(n, "running 1") == 0),
		  "the job waits without using attempts: %s", n ? n : "(null)");
	free(n);
	n = rt_sql(e.db, "SELECT state FROM certificates WHERE id = 'crt-d2'");
	cr_expect_str_eq(n, "requested", "nothing issued while the CA is unhealthy");
	free(n);
	cr_assert_eq(rt_ra_stop(&e.ra, SIGTERM), 0, "drains and exits 0");

	/* a person restores the record; the restart picks the waiting issuance up */
	snprintf(cmd, sizeof(cmd), "rm -rf '%s/ca' && cp -a '%s' '%s/ca'", e.dir, backup, e.dir);
	cr_assert_eq(system(cmd), 0);
	cr_assert_eq(rt_ra_start(&e.ra, e.db, e.envv), 0);
	cr_expect(wait_state(e.db, "crt-d2", "issued"), "issued once the CA is back");
	cr_expect_eq(get_body(&e.ra, "/healthz", &body), 200);
	cr_expect(strstr(body, "\"status\":\"ok\"") || strstr(body, "\"status\": \"ok\""), "%s", body);
	free(body);
	stop(&e);
}

/*
 * Issue #19, the suite's hanging peers for the CMP server: ca-bridge stopped (SIGSTOP: the
 * kernel still accepts its connections, nothing answers) while three certificates are
 * requested and an issued one is revoked.  ra serve keeps answering (/healthz 200 within a
 * second, every second, through more than one cmp.timeout_s), the CA's jobs wait and retry
 * without going dead, nothing is issued by halves; once ca-bridge goes on, everything
 * completes: each request issued once (one serial each), the revocation on the CRL (R14).
 */
Test(issue_cmp, hanging_cmp_server_ra_answers_and_all_completes_after, .timeout = 180)
{
	struct env e;
	const char *ids[] = {"crt-h1", "crt-h2", "crt-h3"};
	char *serial, *n, *body, *tok;
	int reason = -1, slow = 0, not_200 = 0;

	start_on(&e, CMP);
	request(e.db, "crt-h0", "advanced", 10, "ident-4", NULL);
	cr_assert(wait_state(e.db, "crt-h0", "issued"));
	serial = VAL(e.db, "SELECT serial FROM certificates WHERE id = '%s'", "crt-h0");

	cr_assert_eq(kill(e.bridge.pid, SIGSTOP), 0);
	for (int i = 0; i < 3; i++)
		request(e.db, ids[i], "advanced", 10, "ident-4", NULL);
	/* through the admin API, as ractl cert revoke does: it commits without the CA */
	tok = rt_token(e.db, "sam", "support");
	rt_admin_revoke(&e.ra, tok, "crt-h0", "keyCompromise");
	free(tok);
	/* the CA's jobs only: these requests have no user (SQL, as the file's other tests), so
	 * their transport_pin jobs die for want of a mobile number, hang or not */
	/* 8 s: the issue and revoke lanes' calls hang for cmp.timeout_s (5) and are retried */
	for (int s = 0; s < 8; s++) {
		struct timespec a, b;
		long st;

		clock_gettime(CLOCK_MONOTONIC, &a);
		st = get_body(&e.ra, "/healthz", &body);
		clock_gettime(CLOCK_MONOTONIC, &b);
		free(body);
		not_200 += st != 200;
		slow += (b.tv_sec - a.tv_sec) * 1000 + (b.tv_nsec - a.tv_nsec) / 1000000 > 1000;
		sleep(1);
	}
	n = rt_sql(e.db,
		   "SELECT count(*) FROM certificates WHERE id IN ('crt-h1', 'crt-h2', 'crt-h3')"
		   " AND state = 'issued'");
	cr_expect_str_eq(n, "0", "nothing issued while the CA does not answer");
	free(n);
	n = rt_sql(
		e.db,
		"SELECT coalesce(string_agg(kind || ' ' || attempts || ' ' || coalesce(last_error, '-'), '; '),"
		" 'none') FROM jobs WHERE state = 'dead' AND kind IN ('cert_issue', 'ca_revoke')");
	cr_expect(strcmp(n, "none") == 0, "no job dead during the hang: %s", n);
	free(n);
	cr_assert_eq(kill(e.bridge.pid, SIGCONT), 0);
	cr_expect_eq(not_200, 0, "/healthz answered 200 throughout the hang");
	cr_expect_eq(slow, 0, "/healthz answered within 1 s throughout the hang");

	for (int i = 0; i < 3; i++)
		cr_expect(wait_state(e.db, ids[i], "issued"), "%s issued once the CA answers", ids[i]);
	cr_expect(rt_wait_sql(e.db, "SELECT ca_revoked_at IS NOT NULL FROM certificates WHERE id = 'crt-h0'",
			      "t", 60),
		  "the revocation reached the CA");
	cr_expect(crl_has(&e.ra, serial, &reason), "serial on the CRL");
	cr_expect_eq(reason, 1, "reason keyCompromise (1)");
	n = rt_sql(
		e.db,
		"SELECT count(DISTINCT serial) || '/' || count(*) FROM certificates WHERE id LIKE 'crt-h%'");
	cr_expect_str_eq(n, "4/4", "one serial per request");
	free(n);
	n = rt_sql(
		e.db,
		"SELECT coalesce(string_agg(kind || ' ' || attempts || ' ' || coalesce(last_error, '-'), '; '),"
		" 'none') FROM jobs WHERE state = 'dead' AND kind IN ('cert_issue', 'ca_revoke')");
	cr_expect(strcmp(n, "none") == 0, "no job dead after the hang: %s", n);
	free(n);
	free(serial);
	stop(&e);
}
