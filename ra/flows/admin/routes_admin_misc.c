/*
 * routes_admin_misc.c - the admin API on contracts (R6), orders, jobs and the audit log
 * (R16): contract create/show/list/close, order show, dead jobs and their retry, audit
 * records of an object, and verification of the audit chain on the thread pool.
 */
#include <stdlib.h>
#include <string.h>

#include "ra/flows/admin/audit_ckpt.h"
#include "ra/flows/admin/audit_verify.h"
#include "ra/flows/admin/audit_watch.h"
#include "ra/base/pool.h"
#include "ra/flows/admin/review.h"
#include "ra/flows/admin/routes_admin_int.h"
#include "ra/jobs/jobs.h"
#include "ra/net/httpc.h"
#include "ra/net/peer.h"

/* ---- contracts (R6) -------------------------------------------------------------------- */

#define CONTRACT_JSON \
	"(to_jsonb(k) || jsonb_build_object('remaining', k.quota - k.used, 'exhausted', k.used >= k.quota))"

static const char *sql_contract_show =
	"SELECT (" CONTRACT_JSON
	" || jsonb_build_object('orders', coalesce((SELECT jsonb_agg(jsonb_build_object("
	" 'id', o.id, 'shop_order_id', o.shop_order_id, 'state', o.state, 'places', o.quota_taken) ORDER BY o.id)"
	" FROM orders o WHERE o.contract_id = k.id), '[]'::jsonb)))::text"
	" FROM contracts k WHERE k.number = upper($1) OR k.id::text = $1";
static const char *sql_contract_list =
	"SELECT jsonb_build_object('contracts', coalesce(jsonb_agg(" CONTRACT_JSON
	" ORDER BY k.id), '[]'::jsonb))::text"
	" FROM contracts k WHERE $1::text IS NULL OR k.status = $1";
/* The number comes first, so the reply can name it; a gap after a refusal is harmless. */
static const char *sql_contract_number =
	"SELECT jsonb_build_object('number', 'RA-C-' || lpad(nextval('contract_number_seq')::text, 6, '0'))::text";
static const char *sql_contract_insert =
	"INSERT INTO contracts (number, organisation, organisation_id, quota, created_by) VALUES ($1, $2, $3, $4::int, $5)";
static const char *sql_contract_load =
	"SELECT to_jsonb(k)::text FROM contracts k WHERE k.number = upper($1) OR k.id::text = $1 FOR UPDATE";
static const char *sql_contract_close =
	"UPDATE contracts SET status = 'closed', closed_at = now() WHERE number = $1 AND status = 'open'";

static const char *jstr(const json_t *o, const char *k)
{
	return json_string_value(json_object_get(o, k));
}

static void contract_show(struct adm_req *ar)
{
	const char *p[1] = {ar->id};
	adm_read(ar, sql_contract_show, 1, p, "contract");
}

static void contract_list(struct adm_req *ar)
{
	char st[16];
	const char *p[1] = {adm_query(ar, "status", st, sizeof(st))};
	adm_read(ar, sql_contract_list, 1, p, "contract");
}

static int plan_contract_create(struct adm_req *ar, json_t *row, struct ra_err *e)
{
	const char *org = adm_str(ar, "organisation"), *org_id = adm_str(ar, "organisation_id");
	const char *number = jstr(row, "number");
	json_int_t quota = json_integer_value(json_object_get(ar->body, "quota"));
	char q[24];
	const char *p[5];

	if (org == NULL || strlen(org) > 200)
		return ra_err_set(e, RA_E_INVALID, "organisation",
				  "organisation must have 1 to 200 characters");
	if (org_id && strlen(org_id) > 100)
		return ra_err_set(e, RA_E_INVALID, "organisation_id",
				  "organisation_id has at most 100 characters");
	if (quota <= 0 || quota > 1000000)
		return ra_err_set(e, RA_E_INVALID, "quota", "quota must be a number from 1 to 1000000");
	snprintf(q, sizeof(q), "%lld", (long long)quota);
	p[0] = number;
	p[1] = org;
	p[2] = org_id;
	p[3] = q;
	p[4] = ar->actor;
	if (adm_stmt(ar, sql_contract_insert, 5, p) != 0 ||
	    adm_audit(ar, "contract.created", "contract", number, ar->reason,
		      json_pack("{s:s, s:s?, s:I}", "organisation", org, "organisation_id", org_id, "quota",
				quota)) != 0) {
		*e = ar->err;
		return e->code;
	}
	ar->reply =
		json_pack("{s:s, s:s, s:s?, s:I, s:I, s:s}", "number", number, "organisation", org,
			  "organisation_id", org_id, "quota", quota, "used", (json_int_t)0, "status", "open");
	ar->status = 201;
	return 0;
}

