/*
 * test_outbox.c - the outbox helper (ra/db/outbox.h) on a real PostgreSQL through the async
 * pool: a state change, its job and its audit record commit together; a change decided on a
 * state that moved meanwhile is RA_E_CONFLICT and leaves nothing; a job's idempotency key,
 * priority and run_at; a unit queued in the caller's own transaction follows its ROLLBACK;
 * a step the machine audits is refused without its audit record.
 *
 * The rows changed here live in a table of the test's own (SQL seeding: the helper is
 * infrastructure and knows no flow's table; the flows' tests reach their rows through the
 * product's interfaces).
 */
#include <criterion/criterion.h>
#include <libpq-fe.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <uv.h>

#include "ra/db/db.h"
#include "ra/db/outbox.h"
#include "tests/lib/rt.h"
#include "workflows/wf_cert.h"

static const char *sql_move = "UPDATE things SET state = $2, note = $4 WHERE id = $1 AND state = $3";
static const char *sql_move_any = "UPDATE things SET state = $2 WHERE id = $1 AND state = ANY($3::text[])";

enum mode { COMMIT, QUEUE_COMMIT, QUEUE_ROLLBACK, QUEUE_AND_COMMIT };

struct h {
	uv_loop_t loop;
	uv_timer_t timer;
	uv_timer_t after; /* ends the run on the next loop turn (after the pool's own after-commit work) */
	struct db_pool *pool;
	struct db_conn *conn;
	struct outbox *ob;
	enum mode mode;
	int rows[OB_MAX_OPS];
	int code; /* 0 or the RA_E_* of the unit */
	char msg[256];
};

static void exec_ok(const char *db, const char *sql)
{
	char err[512];

	cr_assert_eq(rt_exec(db, sql, err, sizeof(err)), 0, "%s: %s", sql, err);
}

static void expect_sql(const char *db, const char *sql, const char *want)
{
	char *v = rt_sql(db, sql);

	cr_expect(v && strcmp(v, want) == 0, "%s: got '%s', want '%s'", sql, v ? v : "NULL", want);
	free(v);
}

static char *db_with_things(void)
{
	char *db = rt_db_new();

	exec_ok(db, "CREATE TABLE things (id text PRIMARY KEY, state text NOT NULL, note text)");
	exec_ok(db, "INSERT INTO things VALUES ('t-1', 'issued', NULL), ('t-2', 'requested', NULL)");
	return db;
}

static void on_closed(void *data)
{
	(void)data;
}

static void end(struct h *h)
{
	if (!uv_is_closing((uv_handle_t *)&h->after))
		uv_close((uv_handle_t *)&h->after, NULL);
	if (h->conn)
		db_release(h->conn);
	h->conn = NULL;
	db_pool_close(h->pool, on_closed, h);
}

static void on_ended(PGresult *res, const struct ra_err *err, void *data)
{
	struct h *h = data;

	(void)res;
	if (err && h->code == 0) {
		h->code = err->code;
		snprintf(h->msg, sizeof(h->msg), "%.200s", err->msg);
	}
	end(h);
}

static void on_after(uv_timer_t *t)
{
	end(t->data);
}

static void on_unit(const int *rows, const struct ra_err *err, void *data)
{
	struct h *h = data;

	memcpy(h->rows, rows, sizeof(h->rows));
	if (err) {
		h->code = err->code;
		snprintf(h->msg, sizeof(h->msg), "%s", err->msg);
	}
	if (h->mode == COMMIT || h->mode == QUEUE_AND_COMMIT) {
		/* ob_queue_commit committed, or after an error leaves the rollback to the release; the
		 * pool wakes the runners once this callback returns, so the end waits a turn */
		uv_timer_start(&h->after, on_after, 0, 0);
		return;
	}
	db_conn_query(h->conn, h->mode == QUEUE_COMMIT && !err ? "COMMIT" : "ROLLBACK", 0, NULL, on_ended, h);
}

static void on_begun(PGresult *res, const struct ra_err *err, void *data)
{
	struct h *h = data;

	(void)res;
	cr_assert_null(err, "BEGIN: %s", err ? err->msg : "");
	if (h->mode == QUEUE_AND_COMMIT)
		ob_queue_commit(h->ob, h->conn, on_unit, h);
	else
		ob_queue(h->ob, h->conn, on_unit, h);
}

