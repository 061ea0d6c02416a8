/*
 * keyjobs.c - key_destroy (see keyjobs.h).  Token calls run on the thread pool.
 */
#include "ra/flows/cert/keyjobs.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "ca-bridge/cab.h"
#include "ra/base/log.h"
#include "ra/base/pool.h"
#include "ra/db/db.h"
#include "ra/db/dbsync.h"
#include "ra/db/outbox.h"
#include "workflows/wf_cert.h"

static const char *sql_key_load =
	"SELECT state, key_storage, key_blob IS NOT NULL, key_destroyed_at IS NOT NULL, key_fingerprint,"
	" kek_label, kek_version FROM certificates WHERE id = $1";

/* Conditioned (outbox need_rows): a key destroyed meanwhile by another worker is no error. */
static const char *sql_key_destroyed =
	"UPDATE certificates SET key_blob = NULL, key_destroyed_at = now()"
	" WHERE id = $1 AND key_destroyed_at IS NULL AND state = ANY($2::text[])";

/* The states in which a certificate has ended (its key goes). */
#define ENDED (1u << WF_CERT_REVOKED | 1u << WF_CERT_EXPIRED | 1u << WF_CERT_FAILED)

struct kd {
	struct job *job;
	char id[72];
	char storage[16];
	char fp[72];
	int objects;
	struct cab_err err;
	int rc;
};

static void on_recorded(const int *rows, const struct ra_err *err, void *data)
{
	struct kd *kd = data;

	(void)rows;
	if (err && err->code == RA_E_CONFLICT) {
		job_done(kd->job, json_pack("{s:s}", "already", "destroyed"));
	} else if (err) {
		job_fail(kd->job, err, 1);
	} else {
		char n[16];

		snprintf(n, sizeof(n), "%d", kd->objects);
		log_info("cert.key_destroyed", "certificate", kd->id, "storage", kd->storage, "token_objects",
			 n, NULL);
		job_done(kd->job,
			 json_pack("{s:s, s:i}", "storage", kd->storage, "token_objects", kd->objects));
	}
	free(kd);
}

static void record(struct kd *kd)
{
	struct outbox ob = {0};
	char ended[96];
	const char *p[2] = {kd->id, ob_states(&wf_cert, ENDED, ended, sizeof(ended))};

	ob_stmt(&ob, sql_key_destroyed, 2, p, 1);
	ob_audit(&ob, "system", "cert.key_destroyed", "certificate", kd->id, "certificate ended",
		 json_pack("{s:s, s:s, s:i}", "storage", kd->storage, "key_fingerprint", kd->fp,
			   "token_objects", kd->objects));
	ob_commit(&ob, kd->job->app->db, on_recorded, kd);
}

static void destroy_work(void *data)
{
	struct kd *kd = data;

	kd->rc = cab_key_destroy(kd->job->app->cab, kd->id, &kd->objects, &kd->err);
}

static void destroy_after(void *data)
{
	struct kd *kd = data;
	struct ra_err e;

	if (kd->rc != 0) {
		ra_err_set(&e, RA_E_UNAVAILABLE, kd->err.field, "token: %s", kd->err.msg);
		job_fail(kd->job, &e, kd->rc != CAB_E_INVALID);
		free(kd);
		return;
	}
	record(kd);
}

static void on_key_loaded(PGresult *res, const struct ra_err *err, void *data)
{
	struct job *job = data;
	struct kd *kd;
	struct ra_err e;
	const char *state;

	if (err) {
		job_fail(job, err, 1);
		return;
	}
	if (PQntuples(res) != 1) {
		ra_err_set(&e, RA_E_NOTFOUND, "certificate_id", "no such certificate");
		job_fail(job, &e, 0);
		return;
	}
	state = PQgetvalue(res, 0, 0);
	if (strcmp(PQgetvalue(res, 0, 3), "t") == 0) {
		job_done(job, json_pack("{s:s}", "already", "destroyed"));
		return;
	}
	if (strcmp(state, "revoked") != 0 && strcmp(state, "expired") != 0 && strcmp(state, "failed") != 0) {
		ra_err_set(&e, RA_E_CONFLICT, "certificate_id", "the certificate is %s: its key stays",
			   state);
		job_fail(job, &e, 0);
		return;
	}
	kd = calloc(1, sizeof(*kd));
	if (kd == NULL)
		abort();
	kd->job = job;
	snprintf(kd->id, sizeof(kd->id), "%s",
		 json_string_value(json_object_get(job->payload, "certificate_id")));
	snprintf(kd->storage, sizeof(kd->storage), "%s", db_val(res, 0, 1) ? db_val(res, 0, 1) : "token");
	snprintf(kd->fp, sizeof(kd->fp), "%s", db_val(res, 0, 4) ? db_val(res, 0, 4) : "");
	if (strcmp(kd->storage, "wrapped") == 0) {
		record(kd); /* the blob is the key: erasing it destroys it */
		return;
	}
	if (job->app->cab == NULL) {
		ra_err_set(&e, RA_E_UNAVAILABLE, "pkcs11.pin", "the CA is not configured");
		job_fail(job, &e, 1);
		free(kd);
		return;
	}
	if (pool_run(job->app->loop, destroy_work, destroy_after, kd) != 0) {
		ra_err_set(&e, RA_E_INTERNAL, "", "cannot queue work");
		job_fail(job, &e, 1);
		free(kd);
	}
}