static int plan_contract_close(struct adm_req *ar, json_t *k, struct ra_err *e)
{
	const char *number = jstr(k, "number");
	const char *p[1] = {number};

	if (strcmp(jstr(k, "status"), "closed") == 0)
		return adm_refuse(e, RA_E_CONFLICT, "R6", "contract %s is already closed; nothing changed",
				  number);
	if (adm_stmt(ar, sql_contract_close, 1, p) != 0 ||
	    adm_audit(ar, "contract.closed", "contract", number, ar->reason,
		      json_pack("{s:O?, s:O?}", "quota", json_object_get(k, "quota"), "used",
				json_object_get(k, "used"))) != 0) {
		*e = ar->err;
		return e->code;
	}
	ar->reply = json_pack("{s:s, s:s}", "number", number, "status", "closed");
	return 0;
}

static const struct adm_tx tx_contract_create = {"contract", plan_contract_create};
static const struct adm_tx tx_contract_close = {"contract", plan_contract_close};

static void contract_create(struct adm_req *ar)
{
	adm_tx_run(ar, &tx_contract_create, sql_contract_number, 0, NULL);
}

static void contract_close(struct adm_req *ar)
{
	const char *p[1] = {ar->id};
	adm_tx_run(ar, &tx_contract_close, sql_contract_load, 1, p);
}

/* ---- orders ---------------------------------------------------------------------------- */

/* An RA order id wins over a shop order id with the same digits.  A shop order the RA refused
 * (intake_rejections) has no order row but is shown with its rejections. */
static const char *sql_order_show =
	"WITH o AS (SELECT * FROM orders o WHERE o.id::text = $1 OR o.shop_order_id::text = $1"
	"  ORDER BY (o.id::text = $1) DESC LIMIT 1),"
	" r AS (SELECT coalesce(jsonb_agg(to_jsonb(x) ORDER BY x.id), '[]'::jsonb) j FROM intake_rejections x"
	"  WHERE x.shop_order_id::text = coalesce((SELECT o.shop_order_id::text FROM o), $1))"
	" SELECT (CASE WHEN EXISTS (SELECT 1 FROM o) THEN (SELECT to_jsonb(o) || jsonb_build_object("
	"   'user_public_id', (SELECT u.public_id FROM users u WHERE u.id = o.user_id),"
	"   'items', coalesce((SELECT jsonb_agg(to_jsonb(i) ORDER BY i.id) FROM order_items i WHERE i.order_id = o.id), '[]'::jsonb),"
	"   'certificates', coalesce((SELECT jsonb_agg(jsonb_build_object('id', c.id, 'class', c.class, 'state', c.state,"
	"     'serial', c.serial) ORDER BY c.id) FROM certificates c WHERE c.order_id = o.id::text), '[]'::jsonb),"
	"   'rejections', r.j) FROM o)"
	"  WHEN jsonb_array_length(r.j) > 0 THEN jsonb_build_object('id', NULL, 'shop_order_id', $1, 'state', 'refused',"
	"   'rejections', r.j) END)::text FROM r";