static void on_conn(struct db_conn *conn, const struct ra_err *err, void *data)
{
	struct h *h = data;

	cr_assert_null(err, "acquire: %s", err ? err->msg : "");
	h->conn = conn;
	db_conn_query(conn, "BEGIN", 0, NULL, on_begun, h);
}

static void on_start(uv_timer_t *timer)
{
	struct h *h = timer->data;

	if (!db_pool_up(h->pool)) {
		uv_timer_start(timer, on_start, 20, 0);
		return;
	}
	uv_close((uv_handle_t *)timer, NULL);
	if (h->mode == COMMIT)
		ob_commit(h->ob, h->pool, on_unit, h);
	else
		db_acquire(h->pool, on_conn, h);
}

/* The after-commit wake-ups a test asks to see (db_wake_set): the lanes' bits, and how often. */
struct wakes {
	unsigned mask;
	int calls;
};
static struct wakes *g_wakes;

static void on_wake(void *data, unsigned mask)
{
	struct wakes *w = data;

	w->mask |= mask;
	w->calls++;
}

static unsigned lane_of(const char *kind, void *data)
{
	(void)data;
	return strcmp(kind, "mail") == 0 ? 1u : 2u;
}

/* Runs the planned unit on a fresh pool; returns its RA_E_* code (0 on success). */
static int run(const char *db, struct outbox *ob, enum mode mode, struct h *h)
{
	memset(h, 0, sizeof(*h));
	h->ob = ob;
	h->mode = mode;
	uv_loop_init(&h->loop);
	h->pool = db_pool_new(&h->loop, db, 1, 5000);
	if (g_wakes != NULL)
		db_wake_set(h->pool, on_wake, lane_of, g_wakes);
	uv_timer_init(&h->loop, &h->timer);
	h->timer.data = h;
	uv_timer_init(&h->loop, &h->after);
	h->after.data = h;
	uv_timer_start(&h->timer, on_start, 0, 0);
	uv_run(&h->loop, UV_RUN_DEFAULT);
	uv_loop_close(&h->loop);
	db_pool_free(h->pool);
	return h->code;
}

/* issued --revoke--> revoked, decided by the certificate machine */
static void plan_revoke(struct outbox *ob, const char *id, const char *key)
{
	struct wf_facts f = {.revoke_reason = WF_RSN_KEY_COMPROMISE};
	struct wf_result r;

	cr_assert_eq(wf_step(&wf_cert, WF_CERT_ISSUED, WF_CERT_REVOKE, &f, &r), 0);
	cr_assert(r.actions & WF_ACT_AUDIT);
	ob_step(ob, sql_move, &wf_cert, WF_CERT_ISSUED, &r, id, 1, (const char *const[]){"lost laptop"});
	ob_job(ob, &(struct ob_job){.kind = "ca_revoke",
				    .payload = json_pack("{s:s}", "certificate_id", id),
				    .key = key});
	ob_audit(ob, "support:alice", "cert.revoked", "certificate", id, "keyCompromise",
		 json_pack("{s:s}", "comment", "lost laptop"));
}

Test(outbox, state_job_and_audit_record_commit_together_with_state_names_from_the_machine, .timeout = 60)
{
	char *db = db_with_things();
	struct outbox ob = {0};
	struct h h;

	plan_revoke(&ob, "t-1", "ca_revoke:t-1");
	cr_assert_eq(run(db, &ob, COMMIT, &h), 0, "%s", h.msg);
	cr_expect_eq(ob.n, 0, "the plan is emptied");
	cr_expect_eq(h.rows[0], 1);
	expect_sql(db, "SELECT state || ' ' || note FROM things WHERE id = 't-1'", "revoked lost laptop");
	expect_sql(
		db,
		"SELECT kind || ' ' || (payload->>'certificate_id') || ' ' || state || ' ' || priority FROM jobs"
		" WHERE idempotency_key = 'ca_revoke:t-1'",
		"ca_revoke t-1 queued 100");
	expect_sql(
		db,
		"SELECT actor || ' ' || action || ' ' || object_id || ' ' || reason || ' ' || details::text"
		" FROM audit_log",
		"support:alice cert.revoked t-1 keyCompromise {\"comment\": \"lost laptop\"}");
	free(db);
}