void key_destroy_run(struct job *job)
{
	const char *id = json_string_value(json_object_get(job->payload, "certificate_id"));
	const char *p[1] = {id};
	struct ra_err e;

	if (id == NULL || strlen(id) > 64) {
		ra_err_set(&e, RA_E_INVALID, "certificate_id", "job payload has no certificate_id");
		job_fail(job, &e, 0);
		return;
	}
	db_query(job->app->db, sql_key_load, 1, p, on_key_loaded, job);
}

/* Start-up only, before the loop runs (blocking, like opening the token): the pool is not
 * connected yet, and the policy must be in force before this node's first revocation. */
void keys_policy_apply(struct app *app)
{
	char hours[24];
	const char *p[1] = {hours};
	PGconn *c = db_connect_sync(cfg_str(app->cfg, "database_url"), 10000);
	PGresult *r = NULL;

	snprintf(hours, sizeof(hours), "%lld", cfg_int(app->cfg, "keys.destroy_delay_hours"));
	if (PQstatus(c) == CONNECTION_OK)
		r = PQexecParams(c, "UPDATE key_policy SET destroy_delay = make_interval(hours => $1::int)",
				 1, NULL, p, NULL, NULL, 0);
	if (r == NULL || PQresultStatus(r) != PGRES_COMMAND_OK)
		log_warn("keys.policy_failed", "message",
			 "keys.destroy_delay_hours not written; the database keeps its value", "error",
			 r ? PQresultErrorMessage(r) : PQerrorMessage(c), NULL);
	else
		log_info("keys.policy", "destroy_delay_hours", hours, NULL);
	PQclear(r);
	PQfinish(c);
}

/* ---- kek_rewrap ---------------------------------------------------------------------- */

/* with the label's highest version in kek_versions, read before the blobs are re-wrapped */
static const char *sql_rewrap_batch =
	"SELECT id, encode(key_blob, 'hex'), kek_version,"
	" (SELECT max(version) FROM kek_versions WHERE label = $1) FROM certificates"
	" WHERE key_blob IS NOT NULL AND kek_label = $1 AND kek_version < $2::int AND id > $3"
	" ORDER BY id LIMIT $4::int";

/* Compare-and-set per row: a blob destroyed or re-wrapped meanwhile is left alone.  A newer
 * rotation that committed meanwhile refuses the batch (migration 0024), whose retry re-wraps
 * under that version: the newer rotation's re-wrap may have passed these ids already. */
static const char *sql_rewrapped =
	"UPDATE certificates c SET key_blob = decode(u.blob, 'hex'), kek_version = u.v"
	" FROM unnest($1::text[], $2::text[], $3::int[], $4::int[]) AS u(id, blob, v, old)"
	" WHERE c.id = u.id AND c.kek_version = u.old AND c.key_blob IS NOT NULL AND u.v > u.old"
	"  AND kek_version_check($5, greatest(u.v, $6::int))";

struct rw_item {
	char id[72];
	unsigned char *blob;
	size_t len;
	int old;
	struct cab_key out;
	int rc;
	char msg[256];
};

struct rw {
	struct job *job;
	char label[64];
	int version, batch;
	int read; /* the label's highest version in kek_versions when the batch was read (0: none) */
	char after[72];
	int n;
	struct rw_item *items;
	int moved, failed;
};

static void rw_free(struct rw *rw)
{
	for (int i = 0; i < rw->n; i++) {
		free(rw->items[i].blob);
		cab_key_free(&rw->items[i].out);
	}
	free(rw->items);
	free(rw);
}

