/*
 * audit_ckpt.c - signed checkpoints and proofs (see audit_ckpt.h and docs/audit.md).  The
 * checkpointer's work runs on the thread pool with a blocking connection of its own (token
 * and hashing must not hold the loop); the routes read with the async pool or, for proofs,
 * queue blocking work the same way.
 */
#include "ra/flows/admin/audit_ckpt.h"

#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "ca-bridge/cab.h"
#include "ra/base/config.h"
#include "ra/base/log.h"
#include "ra/base/metrics.h"
#include "ra/base/pool.h"
#include "ra/db/audit_tree.h"
#include "ra/db/db.h"
#include "ra/db/dbsync.h"
#include "ra/net/http.h"

#define CKPT_LOCK "7310017" /* one checkpointer at a time, per transaction */

struct ckpt {
	struct app *app;
	uv_timer_t timer;
	int busy;
	char *conninfo;
	PGconn *c; /* used by one pool work at a time only */
	char key_id[80];
	char *country, *org, *org_id, *cn;
	int key_ready;
	char key_sha[65];
	long long interval_s, records;
	struct ra_err err;
	int rc;
	long long made;
	double made_total, last_size;
};

/* the process's one checkpointer; reachable for the whole run */
static struct ckpt *ck;

static double g_made(void *d)
{
	return ((struct ckpt *)d)->made_total;
}
static double g_size(void *d)
{
	return ((struct ckpt *)d)->last_size;
}

/* ---- blocking helpers ------------------------------------------------------------------ */

static PGresult *q(PGconn *c, const char *sql, int n, const char *const *p, struct ra_err *err)
{
	PGresult *r = PQexecParams(c, sql, n, NULL, p, NULL, NULL, 0);
	ExecStatusType st = PQresultStatus(r);

	if (st != PGRES_COMMAND_OK && st != PGRES_TUPLES_OK) {
		ra_err_set(err, RA_E_UNAVAILABLE, "", "%s", PQresultErrorMessage(r));
		PQclear(r);
		return NULL;
	}
	return r;
}

static int run(PGconn *c, const char *sql, struct ra_err *err)
{
	PGresult *r = q(c, sql, 0, NULL, err);

	if (r == NULL)
		return RA_E_UNAVAILABLE;
	PQclear(r);
	return 0;
}

static PGconn *connect_utf8(const char *conninfo, struct ra_err *err)
{
	PGconn *c = db_connect_sync(conninfo, 0);

	if (PQstatus(c) != CONNECTION_OK || PQsetClientEncoding(c, "UTF8") != 0) {
		ra_err_set(err, RA_E_UNAVAILABLE, "database_url", "cannot connect to the database: %s",
			   PQerrorMessage(c));
		PQfinish(c);
		return NULL;
	}
	return c;
}

/* The leaf hashes of records 1..n, gap-free; *out malloc'd. */
static int leaves(PGconn *c, long long n, unsigned char (**out)[AT_HASH], struct ra_err *err)
{
	char ns[24];
	const char *p[1] = {ns};
	PGresult *r;
	unsigned char(*l)[AT_HASH];
	int rows;

	snprintf(ns, sizeof(ns), "%lld", n);
	r = q(c, "SELECT seq, hash FROM audit_chain WHERE seq <= $1::bigint ORDER BY seq", 1, p, err);
	if (r == NULL)
		return RA_E_UNAVAILABLE;
	rows = PQntuples(r);
	l = malloc((size_t)(rows > 0 ? rows : 1) * AT_HASH);
	if (l == NULL) {
		PQclear(r);
		return ra_err_set(err, RA_E_NOMEM, "", "out of memory");
	}
	for (int i = 0; i < rows; i++) {
		unsigned char raw[AT_HASH];
		if (strtoll(PQgetvalue(r, i, 0), NULL, 10) != i + 1 ||
		    at_from_hex(PQgetvalue(r, i, 1), raw) != 0 || at_leaf_hash(raw, l[i]) != 0) {
			PQclear(r);
			free(l);
			return ra_err_set(err, RA_E_RULE, "",
					  "the chain is broken at seq %d (run ra audit verify)", i + 1);
		}
	}
	PQclear(r);
	if (rows != n) {
		free(l);
		return ra_err_set(err, RA_E_RULE, "", "the chain has %d records, not %lld", rows, n);
	}
	*out = l;
	return 0;
}