Test(outbox, a_state_changed_meanwhile_is_a_conflict_and_leaves_nothing, .timeout = 60)
{
	char *db = db_with_things();
	struct outbox ob = {0};
	struct h h;

	/* someone else changed it first: the plan was decided on "issued".  (SQL: `things` is this
	 * test's own table for the outbox mechanism alone, not a state of the product) */
	exec_ok(db, "UPDATE things SET state = 'active' WHERE id = 't-1'");
	plan_revoke(&ob, "t-1", "ca_revoke:t-1");
	cr_assert_eq(run(db, &ob, COMMIT, &h), RA_E_CONFLICT, "%s", h.msg);
	expect_sql(db, "SELECT state || coalesce(note, '-') FROM things WHERE id = 't-1'", "active-");
	expect_sql(db, "SELECT count(*) FROM jobs", "0");
	expect_sql(db, "SELECT count(*) FROM audit_log", "0");
	free(db);
}

Test(outbox, a_repeated_idempotency_key_makes_no_second_job_and_priority_and_run_at_are_kept, .timeout = 60)
{
	char *db = db_with_things();
	struct outbox ob = {0};
	struct h h;

	ob_job(&ob, &(struct ob_job){
			    .kind = "mail", .key = "k-1", .priority = 7, .run_at = "2031-01-01T00:00:00Z"});
	ob_job(&ob, &(struct ob_job){.kind = "mail", .payload = json_pack("{s:i}", "n", 2), .key = "k-1"});
	ob_job(&ob, &(struct ob_job){.kind = "cert_issue"});
	cr_assert_eq(run(db, &ob, COMMIT, &h), 0, "%s", h.msg);
	cr_expect_eq(h.rows[0], 1);
	cr_expect_eq(h.rows[1], 0, "the second insert with k-1 is a no-op");
	expect_sql(db, "SELECT count(*) FROM jobs", "2");
	expect_sql(db,
		   "SELECT payload::text || ' ' || priority || ' ' || (run_at = '2031-01-01T00:00:00Z')"
		   " FROM jobs WHERE idempotency_key = 'k-1'",
		   "{} 7 true");
	expect_sql(db, "SELECT priority || ' ' || (run_at <= now()) FROM jobs WHERE kind = 'cert_issue'",
		   "10 true");
	free(db);
}

/* A committed job wakes its lane (and the other processes) only when it is due now: one dated
 * ahead, or one whose idempotency key was there already, wakes nobody, since a claim now would
 * find nothing (docs/jobs.md "Wake-up after the commit").  A rolled-back unit wakes nobody. */
Test(outbox, only_a_job_due_now_wakes_its_lane_at_the_commit, .timeout = 60)
{
	char *db = db_with_things();
	struct wakes w = {0};
	struct outbox ob = {0};
	struct h h;

	g_wakes = &w;
	ob_job(&ob, &(struct ob_job){.kind = "mail", .key = "k-later", .run_at = "2031-01-01T00:00:00Z"});
	cr_assert_eq(run(db, &ob, COMMIT, &h), 0, "%s", h.msg);
	cr_expect_eq(h.rows[0], 1, "the job dated ahead is queued");
	cr_expect_eq(w.calls, 0, "and wakes nobody (mask %u)", w.mask);

	memset(&ob, 0, sizeof(ob));
	ob_job(&ob, &(struct ob_job){.kind = "mail", .key = "k-now"});
	cr_assert_eq(run(db, &ob, QUEUE_ROLLBACK, &h), 0, "%s", h.msg);
	cr_expect_eq(w.calls, 0, "a rolled-back unit wakes nobody");

	memset(&ob, 0, sizeof(ob));
	ob_job(&ob, &(struct ob_job){.kind = "cert_issue", .key = "k-due"});
	cr_assert_eq(run(db, &ob, COMMIT, &h), 0, "%s", h.msg);
	cr_expect_eq(w.calls, 1, "a job due now wakes at its commit");
	cr_expect_eq(w.mask, 2u, "its own lane only (mask %u)", w.mask);

	memset(&w, 0, sizeof(w));
	memset(&ob, 0, sizeof(ob));
	ob_job(&ob, &(struct ob_job){.kind = "cert_issue", .key = "k-due"});
	ob_job(&ob, &(struct ob_job){.kind = "mail", .key = "k-later"});
	cr_assert_eq(run(db, &ob, COMMIT, &h), 0, "%s", h.msg);
	cr_expect_eq(h.rows[0] + h.rows[1], 0, "both keys were there");
	cr_expect_eq(w.calls, 0, "an insert that made no job wakes nobody");
	g_wakes = NULL;
	expect_sql(db, "SELECT count(*) FROM jobs", "2");
	free(db);
}