static void rewrap_work(void *data)
{
	struct rw *rw = data;

	for (int i = 0; i < rw->n; i++) {
		struct rw_item *it = &rw->items[i];
		struct cab_wrapped w = {it->blob, it->len, rw->label, it->old};
		struct cab_err ce = {0};

		it->rc = cab_rewrap(rw->job->app->cab, &w, &it->out, &ce);
		snprintf(it->msg, sizeof(it->msg), "%s", ce.msg);
	}
}

static void on_rewrapped(const int *rows, const struct ra_err *err, void *data)
{
	struct rw *rw = data;
	char b[16], m[16], f[16];

	if (err) {
		job_fail(rw->job, err, 1);
		rw_free(rw);
		return;
	}
	snprintf(b, sizeof(b), "%d", rw->batch);
	snprintf(m, sizeof(m), "%d", rows ? rows[0] : 0);
	snprintf(f, sizeof(f), "%d", rw->failed);
	log_info("kek.rewrap_batch", "label", rw->label, "batch", b, "rewrapped", m, "failed", f, NULL);
	job_done(rw->job, json_pack("{s:i, s:i, s:i}", "batch", rw->batch, "rewrapped", rows ? rows[0] : 0,
				    "failed", rw->failed));
	rw_free(rw);
}

/* Appends "{a,b,...}" (a PostgreSQL array literal of quoted text) to buf. */
static char *pg_array(struct rw *rw, int col)
{
	size_t cap = 16, len = 1;
	char *s;

	for (int i = 0; i < rw->n; i++)
		cap += (col == 1 ? 2 * rw->items[i].out.blob_len : 80) + 4;
	s = malloc(cap);
	if (s == NULL)
		abort();
	s[0] = '{';
	for (int i = 0, first = 1; i < rw->n; i++) {
		struct rw_item *it = &rw->items[i];

		if (it->rc != 0)
			continue;
		if (!first)
			s[len++] = ',';
		first = 0;
		if (col == 0) {
			len += (size_t)snprintf(s + len, cap - len, "\"%s\"", it->id);
		} else if (col == 1) {
			for (size_t k = 0; k < it->out.blob_len; k++)
				len += (size_t)snprintf(s + len, cap - len, "%02x", it->out.blob[k]);
		} else {
			len += (size_t)snprintf(s + len, cap - len, "%d",
						col == 2 ? it->out.kek_version : it->old);
		}
	}
	s[len++] = '}';
	s[len] = '\0';
	return s;
}

static void rewrap_after(void *data)
{
	struct rw *rw = data;
	struct outbox ob = {0};
	char *a[6], read[16];
	struct ra_err e;

	for (int i = 0; i < rw->n; i++) {
		struct rw_item *it = &rw->items[i];

		if (it->rc == CAB_E_KEK || it->rc == CAB_E_INVALID) {
			/* this blob cannot be re-wrapped (its version is gone, or it is damaged): it stays
			 * as it is, named in the log, and the run goes on past it */
			log_warn("kek.rewrap_failed", "certificate", it->id, "error", it->msg, NULL);
			rw->failed++;
		} else if (it->rc != 0) {
			ra_err_set(&e, RA_E_UNAVAILABLE, "pkcs11", "re-wrap of %s: %s", it->id, it->msg);
			job_fail(rw->job, &e, 1);
			rw_free(rw);
			return;
		}
	}
	for (int i = 0; i < 4; i++)
		a[i] = pg_array(rw, i);
	a[4] = rw->label;
	snprintf(read, sizeof(read), "%d", rw->read);
	a[5] = read;
	ob_stmt(&ob, sql_rewrapped, 6, (const char *const *)a, 0);
	{
		char key[200], at[40], sec[24];
		long long pause = cfg_int(rw->job->app->cfg, "pkcs11.rewrap_pause_ms");
		struct timespec ts;
		struct tm tm;
		time_t t;
		long ms;

		/* the next run: after the last id of this one, a pause later (bounded load on the token) */
		clock_gettime(CLOCK_REALTIME, &ts);
		ms = ts.tv_nsec / 1000000 + (long)(pause % 1000);
		t = ts.tv_sec + (time_t)(pause / 1000) + ms / 1000;
		gmtime_r(&t, &tm);
		strftime(sec, sizeof(sec), "%Y-%m-%dT%H:%M:%S", &tm);
		snprintf(at, sizeof(at), "%s.%03ldZ", sec, ms % 1000);
		snprintf(key, sizeof(key), "kek_rewrap:%s:%d:%d", rw->label, rw->version, rw->batch + 1);
		ob_job(&ob,
		       &(struct ob_job){.kind = "kek_rewrap",
					.payload = json_pack("{s:s, s:i, s:i, s:s}", "label", rw->label,
							     "version", rw->version, "batch", rw->batch + 1,
							     "after", rw->items[rw->n - 1].id),
					.key = key,
					.run_at = at});
	}
	ob_commit(&ob, rw->job->app->db, on_rewrapped, rw);
	for (int i = 0; i < 4; i++)
		free(a[i]);
}