static json_t *hexlist(unsigned char (*h)[AT_HASH], size_t n)
{
	json_t *a = json_array();

	for (size_t i = 0; i < n; i++) {
		char x[2 * AT_HASH + 1];
		at_to_hex(h[i], x);
		json_array_append_new(a, json_string(x));
	}
	return a;
}

static const char *sql_ckpt_json =
	"SELECT json_build_object('tree_size', k.tree_size, 'root_hash', k.root_hash, 'at', audit_at_text(k.at),"
	" 'key_sha256', k.key_sha256, 'signature', k.signature,"
	" 'note', audit_checkpoint_note(k.tree_size, k.root_hash, k.at))::text"
	" FROM audit_checkpoint k WHERE ($1::bigint IS NULL OR k.tree_size = $1::bigint)"
	" ORDER BY k.tree_size DESC LIMIT 1";

static int checkpoint_json(PGconn *c, const char *size, json_t **out, struct ra_err *err)
{
	const char *p[1] = {size};
	PGresult *r = q(c, sql_ckpt_json, 1, p, err);

	if (r == NULL)
		return RA_E_UNAVAILABLE;
	if (PQntuples(r) == 0) {
		PQclear(r);
		return size ? ra_err_set(err, RA_E_NOTFOUND, "tree_size", "no checkpoint of tree size %s",
					 size)
			    : ra_err_set(err, RA_E_NOTFOUND, "", "no checkpoint yet");
	}
	*out = json_loads(PQgetvalue(r, 0, 0), 0, NULL);
	PQclear(r);
	return *out ? 0 : ra_err_set(err, RA_E_INTERNAL, "", "bad checkpoint JSON");
}

/* ---- proofs ---------------------------------------------------------------------------- */

static const char *sql_record =
	"SELECT json_build_object('seq', seq, 'at', audit_at_text(at), 'actor', actor, 'action', action,"
	" 'object_type', object_type, 'object_id', object_id, 'reason', reason, 'details', details::text,"
	" 'prev_hash', prev_hash, 'hash', hash)::text FROM audit_log WHERE seq = $1::bigint";

int audit_ckpt_inclusion(const char *conninfo, long long seq, json_t **out, struct ra_err *err)
{
	PGconn *c = connect_utf8(conninfo, err);
	json_t *cp = NULL, *rec = NULL;
	unsigned char(*l)[AT_HASH] = NULL, path[AT_MAX_PROOF][AT_HASH];
	size_t plen = 0;
	long long n;
	char ss[24];
	const char *p[1] = {ss};
	PGresult *r;
	int rc;

	if (c == NULL)
		return RA_E_UNAVAILABLE;
	if ((rc = run(c, "BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY", err)) != 0 ||
	    (rc = checkpoint_json(c, NULL, &cp, err)) != 0)
		goto out;
	n = json_integer_value(json_object_get(cp, "tree_size"));
	if (seq < 1 || seq > n) {
		rc = ra_err_set(err, RA_E_NOTFOUND, "seq",
				"record %lld is not in the newest checkpoint (tree size %lld)", seq, n);
		goto out;
	}
	snprintf(ss, sizeof(ss), "%lld", seq);
	if ((r = q(c, sql_record, 1, p, err)) == NULL) {
		rc = RA_E_UNAVAILABLE;
		goto out;
	}
	rec = PQntuples(r) ? json_loads(PQgetvalue(r, 0, 0), 0, NULL) : NULL;
	PQclear(r);
	if (rec == NULL) {
		rc = ra_err_set(err, RA_E_RULE, "seq", "record %lld has no content (run ra audit verify)",
				seq);
		goto out;
	}
	if ((rc = leaves(c, n, &l, err)) != 0)
		goto out;
	if (at_inclusion((const unsigned char(*)[AT_HASH])l, (size_t)n, (size_t)(seq - 1), path, &plen) !=
	    0) {
		rc = ra_err_set(err, RA_E_INTERNAL, "", "cannot compute the proof");
		goto out;
	}
	*out = json_pack("{s:I, s:I, s:o, s:o, s:O}", "leaf_index", (json_int_t)(seq - 1), "tree_size",
			 (json_int_t)n, "record", rec, "path", hexlist(path, plen), "checkpoint", cp);
	rec = NULL;
	rc = *out ? 0 : ra_err_set(err, RA_E_NOMEM, "", "out of memory");
out:
	free(l);
	json_decref(rec);
	json_decref(cp);
	PQfinish(c);
	return rc;
}