Test(outbox, a_unit_in_the_callers_transaction_follows_its_rollback_and_its_commit, .timeout = 60)
{
	char *db = db_with_things();
	struct outbox ob = {0};
	struct h h;

	ob_move_any(&ob, sql_move_any, &wf_cert, 1u << WF_CERT_REQUESTED | 1u << WF_CERT_KEY_GENERATED,
		    WF_CERT_FAILED, "t-2", 0, NULL);
	ob_audit(&ob, "system", "cert.failed", "certificate", "t-2", "test", NULL);
	cr_assert_eq(run(db, &ob, QUEUE_ROLLBACK, &h), 0, "%s", h.msg);
	cr_expect_eq(h.rows[0], 1);
	expect_sql(db, "SELECT state FROM things WHERE id = 't-2'", "requested");
	expect_sql(db, "SELECT count(*) FROM audit_log", "0");

	ob_move_any(&ob, sql_move_any, &wf_cert, 1u << WF_CERT_REQUESTED | 1u << WF_CERT_KEY_GENERATED,
		    WF_CERT_FAILED, "t-2", 0, NULL);
	ob_audit(&ob, "system", "cert.failed", "certificate", "t-2", "test", NULL);
	cr_assert_eq(run(db, &ob, QUEUE_COMMIT, &h), 0, "%s", h.msg);
	expect_sql(db, "SELECT state FROM things WHERE id = 't-2'", "failed");
	expect_sql(db, "SELECT action || ' ' || details::text FROM audit_log", "cert.failed {}");
	free(db);
}

Test(outbox, a_step_the_machine_audits_is_refused_without_its_audit_record, .timeout = 60)
{
	char *db = db_with_things();
	struct outbox ob = {0};
	struct wf_result r;
	struct h h;

	cr_assert_eq(wf_step(&wf_cert, WF_CERT_ISSUED, WF_CERT_REVOKE,
			     &(struct wf_facts){.revoke_reason = WF_RSN_UNSPECIFIED}, &r),
		     0);
	ob_step(&ob, sql_move, &wf_cert, WF_CERT_ISSUED, &r, "t-1", 1, (const char *const[]){NULL});
	cr_assert_eq(run(db, &ob, COMMIT, &h), RA_E_INTERNAL, "%s", h.msg);
	expect_sql(db, "SELECT state FROM things WHERE id = 't-1'", "issued");
	free(db);
}