static void order_show(struct adm_req *ar)
{
	const char *p[1] = {ar->id};
	adm_read(ar, sql_order_show, 1, p, "order");
}

/* The review decision of #5 (review.c: order machine with R7 and R19's four eyes, the
 * certificates and their cert_issue jobs, the audit record, one transaction) is blocking
 * libpq with its own connection: it runs on the thread pool, never on the loop. */
/* Review decisions and audit verification hold a thread-pool thread and a database connection
 * of their own: one at a time, so a slow database cannot take every pool thread away from
 * issuance and revocation (R14). */
static int blocking_busy;

static int blocking_claim(struct adm_req *ar)
{
	struct ra_err e = {0};

	if (blocking_busy) {
		ra_err_set(&e, RA_E_UNAVAILABLE, "",
			   "busy: another review decision or audit verification is running");
		adm_fail(ar, &e);
		return -1;
	}
	blocking_busy = 1;
	return 0;
}

struct review {
	struct adm_req *ar;
	int approve;
	char order_id[32]; /* the RA order decided (the route takes a shop order number too) */
	struct ra_err err;
	int rc;
};

static void review_work(void *data)
{
	struct review *rv = data;
	struct adm_req *ar = rv->ar;

	rv->rc = review_decide(ar->hr->app->cfg, ar->id, rv->approve, ar->who.name, ar->reason, ar->dry_run,
			       rv->order_id, sizeof(rv->order_id), &rv->err);
}

static void review_after(void *data)
{
	struct review *rv = data;

	blocking_busy = 0;
	if (rv->rc != 0) {
		/* review.c names the refusing rule in field ("R19", "R7"); the message may not */
		if (rv->err.field[0] == 'R' &&
		    strncmp(rv->err.msg, rv->err.field, strlen(rv->err.field)) != 0) {
			char msg[sizeof(rv->err.msg)];
			snprintf(msg, sizeof(msg), "%s", rv->err.msg);
			snprintf(rv->err.msg, sizeof(rv->err.msg), "%.8s: %.200s", rv->err.field, msg);
		} else if (rv->err.code == RA_E_CONFLICT && strlen(rv->err.msg) < sizeof(rv->err.msg) - 20) {
			strcat(rv->err.msg, ": nothing changed"); /* as every other refusal says */
		}
		adm_fail(rv->ar, &rv->err);
	} else {
		json_t *o = json_pack("{s:s, s:s, s:s}", "order_id", rv->order_id, "decision",
				      rv->approve ? "approved" : "rejected", "by", rv->ar->actor);
		if (rv->ar->dry_run) /* decided and written, then rolled back */
			json_object_set_new(o, "dry_run", json_true());
		adm_reply(rv->ar, 200, o);
	}
	free(rv);
}

static void review(struct adm_req *ar, int approve)
{
	struct review *rv;
	struct ra_err e = {0};

	if (blocking_claim(ar) != 0)
		return;
	rv = calloc(1, sizeof(*rv));
	if (rv == NULL)
		abort();
	rv->ar = ar;
	rv->approve = approve;
	if (pool_run(ar->hr->app->loop, review_work, review_after, rv) != 0) {
		blocking_busy = 0;
		free(rv);
		ra_err_set(&e, RA_E_INTERNAL, "", "cannot queue work");
		adm_fail(ar, &e);
	}
}

static void order_approve(struct adm_req *ar)
{
	review(ar, 1);
}

static void order_reject(struct adm_req *ar)
{
	review(ar, 0);
}

/* ---- jobs ------------------------------------------------------------------------------ */

