/*
 * kek.c - `ra kek create|status`; see kek.h.
 */
#include "ra/flows/cert/kek.h"

#include <libpq-fe.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ca-bridge/cab.h"
#include "ra/db/dbsync.h"
#include "ra/db/outbox.h"
#include "ra/flows/cert/cert.h"
#include "ra/flows/cert/keyjobs.h"
#include "workflows/wf_cert.h"

static const char *usage_text =
	"usage: ra kek create [--actor NAME]\n"
	"       ra kek rotate [--actor NAME]\n"
	"       ra kek status\n";

static int fail(const char *what, const struct ra_err *e)
{
	fprintf(stderr, "ra %s: %s%s%s\n", what, e->field, e->field[0] ? ": " : "", e->msg);
	return 1;
}

/* The version new keys are wrapped under from this commit on (migration 0023). */
static const char *sql_kek_version =
	"INSERT INTO kek_versions (label, version) VALUES ($1, $2::int) ON CONFLICT DO NOTHING";

static void plan_version(struct outbox *ob, const char *label, int version)
{
	char v[16];

	snprintf(v, sizeof(v), "%d", version);
	ob_stmt(ob, sql_kek_version, 2, (const char *const[]){label, v}, 0);
}

/* The KEK's creation: its version and its audit record in one transaction (R16: who and why). */
static int audit(const struct config *cfg, const char *actor, const char *action, const char *label,
		 int version, struct ra_err *err)
{
	PGconn *c = db_connect_sync(cfg_str(cfg, "database_url"), 30000);
	struct outbox ob = {0};
	PGresult *r;
	char id[96];
	int rc = 0;

	if (PQstatus(c) != CONNECTION_OK) {
		rc = ra_err_set(err, RA_E_UNAVAILABLE, "database_url", "%s", PQerrorMessage(c));
		goto out;
	}
	snprintf(id, sizeof(id), "%s/%d", label, version);
	r = PQexec(c, "BEGIN");
	PQclear(r);
	plan_version(&ob, label, version);
	ob_audit(&ob, actor, action, "kek", id, "operator command",
		 json_pack("{s:s, s:i}", "label", label, "version", version));
	if ((rc = ob_exec(&ob, c, NULL, err)) != 0)
		goto out;
	r = PQexec(c, "COMMIT");
	if (PQresultStatus(r) != PGRES_COMMAND_OK)
		rc = ra_err_set(err, RA_E_UNAVAILABLE, "database_url", "%s", PQresultErrorMessage(r));
	PQclear(r);
out:
	PQfinish(c);
	return rc;
}

static int open_wrapped(struct config *cfg, struct cab **cab, struct ra_err *err)
{
	if (cfg_str(cfg, "pkcs11.pin") == NULL)
		return ra_err_set(err, RA_E_CONFIG, "pkcs11.pin", "the token's PIN is not set");
	if (cert_open_cab(cfg, cab, err) != 0)
		return -1;
	if (!cab_wraps(*cab)) {
		cab_close(*cab);
		*cab = NULL;
		return ra_err_set(err, RA_E_CONFIG, "pkcs11.key_storage",
				  "key storage is token: there is no KEK");
	}
	return 0;
}

static int cmd_create(struct config *cfg, const char *actor)
{
	struct cab *cab = NULL;
	struct cab_err ce = {0};
	struct ra_err e = {0};
	const char *label = cfg_str(cfg, "pkcs11.kek_label");
	char who[128];
	int version = 0, rc;

	if (open_wrapped(cfg, &cab, &e) != 0)
		return fail("kek create", &e);
	rc = cab_kek(cab, CAB_KEK_CREATE, &version, &ce);
	cab_close(cab);
	if (rc < 0) {
		ra_err_set(&e, RA_E_UNAVAILABLE, ce.field, "%s", ce.msg);
		return fail("kek create", &e);
	}
	if (rc == 1) {
		printf("KEK %s exists, version %d\n", label, version);
		return 0;
	}
	snprintf(who, sizeof(who), "support:%s", actor && *actor ? actor : "unknown");
	if (audit(cfg, who, "kek.created", label, version, &e) != 0)
		return fail("kek create", &e);
	printf("KEK %s version %d created\n", label, version);
	return 0;
}

/* A new version, then its rotation record and the first re-wrap job in one transaction.  A
 * crash between the two leaves a version no job re-wraps to: `ra kek rotate` again makes the
 * next one and its job moves every older blob. */