int audit_ckpt_consistency(const char *conninfo, long long first, long long second, json_t **out,
			   struct ra_err *err)
{
	PGconn *c;
	json_t *a = NULL, *b = NULL;
	unsigned char(*l)[AT_HASH] = NULL, proof[AT_MAX_PROOF][AT_HASH];
	size_t plen = 0;
	char fs[24], ss[24];
	int rc;

	if (first < 1 || second <= first)
		return ra_err_set(err, RA_E_INVALID, "first", "want 0 < first < second");
	if ((c = connect_utf8(conninfo, err)) == NULL)
		return RA_E_UNAVAILABLE;
	snprintf(fs, sizeof(fs), "%lld", first);
	snprintf(ss, sizeof(ss), "%lld", second);
	if ((rc = run(c, "BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY", err)) != 0 ||
	    (rc = checkpoint_json(c, fs, &a, err)) != 0 || (rc = checkpoint_json(c, ss, &b, err)) != 0 ||
	    (rc = leaves(c, second, &l, err)) != 0)
		goto out;
	if (at_consistency((const unsigned char(*)[AT_HASH])l, (size_t)second, (size_t)first, proof, &plen) !=
	    0) {
		rc = ra_err_set(err, RA_E_INTERNAL, "", "cannot compute the proof");
		goto out;
	}
	*out = json_pack("{s:O, s:O, s:o}", "first", a, "second", b, "proof", hexlist(proof, plen));
	rc = *out ? 0 : ra_err_set(err, RA_E_NOMEM, "", "out of memory");
out:
	free(l);
	json_decref(a);
	json_decref(b);
	PQfinish(c);
	return rc;
}

/* ---- the checkpointer ------------------------------------------------------------------ */

/* The audit key on the token (made once, idempotent) and its certificate (idempotent by
 * request id), recorded in audit_key. */