static void on_batch(PGresult *res, const struct ra_err *err, void *data)
{
	struct rw *rw = data;
	struct ra_err e;

	if (err) {
		job_fail(rw->job, err, 1);
		rw_free(rw);
		return;
	}
	rw->n = PQntuples(res);
	if (rw->n == 0) {
		char v[16];

		snprintf(v, sizeof(v), "%d", rw->version);
		log_info("kek.rewrap_done", "label", rw->label, "version", v, NULL);
		job_done(rw->job, json_pack("{s:b, s:i}", "done", 1, "batch", rw->batch));
		rw_free(rw);
		return;
	}
	rw->read = PQgetisnull(res, 0, 3) ? 0 : atoi(PQgetvalue(res, 0, 3));
	rw->items = calloc((size_t)rw->n, sizeof(*rw->items));
	if (rw->items == NULL)
		abort();
	for (int i = 0; i < rw->n; i++) {
		struct rw_item *it = &rw->items[i];
		const char *hex = PQgetvalue(res, i, 1);

		snprintf(it->id, sizeof(it->id), "%s", PQgetvalue(res, i, 0));
		it->len = strlen(hex) / 2;
		it->blob = malloc(it->len + 1);
		if (it->blob == NULL)
			abort();
		for (size_t k = 0; k < it->len; k++) {
			unsigned int b;
			sscanf(hex + 2 * k, "%2x", &b);
			it->blob[k] = (unsigned char)b;
		}
		it->old = atoi(PQgetvalue(res, i, 2));
	}
	if (pool_run(rw->job->app->loop, rewrap_work, rewrap_after, rw) != 0) {
		ra_err_set(&e, RA_E_INTERNAL, "", "cannot queue work");
		job_fail(rw->job, &e, 1);
		rw_free(rw);
	}
}

void kek_rewrap_run(struct job *job)
{
	const char *label = json_string_value(json_object_get(job->payload, "label"));
	const char *after = json_string_value(json_object_get(job->payload, "after"));
	int version = (int)json_integer_value(json_object_get(job->payload, "version"));
	struct rw *rw;
	struct ra_err e;
	char v[16], lim[16];
	const char *p[4];

	if (label == NULL || strlen(label) > 32 || version <= 0) {
		ra_err_set(&e, RA_E_INVALID, "payload", "kek_rewrap needs label and version");
		job_fail(job, &e, 0);
		return;
	}
	if (job->app->cab == NULL || !cab_wraps(job->app->cab)) {
		ra_err_set(&e, RA_E_UNAVAILABLE, "pkcs11.key_storage", "no wrapped key storage on this node");
		job_fail(job, &e, 1);
		return;
	}
	rw = calloc(1, sizeof(*rw));
	if (rw == NULL)
		abort();
	rw->job = job;
	snprintf(rw->label, sizeof(rw->label), "%s", label);
	snprintf(rw->after, sizeof(rw->after), "%s", after ? after : "");
	rw->version = version;
	rw->batch = (int)json_integer_value(json_object_get(job->payload, "batch"));
	if (rw->batch <= 0)
		rw->batch = 1;
	snprintf(v, sizeof(v), "%d", version);
	snprintf(lim, sizeof(lim), "%lld", cfg_int(job->app->cfg, "pkcs11.rewrap_batch"));
	p[0] = rw->label;
	p[1] = v;
	p[2] = rw->after;
	p[3] = lim;
	db_query(job->app->db, sql_rewrap_batch, 4, p, on_batch, rw);
}

void kek_rewrap_plan(struct outbox *ob, const char *label, int version)
{
	char key[200];

	snprintf(key, sizeof(key), "kek_rewrap:%s:%d:1", label, version);
	ob_job(ob, &(struct ob_job){.kind = "kek_rewrap",
				    .payload = json_pack("{s:s, s:i, s:i, s:s}", "label", label, "version",
							 version, "batch", 1, "after", ""),
				    .key = key});
}