static int cmd_rotate(struct config *cfg, const char *actor)
{
	struct cab *cab = NULL;
	struct cab_err ce = {0};
	struct ra_err e = {0};
	const char *label = cfg_str(cfg, "pkcs11.kek_label");
	char who[128], id[96];
	int version = 0, rc;
	PGconn *c;
	PGresult *r;
	struct outbox ob = {0};

	if (open_wrapped(cfg, &cab, &e) != 0)
		return fail("kek rotate", &e);
	c = db_connect_sync(cfg_str(cfg, "database_url"), 30000);
	if (PQstatus(c) != CONNECTION_OK) {
		ra_err_set(&e, RA_E_UNAVAILABLE, "database_url", "%s", PQerrorMessage(c));
		rc = fail("kek rotate", &e);
		goto out;
	}
	if ((rc = cab_kek(cab, CAB_KEK_ROTATE, &version, &ce)) != 0) {
		ra_err_set(&e, RA_E_UNAVAILABLE, ce.field, "%s", ce.msg);
		rc = fail("kek rotate", &e);
		goto out;
	}
	snprintf(who, sizeof(who), "support:%s", actor && *actor ? actor : "unknown");
	snprintf(id, sizeof(id), "%s/%d", label, version);
	r = PQexec(c, "BEGIN");
	PQclear(r);
	plan_version(&ob, label, version); /* the switch for every node, with its re-wrap job */
	ob_audit(&ob, who, "kek.rotated", "kek", id, "operator command",
		 json_pack("{s:s, s:i}", "label", label, "version", version));
	kek_rewrap_plan(&ob, label, version);
	if ((rc = ob_exec(&ob, c, NULL, &e)) != 0) {
		rc = fail("kek rotate", &e);
		goto out;
	}
	r = PQexec(c, "COMMIT");
	rc = PQresultStatus(r) == PGRES_COMMAND_OK ? 0 : 1;
	if (rc != 0)
		fprintf(stderr, "ra kek rotate: %s", PQresultErrorMessage(r));
	else
		printf("KEK %s version %d is current; kek_rewrap re-wraps the older blobs\n", label, version);
	PQclear(r);
out:
	PQfinish(c);
	cab_close(cab);
	return rc;
}

static int cmd_status(struct config *cfg)
{
	struct cab *cab = NULL;
	struct cab_err ce = {0};
	struct ra_err e = {0};
	const char *label = cfg_str(cfg, "pkcs11.kek_label");
	const char *p[1] = {label};
	PGconn *c;
	PGresult *r;
	int version = 0, rc;

	if (open_wrapped(cfg, &cab, &e) != 0)
		return fail("kek status", &e);
	rc = cab_kek(cab, CAB_KEK_CURRENT, &version, &ce);
	cab_close(cab);
	if (rc != 0) {
		ra_err_set(&e, RA_E_NOTFOUND, ce.field, "%s", ce.msg);
		return fail("kek status", &e);
	}
	printf("KEK %s: current version %d\n", label, version);
	c = db_connect_sync(cfg_str(cfg, "database_url"), 30000);
	if (PQstatus(c) != CONNECTION_OK) {
		ra_err_set(&e, RA_E_UNAVAILABLE, "database_url", "%s", PQerrorMessage(c));
		PQfinish(c);
		return fail("kek status", &e);
	}
	r = PQexecParams(
		c,
		"SELECT kek_version, count(*) FROM certificates WHERE key_blob IS NOT NULL AND kek_label = $1"
		" GROUP BY kek_version ORDER BY kek_version",
		1, NULL, p, NULL, NULL, 0);
	rc = PQresultStatus(r) == PGRES_TUPLES_OK ? 0 : 1;
	for (int i = 0; rc == 0 && i < PQntuples(r); i++)
		printf("version %s: %s wrapped keys\n", PQgetvalue(r, i, 0), PQgetvalue(r, i, 1));
	if (rc != 0)
		fprintf(stderr, "ra kek status: %s", PQresultErrorMessage(r));
	PQclear(r);
	PQfinish(c);
	return rc;
}

static const char *sql_key =
	"SELECT key_storage, encode(key_blob, 'hex'), kek_label, kek_version, key_destroyed_at IS NOT NULL,"
	" subject->>'country', subject->>'given_name', subject->>'surname', subject->>'serial_number',"
	" subject->>'common_name', subject->>'organization', subject->>'organization_identifier', subject->>'title'"
	" FROM certificates WHERE id = $1";

static const char *nz(PGresult *r, int col)
{
	return PQgetisnull(r, 0, col) ? NULL : PQgetvalue(r, 0, col);
}