static int ensure_key(struct ckpt *k, struct ra_err *err)
{
	struct cab_key key = {0};
	struct cab_cert cert = {0};
	struct cab_err ce = {0};
	const unsigned char *der;
	EVP_PKEY *pub = NULL;
	BIO *bio = NULL;
	char *pem = NULL;
	long plen;
	PGresult *r;
	int rc;

	if (k->key_ready)
		return 0;
	if (cab_keygen_token(k->app->cab, k->key_id, CAB_ALG_DEFAULT, &key, &ce) != 0) {
		rc = ra_err_set(err, RA_E_UNAVAILABLE, "audit.key_id", "audit key: %s", ce.msg);
		goto out;
	}
	{
		const char *p[1] = {key.sha256_hex};
		r = q(k->c, "SELECT 1 FROM audit_key WHERE key_sha256 = $1", 1, p, err);
		if (r == NULL) {
			rc = RA_E_UNAVAILABLE;
			goto out;
		}
		rc = PQntuples(r);
		PQclear(r);
		if (rc == 1)
			goto done;
	}
	{
		struct cab_request req = {.request_id = k->key_id,
					  .cls = CAB_CLASS_SEAL,
					  .key_id = k->key_id,
					  .subject = {.country = k->country,
						      .organization = k->org,
						      .organization_identifier = k->org_id,
						      .common_name = k->cn}};
		if (cab_issue(k->app->cab, &req, &cert, &ce) != 0) {
			rc = ra_err_set(err, RA_E_UNAVAILABLE,
					ce.field[0] ? "audit.key_subject.organization" : "",
					"audit key certificate: %s", ce.msg);
			goto out;
		}
	}
	der = key.spki_der;
	pub = d2i_PUBKEY(NULL, &der, (long)key.spki_len);
	bio = BIO_new(BIO_s_mem());
	if (pub == NULL || bio == NULL || PEM_write_bio_PUBKEY(bio, pub) != 1 ||
	    (plen = BIO_get_mem_data(bio, &pem)) <= 0) {
		rc = ra_err_set(err, RA_E_INTERNAL, "", "cannot encode the audit public key");
		goto out;
	}
	{
		char *pemz = strndup(pem, (size_t)plen);
		const char *p[4] = {key.sha256_hex, k->key_id, pemz, cert.pem};
		r = pemz ? q(k->c,
			     "INSERT INTO audit_key (key_sha256, key_id, public_key, certificate) VALUES ($1, $2, $3, $4)"
			     " ON CONFLICT (key_sha256) DO NOTHING",
			     4, p, err)
			 : NULL;
		free(pemz);
		if (r == NULL) {
			rc = RA_E_UNAVAILABLE;
			goto out;
		}
		PQclear(r);
	}
	log_info("audit.key_ready", "key_sha256", key.sha256_hex, NULL);
done:
	snprintf(k->key_sha, sizeof(k->key_sha), "%s", key.sha256_hex);
	k->key_ready = 1;
	rc = 0;
out:
	BIO_free(bio);
	EVP_PKEY_free(pub);
	cab_key_free(&key);
	cab_cert_free(&cert);
	return rc;
}

static void now_text(char *buf, size_t cap)
{
	struct timespec ts;
	struct tm tm;
	size_t n;

	clock_gettime(CLOCK_REALTIME, &ts);
	gmtime_r(&ts.tv_sec, &tm);
	n = strftime(buf, cap, "%Y-%m-%dT%H:%M:%S", &tm);
	snprintf(buf + n, cap - n, ".%06ldZ", ts.tv_nsec / 1000);
}

static const char *sql_due =
	"SELECT (SELECT coalesce(max(seq), 0) FROM audit_chain),"
	" (SELECT coalesce(max(tree_size), 0) FROM audit_checkpoint),"
	" coalesce(extract(epoch FROM now() - (SELECT max(at) FROM audit_checkpoint)), 1e9)";