/* $1 limit, $2 after (job id), $3 state (NULL: every job not done).  Ordered by id. */
static const char *sql_jobs_list =
	"WITH page AS (SELECT x.*, row_number() OVER (ORDER BY x.id) AS rn FROM ("
	"  SELECT * FROM jobs WHERE CASE WHEN $3::text IS NULL THEN state <> 'done' ELSE state = $3 END"
	"  AND ($2::bigint IS NULL OR id > $2::bigint) ORDER BY id LIMIT $1::int + 1) x)" PAGE_JSON(
		"jobs",
		"jsonb_build_object('id', p.id, 'kind', p.kind, 'state', p.state, 'attempts', p.attempts, 'last_error',"
		" p.last_error, 'run_at', p.run_at, 'updated_at', p.updated_at, 'payload', p.payload)",
		"id");
static const char *sql_job_load = "SELECT to_jsonb(j)::text FROM jobs j WHERE j.id::text = $1 FOR UPDATE";
/* Attempts are kept (the runner fences a run by them); the dead job gets three more. */
static const char *sql_job_retry =
	"UPDATE jobs SET state = 'queued', max_attempts = attempts + 3, run_at = now(), lease_until = NULL,"
	" locked_by = NULL, updated_at = now() WHERE id = $1::bigint AND state = 'dead'";
static const char *sql_job_wake = "SELECT pg_notify('ra_jobs', $1)";

static void jobs_list(struct adm_req *ar)
{
	char st[16], limit[16], after[32];
	const char *off = NULL, *state;
	struct ra_err e = {0};
	int bad = 0;

	state = adm_choice(ar, "state", "queued|running|done|dead", st, sizeof(st), &e, &bad);
	if (bad || adm_page(ar, limit, sizeof(limit), after, sizeof(after), &off, &e) != 0 ||
	    adm_cursor_id(off, &e) != 0) {
		adm_fail(ar, &e);
		return;
	}
	{
		const char *p[3] = {limit, off, state};
		adm_read(ar, sql_jobs_list, 3, p, "job");
	}
}

static int plan_job_retry(struct adm_req *ar, json_t *j, struct ra_err *e)
{
	char id[32];
	const char *p[1] = {id};
	const char *kind = jstr(j, "kind");

	snprintf(id, sizeof(id), "%lld", (long long)json_integer_value(json_object_get(j, "id")));
	if (strcmp(jstr(j, "state"), "dead") != 0)
		return ra_err_set(e, RA_E_CONFLICT, "state", "job %s is %s, not dead: nothing to retry", id,
				  jstr(j, "state"));
	if (adm_stmt(ar, sql_job_retry, 1, p) != 0 || adm_stmt(ar, sql_job_wake, 1, &kind) != 0 ||
	    adm_audit(ar, "job.retried", "job", id, ar->reason,
		      json_pack("{s:s, s:O?}", "kind", kind, "last_error",
				json_object_get(j, "last_error"))) != 0) {
		*e = ar->err;
		return e->code;
	}
	ar->reply = json_pack("{s:s, s:s, s:s}", "id", id, "kind", kind, "state", "queued");
	return 0;
}

static const struct adm_tx tx_job_retry = {"job", plan_job_retry};

static void job_retry(struct adm_req *ar)
{
	const char *p[1] = {ar->id};
	adm_tx_run(ar, &tx_job_retry, sql_job_load, 1, p);
}

/* The scheduler's periodic tasks (docs/lifecycle.md): the table, as every node sees it. */
static const char *sql_schedules =
	"SELECT jsonb_build_object('schedules', coalesce(jsonb_agg(jsonb_build_object('name', name,"
	" 'interval_s', interval_ms / 1000.0, 'next_run', next_run, 'running_on', CASE WHEN lease_until > now()"
	" THEN locked_by END, 'lease_until', lease_until, 'runs', runs, 'last_started_at', last_started_at,"
	" 'last_done_at', last_done_at, 'last_items', last_items, 'last_error', last_error) ORDER BY name), '[]'::jsonb))::text"
	" FROM schedules";

static void schedules_list(struct adm_req *ar)
{
	adm_read(ar, sql_schedules, 0, NULL, "schedule");
}

/* This process's peers (call bound, circuit breaker) and job lanes: the state is per process,
 * so behind a load balancer each node answers for itself. */
