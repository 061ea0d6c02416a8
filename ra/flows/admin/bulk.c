/*
 * bulk.c - bulk revocation (issue #17): every revocable certificate of a contract, an
 * organisation or a user, revoked by durable jobs, one certificate per job; see bulk.h.
 *
 * POST /v1/admin/bulk-revocations decides in one transaction: it locks the certificates,
 * runs the certificate machine for each one (R14: the reason; R19: none may be the acting
 * support user's own), and writes the bulk_revocations row, its audit record and one
 * 'bulk_revoke' job per certificate (idempotency key bulk_revoke:<bulk>:<certificate>).  A
 * refusal for any one refuses all: nothing is written.  A dry run answers the count and rolls
 * back.  Each job then revokes its certificate with the revocation statement of the cert flow
 * (state, its own audit record 'cert.revoked', the ca_revoke job; one statement, so one
 * transaction).  The statement changes only a certificate still revocable, so a job run twice
 * (a crash after the commit, before job_done) revokes once; a crash anywhere loses nothing,
 * since the jobs are in the database before the answer is sent.
 */
#include "ra/flows/admin/bulk.h"
#include "ra/flows/admin/phone_jobs.h"

#include <stdlib.h>
#include <string.h>

#include "ra/base/log.h"
#include "ra/db/db.h"
#include "ra/db/outbox.h"
#include "ra/flows/admin/routes_admin_int.h"
#include "ra/flows/cert/cert.h"
#include "workflows/wf_cert.h"

#define BULK_MAX 100000

/* $1 scope, $2 value, $3 the value's E.164 form (user).  The certificates still revocable,
 * locked, in id order; the bulk id comes first so the reply can name it. */
static const char *sql_bulk_load =
	"SELECT jsonb_build_object('bulk_id', nextval('bulk_revocations_id_seq')::text, 'certificates',"
	" coalesce(jsonb_agg(jsonb_build_object('id', c.id, 'state', c.state, 'class', c.class, 'user_id', c.user_id,"
	"  'serial', c.serial) ORDER BY c.id), '[]'::jsonb))::text"
	" FROM (SELECT c.* FROM certificates c WHERE c.state = ANY ($4::text[]) AND CASE $1"
	"  WHEN 'contract' THEN c.order_id IN (SELECT o.id::text FROM orders o JOIN contracts k ON k.id = o.contract_id"
	"   WHERE k.number = upper($2))"
	"  WHEN 'organisation' THEN c.subject->>'organization' = $2"
	"  WHEN 'user' THEN c.user_id = (SELECT u.public_id FROM users u WHERE u.public_id = upper($2) OR u.phone_e164 = $3)"
	"  ELSE false END ORDER BY c.id FOR UPDATE OF c) c";

/* $1 bulk id, $2 scope, $3 value, $4 reason, $5 comment, $6 actor, $7 total, $8 the ids. */
/* $1 bulk id, $2 scope, $3 value, $4 reason, $5 comment, $6 actor, $7 total. */
static const char *sql_bulk_insert =
	"INSERT INTO bulk_revocations (id, scope, scope_value, reason, comment, requested_by, total)"
	" VALUES ($1::bigint, $2, $3, $4, $5, $6, $7::int)";
/* the certificates, one row each: a bulk_revoke job per row (ob_job_each) */
static const char *sql_bulk_ids = "SELECT x FROM jsonb_array_elements_text($1::jsonb) AS x";
static const char *sql_bulk_of =
	"SELECT reason, comment, requested_by FROM bulk_revocations WHERE id = $1::bigint";