/* One round: if due, the tree head over the whole chain, signed and stored. */
static int make_checkpoint(struct ckpt *k, struct ra_err *err)
{
	unsigned char(*l)[AT_HASH] = NULL, root[AT_HASH], md[32];
	unsigned char *sig = NULL;
	size_t siglen = 0;
	char rooth[2 * AT_HASH + 1], at[40], note[200], ns[24], *b64 = NULL;
	long long head, last;
	double age;
	struct cab_err ce = {0};
	PGresult *r;
	int rc, due;

	k->made = 0;
	if ((rc = run(k->c, "BEGIN", err)) != 0)
		return rc;
	if ((r = q(k->c, "SELECT pg_try_advisory_xact_lock(" CKPT_LOCK ")", 0, NULL, err)) == NULL) {
		rc = RA_E_UNAVAILABLE;
		goto out;
	}
	rc = strcmp(PQgetvalue(r, 0, 0), "t") == 0;
	PQclear(r);
	if (!rc) /* another node is at it */
		goto out;
	if ((r = q(k->c, sql_due, 0, NULL, err)) == NULL) {
		rc = RA_E_UNAVAILABLE;
		goto out;
	}
	head = strtoll(PQgetvalue(r, 0, 0), NULL, 10);
	last = strtoll(PQgetvalue(r, 0, 1), NULL, 10);
	age = strtod(PQgetvalue(r, 0, 2), NULL);
	PQclear(r);
	due = head > last && ((k->records > 0 && head - last >= k->records) ||
			      (k->interval_s > 0 && age >= (double)k->interval_s));
	rc = 0;
	if (!due)
		goto out;
	if ((rc = ensure_key(k, err)) != 0 || (rc = leaves(k->c, head, &l, err)) != 0)
		goto out;
	if (at_root((const unsigned char(*)[AT_HASH])l, (size_t)head, root) != 0) {
		rc = ra_err_set(err, RA_E_INTERNAL, "", "cannot compute the tree head");
		goto out;
	}
	at_to_hex(root, rooth);
	now_text(at, sizeof(at));
	snprintf(note, sizeof(note), "ra-audit-checkpoint-v1\n%lld\n%s\n%s\n", head, rooth, at);
	if (EVP_Digest(note, strlen(note), md, NULL, EVP_sha256(), NULL) != 1) {
		rc = ra_err_set(err, RA_E_INTERNAL, "", "cannot hash the note");
		goto out;
	}
	if (cab_sign_digest(k->app->cab, k->key_id, md, &sig, &siglen, &ce) != 0) {
		rc = ra_err_set(err, RA_E_UNAVAILABLE, "audit.key_id", "signing the checkpoint: %s", ce.msg);
		goto out;
	}
	b64 = malloc(4 * ((siglen + 2) / 3) + 1);
	if (b64 == NULL) {
		rc = ra_err_set(err, RA_E_NOMEM, "", "out of memory");
		goto out;
	}
	EVP_EncodeBlock((unsigned char *)b64, sig, (int)siglen);
	snprintf(ns, sizeof(ns), "%lld", head);
	{
		const char *p[5] = {ns, rooth, at, k->key_sha, b64};
		r = q(k->c,
		      "INSERT INTO audit_checkpoint (tree_size, root_hash, at, key_sha256, signature)"
		      " VALUES ($1::bigint, $2, $3::timestamptz, $4, $5)",
		      5, p, err);
		if (r == NULL) {
			rc = RA_E_UNAVAILABLE;
			goto out;
		}
		PQclear(r);
	}
	if ((rc = run(k->c, "COMMIT", err)) == 0)
		k->made = head;
out:
	if (k->made == 0)
		PQclear(PQexec(k->c, "ROLLBACK"));
	free(b64);
	free(sig);
	free(l);
	return rc;
}

static void ckpt_work(void *data)
{
	struct ckpt *k = data;

	memset(&k->err, 0, sizeof(k->err));
	if (k->c != NULL && PQstatus(k->c) != CONNECTION_OK) {
		PQfinish(k->c);
		k->c = NULL;
	}
	if (k->c == NULL && (k->c = connect_utf8(k->conninfo, &k->err)) == NULL) {
		k->rc = RA_E_UNAVAILABLE;
		return;
	}
	k->rc = make_checkpoint(k, &k->err);
}

static void ckpt_after(void *data)
{
	struct ckpt *k = data;
	char n[24];

	k->busy = 0;
	if (k->rc != 0) {
		log_warn("audit.checkpoint_failed", "error", k->err.msg, NULL);
		return;
	}
	if (k->made > 0) {
		k->made_total++;
		k->last_size = (double)k->made;
		snprintf(n, sizeof(n), "%lld", k->made);
		log_info("audit.checkpoint", "tree_size", n, NULL);
	}
}

static void on_tick(uv_timer_t *t)
{
	struct ckpt *k = t->data;

	if (k->busy || k->app->draining)
		return;
	k->busy = 1;
	if (pool_run(k->app->loop, ckpt_work, ckpt_after, k) != 0)
		k->busy = 0;
}