static void peers_list(struct adm_req *ar)
{
	json_t *a = json_array();
	uint64_t now = uv_now(ar->hr->app->loop);
	struct peer *p;

	for (int i = 0; (p = httpc_peer_at(ar->hr->app->httpc, i)) != NULL; i++)
		json_array_append_new(a, peer_json(p, now));
	adm_reply(ar, 200, json_pack("{s:o, s:o}", "peers", a, "lanes", jobs_lanes_json(ar->hr->app->jobs)));
}

/* ---- audit (R16) ----------------------------------------------------------------------- */

/* $1 limit, $2 after (seq), $3 object id, $4 object type.  Ordered by seq; chained records
 * only (a pending record has no seq yet, docs/audit.md). */
static const char *sql_audit_show =
	"WITH page AS (SELECT x.*, row_number() OVER (ORDER BY x.seq) AS rn FROM ("
	"  SELECT * FROM audit_log WHERE seq IS NOT NULL AND object_id = $3 AND ($4::text IS NULL OR object_type = $4)"
	"  AND ($2::bigint IS NULL OR seq > $2::bigint) ORDER BY seq LIMIT $1::int + 1) x)" PAGE_JSON(
		"records",
		"jsonb_build_object('seq', p.seq, 'at', p.at, 'actor', p.actor, 'action', p.action, 'object_type',"
		" p.object_type, 'object_id', p.object_id, 'reason', p.reason, 'details', p.details)",
		"seq");

static void audit_show(struct adm_req *ar)
{
	char obj[160], type[64], limit[16], after[32];
	const char *off = NULL;
	const char *p[4] = {limit, NULL, adm_query(ar, "object", obj, sizeof(obj)),
			    adm_query(ar, "type", type, sizeof(type))};
	struct ra_err e = {0};

	if (p[2] == NULL) {
		ra_err_set(&e, RA_E_INVALID, "object", "?object=ID is required");
		adm_fail(ar, &e);
		return;
	}
	if (adm_page(ar, limit, sizeof(limit), after, sizeof(after), &off, &e) != 0 ||
	    adm_cursor_id(off, &e) != 0) {
		adm_fail(ar, &e);
		return;
	}
	p[1] = off;
	adm_read(ar, sql_audit_show, 4, p, "record");
}

/* The whole chain is read and hashed: blocking libpq on a pool thread with its own
 * connection, never on the loop. */
struct verify {
	struct adm_req *ar;
	char *conninfo;
	struct audit_report rep;
	struct ra_err err;
	int rc;
};

static void verify_work(void *data)
{
	struct verify *v = data;
	v->rc = audit_verify(v->conninfo, &v->rep, &v->err);
}

static void verify_after(void *data)
{
	struct verify *v = data;

	blocking_busy = 0;
	audit_watch_note(v->rc, v->rep.count);
	if (v->rc != 0 && v->rc != RA_E_RULE) {
		adm_fail(v->ar, &v->err);
	} else {
		json_t *o = json_pack("{s:b, s:I, s:I, s:s, s:I, s:f}", "whole", v->rc == 0, "count",
				      (json_int_t)v->rep.count, "head_seq", (json_int_t)v->rep.head_seq,
				      "head_hash", v->rep.head_hash, "pending", (json_int_t)v->rep.pending,
				      "pending_oldest_seconds", v->rep.pending_oldest_s);
		if (v->rc == RA_E_RULE) {
			json_object_set_new(o, "bad_seq", json_integer(v->rep.bad_seq));
			json_object_set_new(o, "why", json_string(v->rep.why));
		}
		adm_reply(v->ar, 200, o);
	}
	free(v->conninfo);
	free(v);
}