/* `ra key csr ID`: a PKCS#10 request signed with the certificate's key (unwrapped from its
 * blob, or the token key), PEM on stdout.  Shows that a stored key still signs, and that a
 * destroyed one does not ("key destroyed"). */
static int cmd_key_csr(struct config *cfg, const char *id)
{
	const char *p[1] = {id};
	struct cab *cab = NULL;
	struct cab_err ce = {0};
	struct ra_err e = {0};
	struct cab_subject subj = {0};
	struct cab_wrapped w = {0};
	unsigned char *blob = NULL, *der = NULL;
	size_t len = 0;
	PGconn *c = db_connect_sync(cfg_str(cfg, "database_url"), 30000);
	PGresult *r = NULL;
	int rc = 1;

	if (PQstatus(c) != CONNECTION_OK) {
		ra_err_set(&e, RA_E_UNAVAILABLE, "database_url", "%s", PQerrorMessage(c));
		goto out;
	}
	r = PQexecParams(c, sql_key, 1, NULL, p, NULL, NULL, 0);
	if (PQresultStatus(r) != PGRES_TUPLES_OK || PQntuples(r) != 1) {
		ra_err_set(&e, RA_E_NOTFOUND, "certificate_id", "no such certificate");
		goto out;
	}
	if (strcmp(PQgetvalue(r, 0, 4), "t") == 0) {
		ra_err_set(&e, RA_E_RULE, "key", "%s: the certificate's key was destroyed",
			   cab_strerror(CAB_E_DESTROYED));
		goto out;
	}
	if (PQgetisnull(r, 0, 0)) {
		ra_err_set(&e, RA_E_NOTFOUND, "key", "the certificate has no key yet");
		goto out;
	}
	subj.country = nz(r, 5);
	subj.given_name = nz(r, 6);
	subj.surname = nz(r, 7);
	subj.serial_number = nz(r, 8);
	subj.common_name = nz(r, 9);
	subj.organization = nz(r, 10);
	subj.organization_identifier = nz(r, 11);
	subj.title = nz(r, 12);
	if (cfg_str(cfg, "pkcs11.pin") == NULL) {
		ra_err_set(&e, RA_E_CONFIG, "pkcs11.pin", "the token's PIN is not set");
		goto out;
	}
	if (cert_open_cab(cfg, &cab, &e) != 0)
		goto out;
	if (strcmp(PQgetvalue(r, 0, 0), "wrapped") == 0) {
		const char *hex = PQgetisnull(r, 0, 1) ? "" : PQgetvalue(r, 0, 1);
		size_t n = strlen(hex) / 2;

		blob = malloc(n + 1);
		if (blob == NULL)
			abort();
		for (size_t i = 0; i < n; i++) {
			unsigned int b;
			sscanf(hex + 2 * i, "%2x", &b);
			blob[i] = (unsigned char)b;
		}
		w.blob = n ? blob : NULL;
		w.len = n;
		w.kek_label = PQgetvalue(r, 0, 2);
		w.kek_version = atoi(PQgetvalue(r, 0, 3));
		rc = cab_csr_wrapped(cab, &w, &subj, &der, &len, &ce);
	} else {
		rc = cab_csr(cab, id, &subj, &der, &len, &ce);
	}
	if (rc != 0) {
		ra_err_set(&e, RA_E_UNAVAILABLE, ce.field, "%s: %s", cab_strerror(rc), ce.msg);
		rc = 1;
		goto out;
	}
	{
		const unsigned char *q = der;
		X509_REQ *req = d2i_X509_REQ(NULL, &q, (long)len);

		rc = req != NULL && PEM_write_X509_REQ(stdout, req) == 1 ? 0 : 1;
		X509_REQ_free(req);
	}
out:
	if (rc != 0 && e.msg[0])
		fail("key csr", &e);
	free(der);
	free(blob);
	cab_close(cab);
	PQclear(r);
	PQfinish(c);
	return rc;
}

/* One statement (and its audit record) in its own transaction on c. */
static int tx(PGconn *c, struct outbox *ob, struct ra_err *e)
{
	PGresult *r = PQexec(c, "BEGIN");
	int rows[OB_MAX_OPS] = {0}, rc;

	PQclear(r);
	if ((rc = ob_exec(ob, c, rows, e)) != 0) {
		r = PQexec(c, "ROLLBACK");
		PQclear(r);
		return rc;
	}
	r = PQexec(c, "COMMIT");
	rc = PQresultStatus(r) == PGRES_COMMAND_OK
		     ? 0
		     : ra_err_set(e, RA_E_UNAVAILABLE, "database_url", "%s", PQresultErrorMessage(r));
	PQclear(r);
	return rc;
}