/* Progress: the bulk row, its jobs by state and its certificates revoked and on the CRL. */
static const char *sql_bulk_show =
	"WITH b AS (SELECT * FROM bulk_revocations WHERE id::text = $1),"
	" j AS (SELECT j.state, j.payload->>'certificate_id' AS cid FROM jobs j, b"
	"  WHERE j.kind = 'bulk_revoke' AND j.idempotency_key LIKE 'bulk_revoke:' || b.id || ':%')"
	" SELECT (SELECT to_jsonb(b) || jsonb_build_object('id', b.id::text,"
	"  'queued', (SELECT count(*) FROM j WHERE j.state IN ('queued', 'running')),"
	"  'done', (SELECT count(*) FROM j WHERE j.state = 'done'),"
	"  'dead', (SELECT count(*) FROM j WHERE j.state = 'dead'),"
	"  'revoked', (SELECT count(*) FROM j JOIN certificates c ON c.id = j.cid WHERE c.state = $2),"
	"  'on_crl', (SELECT count(*) FROM j JOIN certificates c ON c.id = j.cid WHERE c.ca_revoked_at IS NOT NULL),"
	"  'finished', NOT EXISTS (SELECT 1 FROM j WHERE j.state IN ('queued', 'running'))) FROM b)::text";

static const char *const scopes[] = {"contract", "organisation", "user"};

static int class_of(const char *c)
{
	if (c && strcmp(c, "qualified") == 0)
		return WF_CLASS_QUALIFIED;
	if (c && strcmp(c, "advanced") == 0)
		return WF_CLASS_ADVANCED;
	if (c && strcmp(c, "seal") == 0)
		return WF_CLASS_SEAL;
	return WF_CLASS_NONE;
}

static int plan_bulk(struct adm_req *ar, json_t *row, struct ra_err *e)
{
	const char *scope = adm_str(ar, "scope"), *value = adm_str(ar, "value"),
		   *comment = adm_str(ar, "comment");
	const char *bulk_id = json_string_value(json_object_get(row, "bulk_id"));
	json_t *certs = json_object_get(row, "certificates"), *ids, *c;
	char total[24];
	size_t i, n = json_array_size(certs);
	char *idtext;
	int rc;

	if (comment == NULL)
		return ra_err_set(e, RA_E_INVALID, "comment", "a comment saying why is required");
	if (n == 0)
		return ra_err_set(e, RA_E_NOTFOUND, "value", "no revocable certificate for %s %s", scope,
				  value);
	ids = json_array();
	json_array_foreach (certs, i, c) {
		const char *id = json_string_value(json_object_get(c, "id"));
		struct wf_facts f = {0};
		struct wf_result r;
		/* R19: refused for all when any one is the acting support user's own */
		if (adm_not_self(ar, json_string_value(json_object_get(c, "user_id")), e) != 0) {
			snprintf(e->msg + strlen(e->msg), sizeof(e->msg) - strlen(e->msg),
				 " (certificate %s of the %zu); nothing changed", id, n);
			json_decref(ids);
			return e->code;
		}
		f.cert_class = class_of(json_string_value(json_object_get(c, "class")));
		f.revoke_reason = wf_reason_parse(ar->reason);
		if (f.revoke_reason < 0)
			f.revoke_reason = -100;
		if (adm_wf(&wf_cert, json_string_value(json_object_get(c, "state")), WF_CERT_REVOKE, &f, &r,
			   "certificate", e) != 0) {
			json_decref(ids);
			return e->code;
		}
		json_array_append_new(ids, json_string(id));
	}
	snprintf(total, sizeof(total), "%zu", n);
	idtext = json_dumps(ids, JSON_COMPACT);
	json_decref(ids);
	{
		const char *p[7] = {bulk_id, scope, value, ar->reason, comment, ar->actor, total};
		const char *q[1] = {idtext};
		char prefix[48];
		int src;
		snprintf(prefix, sizeof(prefix), "bulk_revoke:%s:", bulk_id);
		rc = adm_stmt(ar, sql_bulk_insert, 7, p);
		src = rc == 0 ? ob_stmt(&ar->ob, sql_bulk_ids, 1, q, 0) : -1;
		if (src < 0)
			rc = ra_err_set(&ar->err, RA_E_INTERNAL, "", "too many statements in one operation");
		else
			ob_job_each(&ar->ob, src, "bulk_revoke", "certificate_id", prefix);
	}
	free(idtext);
	if (rc == 0)
		rc = adm_audit(ar, "cert.bulk_revocation", "bulk_revocation", bulk_id, comment,
			       json_pack("{s:s, s:s, s:s, s:I}", "scope", scope, "value", value, "reason",
					 ar->reason, "total", (json_int_t)n));
	if (rc != 0) {
		*e = ar->err;
		return e->code;
	}
	ar->reply = json_pack("{s:s, s:s, s:s, s:s, s:I, s:s}", "id", bulk_id, "scope", scope, "value", value,
			      "reason", ar->reason, "total", (json_int_t)n, "state", "queued");
	if (ar->dry_run)
		json_object_set_new(ar->reply, "certificates", json_incref(certs));
	ar->status = ar->dry_run ? 200 : 202;
	return 0;
}