static void audit_verify_route(struct adm_req *ar)
{
	struct verify *v;
	struct ra_err e = {0};

	if (blocking_claim(ar) != 0)
		return;
	v = calloc(1, sizeof(*v));
	if (v == NULL || (v->conninfo = strdup(cfg_str(ar->hr->app->cfg, "database_url"))) == NULL) {
		free(v);
		blocking_busy = 0;
		ra_err_set(&e, RA_E_NOMEM, "", "out of memory");
		adm_fail(ar, &e);
		return;
	}
	v->ar = ar;
	if (pool_run(ar->hr->app->loop, verify_work, verify_after, v) != 0) {
		blocking_busy = 0;
		free(v->conninfo);
		free(v);
		ra_err_set(&e, RA_E_INTERNAL, "", "cannot queue work");
		adm_fail(ar, &e);
	}
}

/* The inclusion proof (docs/audit.md "Checkpoints"): the whole chain's hashes are read, on a
 * pool thread with its own connection. */
struct proof {
	struct adm_req *ar;
	char *conninfo;
	long long seq;
	json_t *out;
	struct ra_err err;
	int rc;
};

static void proof_work(void *data)
{
	struct proof *p = data;

	p->rc = audit_ckpt_inclusion(p->conninfo, p->seq, &p->out, &p->err);
}

static void proof_after(void *data)
{
	struct proof *p = data;

	if (p->rc != 0)
		adm_fail(p->ar, &p->err);
	else
		adm_reply(p->ar, 200, p->out);
	free(p->conninfo);
	free(p);
}

static void audit_proof_route(struct adm_req *ar)
{
	struct proof *p;
	struct ra_err e = {0};
	char *end = NULL;
	long long seq = strtoll(ar->id, &end, 10);

	if (ar->id[0] < '1' || ar->id[0] > '9' || end == NULL || *end != '\0' || seq <= 0) {
		ra_err_set(&e, RA_E_INVALID, "seq", "the record's seq: a positive integer");
		adm_fail(ar, &e);
		return;
	}
	p = calloc(1, sizeof(*p));
	if (p == NULL || (p->conninfo = strdup(cfg_str(ar->hr->app->cfg, "database_url"))) == NULL) {
		free(p);
		ra_err_set(&e, RA_E_NOMEM, "", "out of memory");
		adm_fail(ar, &e);
		return;
	}
	p->ar = ar;
	p->seq = seq;
	if (pool_run(ar->hr->app->loop, proof_work, proof_after, p) != 0) {
		free(p->conninfo);
		free(p);
		ra_err_set(&e, RA_E_INTERNAL, "", "cannot queue work");
		adm_fail(ar, &e);
	}
}

const struct adm_route adm_routes_misc[] = {
	{"GET", "/v1/admin/contracts", "support", "admin_contract_list", contract_list},
	{"POST", "/v1/admin/contracts", "admin", "admin_contract_create", contract_create},
	{"GET", "/v1/admin/contracts/{id}", "support", "admin_contract_show", contract_show},
	{"POST", "/v1/admin/contracts/{id}/close", "admin", "admin_contract_close", contract_close},
	{"GET", "/v1/admin/orders/{id}", "support", "admin_order_show", order_show},
	{"POST", "/v1/admin/orders/{id}/approve", "support", "admin_order_approve", order_approve},
	{"POST", "/v1/admin/orders/{id}/reject", "support", "admin_order_reject", order_reject},
	{"GET", "/v1/admin/jobs", "support", "admin_jobs_list", jobs_list},
	{"POST", "/v1/admin/jobs/{id}/retry", "support", "admin_job_retry", job_retry},
	{"GET", "/v1/admin/peers", "support", "admin_peers_list", peers_list},
	{"GET", "/v1/admin/schedules", "support", "admin_schedules_list", schedules_list},
	{"GET", "/v1/admin/audit", "support", "admin_audit_show", audit_show},
	{"GET", "/v1/admin/audit/verify", "support", "admin_audit_verify", audit_verify_route},
	{"GET", "/v1/admin/audit/proof/{id}", "support", "admin_audit_proof", audit_proof_route},
	{NULL, NULL, NULL, NULL, NULL},
};