static const char *sql_migrated =
	"UPDATE certificates SET key_storage = 'wrapped', key_blob = decode($2, 'hex'), kek_label = $3,"
	" kek_version = $4::int WHERE id = $1 AND key_storage = 'token' AND key_fingerprint = $5"
	" AND key_destroyed_at IS NULL"
	/* a rotation that committed after the run read $6 refuses it; the next run wraps under
	 * that version (migration 0024) */
	" AND kek_version_check($3, greatest($4::int, $6::int))";

/* The token objects of a key that is stored wrapped now; the record says they are gone. */
static int drop_token_key(PGconn *c, struct cab *cab, const char *id, const char *who, struct ra_err *e)
{
	struct cab_err ce = {0};
	struct outbox ob = {0};
	int n = 0;

	if (cab_key_destroy(cab, id, &n, &ce) != 0)
		return ra_err_set(e, RA_E_UNAVAILABLE, ce.field, "%s: %s", id, ce.msg);
	ob_audit(&ob, who, "cert.key_migrated_token_destroyed", "certificate", id,
		 "key moved into wrapped storage", json_pack("{s:i}", "token_objects", n));
	return tx(c, &ob, e);
}

/*
 * `ra key migrate`: every token-resident key of a live certificate wrapped under the KEK and
 * stored with its row, then removed from the token.  Resumable: a key is moved in three steps
 * (wrap on the token; one transaction storing the blob, compare-and-set on the row still
 * saying token and on the fingerprint, with its audit record cert.key_migrated; destroy the
 * token objects and record cert.key_migrated_token_destroyed), and a run first finishes the
 * third step of every key an earlier run stopped after the second.  Keys this code made on the
 * token are not extractable and stay there (they keep working); they are counted.
 */