/* ---- routes ---------------------------------------------------------------------------- */

struct rd {
	struct http_req *hr;
	const char *none; /* the 503 message when there is no row (not made yet) */
};

static void on_read(PGresult *res, const struct ra_err *err, void *data)
{
	struct rd *d = data;

	if (err)
		http_reply_error(d->hr, err);
	else if (PQntuples(res) == 0 || PQgetisnull(res, 0, 0))
		http_reply_errorf(d->hr, RA_E_UNAVAILABLE, "", "%s", d->none);
	else
		http_reply_text(d->hr, 200, "application/json", PQgetvalue(res, 0, 0),
				strlen(PQgetvalue(res, 0, 0)));
	free(d);
}

static void read_one(struct http_req *hr, const char *sql, const char *none)
{
	struct rd *d = calloc(1, sizeof(*d));

	if (d == NULL) {
		http_reply_errorf(hr, RA_E_NOMEM, "", "out of memory");
		return;
	}
	d->hr = hr;
	d->none = none;
	db_query(hr->app->db, sql, 0, NULL, on_read, d);
}

static void route_key(struct http_req *hr)
{
	read_one(
		hr,
		"SELECT json_build_object('key_sha256', key_sha256, 'key_id', key_id, 'public_key', public_key,"
		" 'certificate', certificate, 'created_at', created_at)::text"
		" FROM audit_key ORDER BY created_at DESC LIMIT 1",
		"no audit key yet (the first checkpoint makes it; needs pkcs11.pin)");
}

static void route_checkpoints(struct http_req *hr)
{
	read_one(
		hr,
		"SELECT json_build_object('checkpoints', coalesce(json_agg(json_build_object('tree_size', k.tree_size,"
		" 'root_hash', k.root_hash, 'at', audit_at_text(k.at), 'key_sha256', k.key_sha256, 'signature', k.signature,"
		" 'note', audit_checkpoint_note(k.tree_size, k.root_hash, k.at)) ORDER BY k.tree_size DESC), '[]'::json))::text"
		" FROM (SELECT * FROM audit_checkpoint ORDER BY tree_size DESC LIMIT 1000) k",
		"no checkpoints");
}

struct cons {
	struct http_req *hr;
	char *conninfo;
	long long first, second;
	json_t *out;
	struct ra_err err;
	int rc;
};

static void cons_work(void *data)
{
	struct cons *c = data;

	c->rc = audit_ckpt_consistency(c->conninfo, c->first, c->second, &c->out, &c->err);
}

static void cons_after(void *data)
{
	struct cons *c = data;

	if (c->rc != 0)
		http_reply_error(c->hr, &c->err);
	else
		http_reply_json(c->hr, 200, c->out);
	free(c->conninfo);
	free(c);
}

static int parse_size(const char *s, const char **end, long long *out)
{
	char *e;
	long long v;

	if (*s < '1' || *s > '9')
		return -1;
	v = strtoll(s, &e, 10);
	if (v <= 0)
		return -1;
	*out = v;
	*end = e;
	return 0;
}

/* GET /v1/audit/consistency/{first}/{second} */
static void route_consistency(struct http_req *hr)
{
	struct cons *c = calloc(1, sizeof(*c));
	const char *e = NULL;

	if (c == NULL) {
		http_reply_errorf(hr, RA_E_NOMEM, "", "out of memory");
		return;
	}
	if (parse_size(hr->rest, &e, &c->first) != 0 || *e != '/') {
		free(c);
		http_reply_errorf(hr, RA_E_INVALID, "first",
				  "want /v1/audit/consistency/{first}/{second}, tree sizes");
		return;
	}
	if (parse_size(e + 1, &e, &c->second) != 0 || *e != '\0') {
		free(c);
		http_reply_errorf(hr, RA_E_INVALID, "second",
				  "want /v1/audit/consistency/{first}/{second}, tree sizes");
		return;
	}
	c->hr = hr;
	c->conninfo = strdup(cfg_str(hr->app->cfg, "database_url"));
	if (c->conninfo == NULL || pool_run(hr->app->loop, cons_work, cons_after, c) != 0) {
		free(c->conninfo);
		free(c);
		http_reply_errorf(hr, RA_E_INTERNAL, "", "cannot queue work");
	}
}