static const struct adm_tx tx_bulk = {"certificate", plan_bulk};

static void bulk_create(struct adm_req *ar)
{
	const char *scope = adm_str(ar, "scope"), *value = adm_str(ar, "value");
	char e164[32] = "";
	struct ra_err e = {0};
	int known = 0;

	for (size_t i = 0; scope && i < sizeof(scopes) / sizeof(scopes[0]); i++)
		known |= strcmp(scope, scopes[i]) == 0;
	if (!known) {
		ra_err_set(&e, RA_E_RULE, "scope", "scope must be one of contract|organisation|user");
		adm_fail(ar, &e);
		return;
	}
	if (value == NULL || strlen(value) > 200) {
		ra_err_set(&e, RA_E_INVALID, "value",
			   "value (the contract number, organisation or user) is required");
		adm_fail(ar, &e);
		return;
	}
	if (strcmp(scope, "user") == 0)
		adm_phone(ar, value, e164, sizeof(e164));
	{
		char states[96];
		const char *p[4] = {scope, value, e164,
				    ob_states(&wf_cert,
					      (1u << WF_CERT_ISSUED) | (1u << WF_CERT_ACTIVE) |
						      (1u << WF_CERT_SUPERSEDING),
					      states, sizeof(states))};
		adm_tx_run(ar, &tx_bulk, sql_bulk_load, 4, p);
	}
}

static void bulk_show(struct adm_req *ar)
{
	const char *p[2] = {ar->id, wf_state_name(&wf_cert, WF_CERT_REVOKED)};
	adm_read(ar, sql_bulk_show, 2, p, "bulk revocation");
}

const struct adm_route adm_routes_bulk[] = {
	{"POST", "/v1/admin/bulk-revocations", "support", "admin_bulk_revoke", bulk_create},
	{"GET", "/v1/admin/bulk-revocations/{id}", "support", "admin_bulk_show", bulk_show},
	{NULL, NULL, NULL, NULL, NULL},
};

/* ---- the job: one certificate ------------------------------------------------------------- */

struct bulk_job {
	struct job *job;
	struct outbox ob;
	char cert[80], bulk[24], reason[40], actor[100], comment[520];
};

static void on_committed(const int *rows, const struct ra_err *err, void *data)
{
	struct bulk_job *bj = data;

	(void)rows;
	if (err)
		job_fail(bj->job, err, 1); /* RA_E_CONFLICT: changed meanwhile; the next run decides again */
	else
		job_done(bj->job, json_pack("{s:b}", "revoked_now", 1));
	free(bj);
}

static const char *sql_cert_state = "SELECT state, serial FROM certificates WHERE id = $1";

/* The certificate machine decides again for this one certificate (R14), then the cert flow's
 * revocation plan (state, ca_revoke job, its own audit record) in one outbox unit. */