static int cmd_key_migrate(struct config *cfg, const char *actor)
{
	struct cab *cab = NULL;
	struct ra_err e = {0};
	PGconn *c = NULL;
	PGresult *r = NULL;
	char who[128], read[16] = "0";
	int moved = 0, kept = 0, finished = 0, failed = 0;

	snprintf(who, sizeof(who), "support:%s", actor && *actor ? actor : "unknown");
	if (open_wrapped(cfg, &cab, &e) != 0)
		return fail("key migrate", &e);
	c = db_connect_sync(cfg_str(cfg, "database_url"), 60000);
	if (PQstatus(c) != CONNECTION_OK) {
		ra_err_set(&e, RA_E_UNAVAILABLE, "database_url", "%s", PQerrorMessage(c));
		failed = 1;
		goto out;
	}
	/* 1: what an earlier run left: stored wrapped, token objects not yet destroyed */
	r = PQexec(c,
		   "SELECT a.object_id FROM audit_log a WHERE a.action = 'cert.key_migrated' AND NOT EXISTS"
		   " (SELECT 1 FROM audit_log b WHERE b.action = 'cert.key_migrated_token_destroyed'"
		   "  AND b.object_id = a.object_id) ORDER BY 1");
	for (int i = 0; PQresultStatus(r) == PGRES_TUPLES_OK && i < PQntuples(r); i++) {
		if (drop_token_key(c, cab, PQgetvalue(r, i, 0), who, &e) != 0) {
			fprintf(stderr, "ra key migrate: %s\n", e.msg);
			failed++;
		} else {
			finished++;
		}
	}
	PQclear(r);
	/* the label's highest version before any key is wrapped (each store is checked against it) */
	{
		const char *p[1] = {cfg_str(cfg, "pkcs11.kek_label")};

		r = PQexecParams(c, "SELECT coalesce(max(version), 0) FROM kek_versions WHERE label = $1", 1,
				 NULL, p, NULL, NULL, 0);
		if (PQresultStatus(r) != PGRES_TUPLES_OK) {
			ra_err_set(&e, RA_E_UNAVAILABLE, "database_url", "%s", PQresultErrorMessage(r));
			failed++;
			goto out;
		}
		snprintf(read, sizeof(read), "%s", PQgetvalue(r, 0, 0));
		PQclear(r);
	}
	/* 2: the token keys of live certificates */
	{
		char ended[96];
		const char *p[1] = {ob_states(
			&wf_cert, 1u << WF_CERT_REVOKED | 1u << WF_CERT_EXPIRED | 1u << WF_CERT_FAILED, ended,
			sizeof(ended))};

		r = PQexecParams(
			c,
			"SELECT id, key_fingerprint FROM certificates WHERE key_storage = 'token' AND key_destroyed_at"
			" IS NULL AND key_fingerprint IS NOT NULL AND NOT (state = ANY($1::text[])) ORDER BY id",
			1, NULL, p, NULL, NULL, 0);
	}
	if (PQresultStatus(r) != PGRES_TUPLES_OK) {
		ra_err_set(&e, RA_E_UNAVAILABLE, "database_url", "%s", PQresultErrorMessage(r));
		failed++;
		goto out;
	}
	for (int i = 0; i < PQntuples(r); i++) {
		const char *id = PQgetvalue(r, i, 0), *fp = PQgetvalue(r, i, 1);
		struct cab_key k;
		struct cab_err ce = {0};
		struct outbox ob = {0};
		char *hex, ver[16];
		int rc = cab_key_wrap_token(cab, id, &k, &ce);

		if (rc == CAB_E_CONFLICT) {
			printf("%s: stays on the token: %s\n", id, ce.msg);
			kept++;
			continue;
		}
		if (rc == 0 && strcmp(k.sha256_hex, fp) != 0) {
			rc = CAB_E_CONFLICT;
			snprintf(ce.msg, sizeof(ce.msg), "R2: the token key is not the certificate's");
			cab_key_free(&k);
		}
		if (rc != 0) {
			fprintf(stderr, "ra key migrate: %s: %s\n", id, ce.msg);
			failed++;
			continue;
		}
		hex = malloc(2 * k.blob_len + 1);
		if (hex == NULL)
			abort();
		for (size_t j = 0; j < k.blob_len; j++)
			snprintf(hex + 2 * j, 3, "%02x", k.blob[j]);
		snprintf(ver, sizeof(ver), "%d", k.kek_version);
		ob_stmt(&ob, sql_migrated, 6, (const char *const[]){id, hex, k.kek_label, ver, fp, read}, 1);
		ob_audit(&ob, who, "cert.key_migrated", "certificate", id, "key moved into wrapped storage",
			 json_pack("{s:s, s:s, s:i}", "key_fingerprint", fp, "kek_label", k.kek_label,
				   "kek_version", k.kek_version));
		rc = tx(c, &ob, &e);
		free(hex);
		cab_key_free(&k);
		if (rc == 0)
			rc = drop_token_key(c, cab, id, who, &e);
		if (rc != 0) {
			fprintf(stderr, "ra key migrate: %s: %s\n", id, e.msg);
			failed++;
		} else {
			moved++;
		}
	}
out:
	printf("migrated %d, kept on the token (not extractable) %d, finished from an earlier run %d, failed %d\n",
	       moved, kept, finished, failed);
	if (failed && e.msg[0])
		fail("key migrate", &e);
	PQclear(r);
	PQfinish(c);
	cab_close(cab);
	return failed ? 1 : 0;
}

int key_cmd(struct config *cfg, int argc, char **argv)
{
	if (argc >= 1 && strcmp(argv[0], "migrate") == 0) {
		const char *actor = getenv("USER");

		for (int i = 1; i < argc; i++) {
			if (i + 1 < argc && strcmp(argv[i], "--actor") == 0) {
				actor = argv[++i];
			} else {
				fputs("usage: ra key migrate [--actor NAME]\n", stderr);
				return 2;
			}
		}
		return cmd_key_migrate(cfg, actor);
	}
	if (argc == 2 && strcmp(argv[0], "csr") == 0)
		return cmd_key_csr(cfg, argv[1]);
	fputs("usage: ra key csr CERTIFICATE-ID | ra key migrate [--actor NAME]\n", stderr);
	return 2;
}

int kek_cmd(struct config *cfg, int argc, char **argv)
{
	const char *actor = getenv("USER");

	if (argc >= 1 && (strcmp(argv[0], "create") == 0 || strcmp(argv[0], "rotate") == 0)) {
		for (int i = 1; i < argc; i++) {
			if (i + 1 < argc && strcmp(argv[i], "--actor") == 0) {
				actor = argv[++i];
			} else {
				fprintf(stderr, "ra kek %s: unknown argument '%s'\n%s", argv[0], argv[i],
					usage_text);
				return 2;
			}
		}
		return strcmp(argv[0], "create") == 0 ? cmd_create(cfg, actor) : cmd_rotate(cfg, actor);
	}
	if (argc == 1 && strcmp(argv[0], "status") == 0)
		return cmd_status(cfg);
	fputs(usage_text, stderr);
	return 2;
}