Test(outbox, queue_and_commit_commits_a_unit_and_never_one_whose_condition_failed, .timeout = 60)
{
	char *db = db_with_things();
	struct outbox ob = {0};
	struct h h;

	/* t-1 is issued: the first move holds, the second (decided on "requested") does not */
	ob_move(&ob, sql_move, &wf_cert, WF_CERT_ISSUED, WF_CERT_ACTIVE, "t-1", 1,
		(const char *const[]){"a"});
	ob_move(&ob, sql_move, &wf_cert, WF_CERT_ISSUED, WF_CERT_ACTIVE, "t-2", 1,
		(const char *const[]){"b"});
	ob_job(&ob, &(struct ob_job){.kind = "mail", .key = "m-1"});
	ob_audit(&ob, "system", "cert.activated", "certificate", "t-1", NULL, NULL);
	cr_assert_eq(run(db, &ob, QUEUE_AND_COMMIT, &h), RA_E_CONFLICT, "%s", h.msg);
	expect_sql(db, "SELECT string_agg(state, ',' ORDER BY id) FROM things", "issued,requested");
	expect_sql(db, "SELECT count(*) FROM jobs", "0");
	expect_sql(db, "SELECT count(*) FROM audit_log", "0");

	/* the last statement conditioned: COMMIT still waits for its answer */
	ob_job(&ob, &(struct ob_job){.kind = "mail", .key = "m-2"});
	ob_move(&ob, sql_move, &wf_cert, WF_CERT_ISSUED, WF_CERT_ACTIVE, "t-2", 1,
		(const char *const[]){"b"});
	cr_assert_eq(run(db, &ob, QUEUE_AND_COMMIT, &h), RA_E_CONFLICT, "%s", h.msg);
	expect_sql(db, "SELECT count(*) FROM jobs", "0");

	ob_move(&ob, sql_move, &wf_cert, WF_CERT_ISSUED, WF_CERT_ACTIVE, "t-1", 1,
		(const char *const[]){"a"});
	ob_job(&ob, &(struct ob_job){.kind = "mail", .key = "m-1"});
	ob_audit(&ob, "system", "cert.activated", "certificate", "t-1", NULL, NULL);
	cr_assert_eq(run(db, &ob, QUEUE_AND_COMMIT, &h), 0, "%s", h.msg);
	expect_sql(db, "SELECT string_agg(state, ',' ORDER BY id) FROM things", "active,requested");
	expect_sql(db, "SELECT count(*) FROM jobs WHERE idempotency_key = 'm-1'", "1");
	expect_sql(db, "SELECT count(*) FROM audit_log", "1");
	free(db);
}

/* one row per certificate, as order_issue_plan makes them; a second run makes none */
static const char *sql_many =
	"INSERT INTO things SELECT 'n-' || g, 'requested', NULL FROM generate_series(1, $1::int) g"
	" ON CONFLICT (id) DO NOTHING RETURNING id, jsonb_build_object('n', id)::text";

static void plan_many(struct outbox *ob, const char *n)
{
	int src = ob_stmt(ob, sql_many, 1, (const char *const[]){n}, 0);

	cr_assert_eq(src, 0);
	ob_job_each(ob, src, "cert_issue", "certificate_id", "cert_issue:");
	ob_audit_each(ob, src, "system", "cert.requested", "certificate", "test");
}

Test(outbox, a_job_and_an_audit_record_for_each_row_a_statement_created, .timeout = 60)
{
	char *db = db_with_things();
	struct outbox ob = {0};
	struct h h;

	plan_many(&ob, "3");
	cr_assert_eq(run(db, &ob, COMMIT, &h), 0, "%s", h.msg);
	cr_expect_eq(h.rows[0], 3);
	cr_expect_eq(h.rows[1], 3);
	cr_expect_eq(h.rows[2], 3);
	expect_sql(
		db,
		"SELECT string_agg(idempotency_key || '=' || (payload->>'certificate_id'), ',' ORDER BY id) FROM jobs",
		"cert_issue:n-1=n-1,cert_issue:n-2=n-2,cert_issue:n-3=n-3");
	expect_sql(db, "SELECT string_agg(object_id || details::text, ',' ORDER BY object_id) FROM audit_log",
		   "n-1{\"n\": \"n-1\"},n-2{\"n\": \"n-2\"},n-3{\"n\": \"n-3\"}");

	/* nothing new: no job, no record, still a successful unit */
	plan_many(&ob, "3");
	cr_assert_eq(run(db, &ob, COMMIT, &h), 0, "%s", h.msg);
	cr_expect_eq(h.rows[0], 0);
	expect_sql(db, "SELECT count(*) FROM jobs", "3");
	expect_sql(db, "SELECT count(*) FROM audit_log", "3");
	free(db);
}