static void on_loaded(PGresult *res, const struct ra_err *err, void *data)
{
	struct bulk_job *bj = data;
	const char *id = bj->cert;
	const char *reason = bj->reason, *actor = bj->actor, *cm = bj->comment;
	char comment[700];
	struct wf_facts f = {0};
	struct wf_result r;
	struct job *job = bj->job;
	struct ra_err e = {0};
	int from;

	if (err) {
		job_fail(job, err, 1);
		free(bj);
		return;
	}
	if (PQntuples(res) != 1 || !*reason) {
		free(bj);
		ra_err_set(&e, RA_E_INVALID, "payload",
			   "bulk_revoke job for no certificate, or without reason or actor");
		job_fail(job, &e, 0);
		return;
	}
	from = wf_state_parse(&wf_cert, PQgetvalue(res, 0, 0));
	f.revoke_reason = wf_reason_parse(reason);
	/* revoked already (by this job's earlier run, or by support meanwhile): nothing to do */
	if (from == WF_CERT_REVOKED || wf_step(&wf_cert, from, WF_CERT_REVOKE, &f, &r) != 0) {
		job_done(job, json_pack("{s:b, s:s}", "revoked_now", 0, "state", PQgetvalue(res, 0, 0)));
		free(bj);
		return;
	}
	snprintf(comment, sizeof(comment), "%s (bulk revocation %s)", cm, bj->bulk);
	if (cert_revoke_plan(&bj->ob, id, from, &r, reason, actor, comment, PQgetvalue(res, 0, 1)) != 0) {
		ob_clear(&bj->ob);
		free(bj);
		ra_err_set(&e, RA_E_INTERNAL, "", "cannot plan the revocation");
		job_fail(job, &e, 1);
		return;
	}
	ob_commit(&bj->ob, job->app->db, on_committed, bj);
}

static void on_bulk(PGresult *res, const struct ra_err *err, void *data)
{
	struct bulk_job *bj = data;
	const char *p[1] = {bj->cert};

	if (err || PQntuples(res) != 1) {
		struct ra_err e;
		if (!err)
			ra_err_set(&e, RA_E_INVALID, "payload", "bulk_revoke job of no bulk revocation");
		job_fail(bj->job, err ? err : &e, err != NULL);
		free(bj);
		return;
	}
	snprintf(bj->reason, sizeof(bj->reason), "%s", PQgetvalue(res, 0, 0));
	snprintf(bj->comment, sizeof(bj->comment), "%s", PQgetvalue(res, 0, 1));
	snprintf(bj->actor, sizeof(bj->actor), "%s", PQgetvalue(res, 0, 2));
	db_query(bj->job->app->db, sql_cert_state, 1, p, on_loaded, bj);
}

/* payload {certificate_id}; the key bulk_revoke:<bulk>:<certificate> names the bulk. */
static void job_bulk_revoke(struct job *job)
{
	struct bulk_job *bj = calloc(1, sizeof(*bj));
	const json_t *c = json_object_get(job->payload, "certificate_id");
	const char *k = job->idempotency_key ? job->idempotency_key : "";
	const char *p[1];

	if (bj == NULL)
		abort();
	bj->job = job;
	if (json_is_string(c))
		snprintf(bj->cert, sizeof(bj->cert), "%s", json_string_value(c));
	else
		snprintf(bj->cert, sizeof(bj->cert), "%lld", (long long)json_integer_value(c));
	if (strncmp(k, "bulk_revoke:", 12) == 0)
		snprintf(bj->bulk, sizeof(bj->bulk), "%.*s", (int)strcspn(k + 12, ":"), k + 12);
	p[0] = bj->bulk;
	db_query(job->app->db, sql_bulk_of, 1, p, on_bulk, bj);
}

const struct job_kind admin_job_kinds[] = {
	{"bulk_revoke", job_bulk_revoke, 20, NULL},
	{PHONE_JOB_SMS, phone_sms_run, 20, NULL},
	{PHONE_JOB_IDENT, phone_ident_run, 20, NULL},
	{PHONE_JOB_IDENT_RESULT, phone_ident_result_run, 20, NULL},
	{NULL, NULL, 0, NULL},
};