int audit_ckpt_init(struct app *app, struct ra_err *err)
{
	const char *key_id = cfg_str(app->cfg, "audit.key_id");

	http_route(app->http, "GET", "/v1/audit/key", 0, "audit_key", route_key, NULL);
	http_route(app->http, "GET", "/v1/audit/checkpoints", 0, "audit_checkpoints", route_checkpoints,
		   NULL);
	http_route(app->http, "GET", "/v1/audit/consistency/", 1, "audit_consistency", route_consistency,
		   NULL);
	if (cfg_int(app->cfg, "audit.checkpoint_interval_s") < 0 ||
	    cfg_int(app->cfg, "audit.checkpoint_records") < 0)
		return ra_err_set(err, RA_E_CONFIG, "audit.checkpoint_interval_s",
				  "audit.checkpoint_interval_s and audit.checkpoint_records must be >= 0");
	for (size_t i = 0; i < 4; i++) {
		static const char *const subj[] = {
			"audit.key_subject.country", "audit.key_subject.organization",
			"audit.key_subject.organization_identifier", "audit.key_subject.common_name"};
		const char *v = cfg_str(app->cfg, subj[i]);
		if (v == NULL || *v == '\0')
			return ra_err_set(err, RA_E_CONFIG, subj[i],
					  "%s must be set (the audit key's certificate)", subj[i]);
	}
	if (key_id == NULL || strlen(key_id) == 0 || strlen(key_id) >= sizeof(ck->key_id))
		return ra_err_set(err, RA_E_CONFIG, "audit.key_id",
				  "audit.key_id must be 1..64 of [A-Za-z0-9._-]");
	if (app->cab == NULL) {
		log_warn("audit.checkpoints_disabled", "reason",
			 "pkcs11.pin not set: no audit key, no checkpoints", NULL);
		return 0;
	}
	if (cfg_int(app->cfg, "audit.checkpoint_interval_s") == 0 &&
	    cfg_int(app->cfg, "audit.checkpoint_records") == 0)
		return 0;
	ck = calloc(1, sizeof(*ck));
	if (ck == NULL)
		return ra_err_set(err, RA_E_NOMEM, "", "out of memory");
	ck->app = app;
	snprintf(ck->key_id, sizeof(ck->key_id), "%s", key_id);
	ck->interval_s = cfg_int(app->cfg, "audit.checkpoint_interval_s");
	ck->records = cfg_int(app->cfg, "audit.checkpoint_records");
	ck->conninfo = strdup(cfg_str(app->cfg, "database_url"));
	ck->country = strdup(cfg_str(app->cfg, "audit.key_subject.country"));
	ck->org = strdup(cfg_str(app->cfg, "audit.key_subject.organization"));
	ck->org_id = strdup(cfg_str(app->cfg, "audit.key_subject.organization_identifier"));
	ck->cn = strdup(cfg_str(app->cfg, "audit.key_subject.common_name"));
	if (!ck->conninfo || !ck->country || !ck->org || !ck->org_id || !ck->cn)
		return ra_err_set(err, RA_E_NOMEM, "", "out of memory");
	metrics_counter_fn("ra_audit_checkpoints_total", "Signed audit checkpoints this node made.", "",
			   g_made, ck);
	metrics_gauge("ra_audit_checkpoint_tree_size", "Tree size of the newest checkpoint this node made.",
		      "", g_size, ck);
	uv_timer_init(app->loop, &ck->timer);
	ck->timer.data = ck;
	uv_timer_start(&ck->timer, on_tick, 1000, 1000);
	return 0;
}