Test(outbox, the_blocking_form_runs_the_same_unit_and_reports_a_conflict, .timeout = 60)
{
	char *db = db_with_things();
	PGconn *c = PQconnectdb(db);
	struct outbox ob = {0};
	struct ra_err e = {0};
	int rows[OB_MAX_OPS];

	cr_assert_eq(PQstatus(c), CONNECTION_OK);
	PQclear(PQexec(c, "BEGIN"));
	plan_many(&ob, "2");
	cr_expect_eq(ob_exec(&ob, c, rows, &e), 0, "%s", e.msg);
	cr_expect_eq(rows[1], 2);
	plan_revoke(&ob, "t-2", "ca_revoke:t-2"); /* t-2 is requested, not issued */
	cr_expect_eq(ob_exec(&ob, c, rows, &e), RA_E_CONFLICT);
	PQclear(PQexec(c, "ROLLBACK"));
	PQclear(PQexec(c, "BEGIN"));
	plan_revoke(&ob, "t-1", "ca_revoke:t-1");
	cr_expect_eq(ob_exec(&ob, c, rows, &e), 0, "%s", e.msg);
	PQclear(PQexec(c, "COMMIT"));
	PQfinish(c);
	expect_sql(db, "SELECT count(*) FROM things", "2"); /* the first transaction rolled back */
	expect_sql(db, "SELECT string_agg(action, ',' ORDER BY action) FROM audit_log", "cert.revoked");
	expect_sql(db, "SELECT state FROM things WHERE id = 't-1'", "revoked");
	free(db);
}

Test(outbox, a_job_for_each_row_before_a_deciding_statement_is_refused_and_changes_nothing, .timeout = 60)
{
	char *db = db_with_things();
	struct outbox ob = {0};
	struct h h;

	plan_many(&ob, "2");
	ob_move(&ob, sql_move, &wf_cert, WF_CERT_ISSUED, WF_CERT_ACTIVE, "t-1", 1,
		(const char *const[]){"x"});
	cr_assert_eq(run(db, &ob, COMMIT, &h), RA_E_INTERNAL, "%s", h.msg);
	expect_sql(db, "SELECT count(*) || string_agg(state, ',' ORDER BY id) FROM things",
		   "2issued,requested");
	expect_sql(db, "SELECT count(*) FROM jobs", "0");
	free(db);
}

static void read_max(PGresult *res, const struct ra_err *err, void *data)
{
	cr_expect_null(err);
	snprintf(data, 32, "%s", PQgetvalue(res, 0, 0));
}

Test(outbox, jobs_with_each_rows_own_key_and_payload_and_a_statement_the_caller_reads, .timeout = 60)
{
	char *db = db_with_things();
	struct outbox ob = {0};
	char max[32] = "";
	struct h h;
	int src;

	src = ob_stmt(
		&ob,
		"SELECT 'mail:' || id, jsonb_build_object('thing', id, 'state', state)::text FROM things"
		" WHERE state <> $1",
		1, (const char *const[]){"nothing"}, 0);
	ob_job_rows(&ob, src, "mail");
	ob_stmt_read(&ob, "SELECT max(id) FROM things", 0, NULL, 0, read_max, max);
	cr_assert_eq(run(db, &ob, COMMIT, &h), 0, "%s", h.msg);
	cr_expect_eq(h.rows[1], 2);
	cr_expect_str_eq(max, "t-2");
	expect_sql(
		db,
		"SELECT string_agg(idempotency_key || '=' || (payload->>'thing'), ',' ORDER BY idempotency_key)"
		" FROM jobs WHERE kind = 'mail'",
		"mail:t-1=t-1,mail:t-2=t-2");
	free(db);
}

/* ---- prepared statements on the pool's sessions (ra/db/db.c, issue #16) ------------------- */

/* marked: prepared once per session, and left to PostgreSQL's plan choice (ra/db/db.h) */
static const char *sql_plus = DB_PLAN_ONCE "SELECT $1::int + 1";
static const char *sql_prepared =
	"SELECT count(*) FROM pg_prepared_statements"
	" WHERE statement = '" DB_PLAN_ONCE "SELECT $1::int + 1'";
/* after seven runs PostgreSQL (plan_cache_mode = auto) plans it once, not per run */
static const char *sql_generic =
	"SELECT (generic_plans > 0 AND current_setting('plan_cache_mode') = 'auto')::text"
	" FROM pg_prepared_statements WHERE statement = '" DB_PLAN_ONCE "SELECT $1::int + 1'";
/* not marked: sent as it is, planned for its values at every run */
static const char *sql_minus = "SELECT $1::int - 1";
static const char *sql_unprepared =
	"SELECT count(*) FROM pg_prepared_statements WHERE statement LIKE '%$1::int - 1%'";

struct ph {
	uv_loop_t loop;
	uv_timer_t timer;
	struct db_pool *pool;
	const char *db;
	int step, tries, after_reconnect;
	char got[16][16]; /* step results */
	char err[256];
};

static void ph_next(struct ph *h);

static void on_ph_timer(uv_timer_t *t)
{
	ph_next(t->data);
}

static void on_ph(PGresult *res, const struct ra_err *err, void *data)
{
	struct ph *h = data;

	if (err != NULL) {
		/* only while the pool finds its terminated session gone and reconnects */
		if (h->after_reconnect && h->step == 12 && h->tries++ < 100) {
			uv_timer_start(&h->timer, on_ph_timer, 50, 0);
			return;
		}
		snprintf(h->err, sizeof(h->err), "step %d: %.200s", h->step, err->msg);
		h->step = 99;
	} else {
		snprintf(h->got[h->step], sizeof(h->got[0]), "%s", PQgetvalue(res, 0, 0));
		h->step++;
	}
	ph_next(h);
}

static void ph_next(struct ph *h)
{
	char err[256];

	switch (h->step) {
	case 0:
	case 1:
	case 2:
	case 3:
	case 4:
	case 5:
	case 6:
	case 12: /* the statement, seven times on one session; again after the reconnect */
		if (!db_pool_up(h->pool)) {
			uv_timer_start(&h->timer, on_ph_timer, 20, 0);
			return;
		}
		db_query(h->pool, sql_plus, 1, (const char *const[]){"41"}, on_ph, h);
		return;
	case 7:
	case 13:
		db_query(h->pool, sql_prepared, 0, NULL, on_ph, h);
		return;
	case 8:
		db_query(h->pool, sql_generic, 0, NULL, on_ph, h);
		return;
	case 9:
		db_query(h->pool, sql_minus, 1, (const char *const[]){"43"}, on_ph, h);
		return;
	case 10:
		db_query(h->pool, sql_unprepared, 0, NULL, on_ph, h);
		return;
	case 11: /* the session ends under the pool (a restart, an administrator) */
		cr_assert_eq(rt_exec(h->db,
				     "SELECT pg_terminate_backend(pid) FROM pg_stat_activity"
				     " WHERE datname = current_database() AND pid <> pg_backend_pid()",
				     err, sizeof(err)),
			     0, "%s", err);
		h->step = 12;
		h->after_reconnect = 1;
		uv_timer_start(&h->timer, on_ph_timer, 50, 0);
		return;
	default:
		uv_close((uv_handle_t *)&h->timer, NULL);
		db_pool_close(h->pool, on_closed, h);
	}
}

Test(outbox, pool_statements_are_prepared_once_per_session_and_again_after_a_reconnect, .timeout = 60)
{
	char *db = rt_db_new();
	struct ph h = {.db = db};

	uv_loop_init(&h.loop);
	h.pool = db_pool_new(&h.loop, db, 1, 5000);
	uv_timer_init(&h.loop, &h.timer);
	h.timer.data = &h;
	uv_timer_start(&h.timer, on_ph_timer, 0, 0);
	uv_run(&h.loop, UV_RUN_DEFAULT);
	uv_loop_close(&h.loop);
	db_pool_free(h.pool);
	cr_assert_str_empty(h.err);
	cr_expect_str_eq(h.got[0], "42");
	cr_expect_str_eq(h.got[6], "42", "run by name, the same answer");
	cr_expect_str_eq(h.got[7], "1", "prepared once on the session, not once per run");
	cr_expect_str_eq(h.got[8], "true", "a marked statement is planned once (generic plan), not per run");
	cr_expect_str_eq(h.got[9], "42", "an unmarked statement runs unprepared");
	cr_expect_str_eq(h.got[10], "0", "an unmarked statement is never prepared: planned for its values");
	cr_expect_str_eq(h.got[12], "42", "after the reconnect: prepared again on the new session");
	cr_expect_str_eq(h.got[13], "1");
	free(db);
}
