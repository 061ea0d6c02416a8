/*
 * test_audit.c - the hash-chained, append-only audit log (R16) on a real PostgreSQL:
 * concurrent appends form one chain once the sequencer (audit_sequence(), migrations/0018)
 * has chained them, a record committing late is chained later and never skipped, only one
 * session sequences at a time, `ra audit verify` passes on an untouched log, names the first
 * altered or missing record or content and counts the pending ones, UPDATE/DELETE/TRUNCATE are refused, the outbox
 * commits a state change's job and audit record together or not at all, and the C append
 * helper works inside a caller's transaction on the async pool.
 */
#include <criterion/criterion.h>
#include <jansson.h>
#include <libpq-fe.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "ra/db/audit.h"
#include "ra/db/db.h"
#include "tests/lib/rt.h"

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

/* Runs `ra audit verify`; returns its exit status, output in *out (caller frees). */
static int verify(const char *db, char **out)
{
	char dbenv[600];
	const char *env[] = {dbenv, NULL};

	snprintf(dbenv, sizeof(dbenv), "RA_DATABASE_URL=%s", db);
	return rt_ra_cmd(env, out, "audit", "verify", NULL);
}

/* One sequencer batch as `ra serve`'s sequencer runs it, on a connection of its own (which
 * takes the leadership lock for its lifetime); returns the number chained. */
static int sequence(const char *db)
{
	char *v = rt_sql(db, "SELECT chained FROM audit_sequence(100000)");
	int n = v ? atoi(v) : -2;

	free(v);
	cr_assert_geq(n, 0, "audit_sequence: %d", n);
	return n;
}

static void append_n(const char *db, int n)
{
	for (int i = 0; i < n; i++) {
		char sql[400];
		snprintf(sql, sizeof(sql),
			 "INSERT INTO audit_log (actor, action, object_type, object_id, reason, details)"
			 " VALUES ('support:alice', 'cert.revoked', 'certificate', '%d', 'keyCompromise',"
			 " '{\"serial\": \"%04X\", \"note\": \"Grüße\"}')",
			 i + 1, i + 1);
		exec_ok(db, sql);
	}
}

/* ---- concurrency ---------------------------------------------------------------------- */

#define THREADS 8
#define PER_THREAD 40

struct writer {
	const char *db;
	int id;
	char err[256];
};

static int run_sql(PGconn *c, const char *sql, const char *const *p, int n, char *err, size_t cap)
{
	PGresult *r = PQexecParams(c, sql, n, NULL, p, NULL, NULL, 0);
	int ok = PQresultStatus(r) == PGRES_COMMAND_OK || PQresultStatus(r) == PGRES_TUPLES_OK;

	if (!ok)
		snprintf(err, cap, "%s", PQresultErrorMessage(r));
	PQclear(r);
	return ok ? 0 : -1;
}

/* Half the records go in one at a time, half two per transaction, all at once from THREADS
 * connections: the chain must still be a single line. */
static void *writer_main(void *arg)
{
	struct writer *w = arg;
	PGconn *c = PQconnectdb(w->db);
	char actor[32], oid[32];
	const char *p[2] = {actor, oid};
	static const char *ins =
		"INSERT INTO audit_log (actor, action, object_type, object_id, reason, details)"
		" VALUES ($1, 'test.append', 'thing', $2, NULL, NULL)";

	if (PQstatus(c) != CONNECTION_OK) {
		snprintf(w->err, sizeof(w->err), "connect: %s", PQerrorMessage(c));
		goto out;
	}
	snprintf(actor, sizeof(actor), "support:writer%d", w->id);
	for (int i = 0; i < PER_THREAD; i += 2) {
		int tx = i % 4 == 0;
		snprintf(oid, sizeof(oid), "%d", i);
		if ((tx && run_sql(c, "BEGIN", NULL, 0, w->err, sizeof(w->err))) ||
		    run_sql(c, ins, p, 2, w->err, sizeof(w->err)))
			goto out;
		snprintf(oid, sizeof(oid), "%d", i + 1);
		if (run_sql(c, ins, p, 2, w->err, sizeof(w->err)) ||
		    (tx && run_sql(c, "COMMIT", NULL, 0, w->err, sizeof(w->err))))
			goto out;
	}
out:
	PQfinish(c);
	return NULL;
}

Test(audit, r16_concurrent_appends_form_one_unbroken_chain, .timeout = 120)
{
	char *db = rt_db_new(), *out = NULL, want[64];
	pthread_t t[THREADS];
	struct writer w[THREADS];

	for (int i = 0; i < THREADS; i++) {
		w[i] = (struct writer){.db = db, .id = i};
		cr_assert_eq(pthread_create(&t[i], NULL, writer_main, &w[i]), 0);
	}
	for (int i = 0; i < THREADS; i++) {
		pthread_join(t[i], NULL);
		cr_expect_str_empty(w[i].err, "writer %d: %s", i, w[i].err);
	}
	snprintf(want, sizeof(want), "%d", THREADS * PER_THREAD);
	expect_sql(db, "SELECT count(*) FROM audit_log", want);
	expect_sql(db, "SELECT count(*) FROM audit_chain", "0"); /* appends no longer chain */
	cr_expect_eq(sequence(db), THREADS * PER_THREAD);
	expect_sql(db, "SELECT max(seq) FROM audit_log", want);
	/* Every record names its predecessor's hash; nobody shares a predecessor. */
	expect_sql(db,
		   "SELECT count(*) FROM audit_log a JOIN audit_log b ON b.seq = a.seq + 1"
		   " WHERE b.prev_hash IS DISTINCT FROM a.hash",
		   "0");
	snprintf(want, sizeof(want), "%d", THREADS * PER_THREAD - 1); /* all but the first have one */
	expect_sql(db, "SELECT count(DISTINCT prev_hash) FROM audit_log", want);
	cr_expect_eq(verify(db, &out), 0, "%s", out);
	snprintf(want, sizeof(want), "audit log OK: %d records", THREADS * PER_THREAD);
	cr_expect(strstr(out, want) != NULL, "%s", out);
	free(out);
	free(db);
}

/* ---- verify ----------------------------------------------------------------------------- */

Test(audit, r16_verify_passes_on_an_untouched_log)
{
	char *db = rt_db_new(), *out = NULL, *head;

	cr_expect_eq(verify(db, &out), 0, "%s", out);
	cr_expect(strstr(out, "audit log OK: 0 records") != NULL, "%s", out);
	free(out);
	append_n(db, 25);
	sequence(db);
	cr_expect_eq(verify(db, &out), 0, "%s", out);
	cr_expect(strstr(out, "audit log OK: 25 records, head seq 25 hash ") != NULL, "%s", out);
	head = rt_sql(db, "SELECT hash FROM audit_log WHERE seq = 25");
	cr_expect(strstr(out, head) != NULL, "prints the head hash for anchoring: %s", out);
	free(head);
	free(out);
	free(db);
}

/* Tampering as only a superuser or the owner can: switch the guard off, change, switch on.
 * table: audit_record (the records, pending or chained) or audit_chain. */
static void tamper(const char *db, const char *table, const char *change)
{
	char sql[200];

	snprintf(sql, sizeof(sql), "ALTER TABLE %s DISABLE TRIGGER audit_no_update", table);
	exec_ok(db, sql);
	exec_ok(db, change);
	snprintf(sql, sizeof(sql), "ALTER TABLE %s ENABLE TRIGGER audit_no_update", table);
	exec_ok(db, sql);
}

Test(audit, r16_verify_names_the_record_whose_reason_was_changed)
{
	char *db = rt_db_new(), *out = NULL;

	append_n(db, 12);
	sequence(db);
	tamper(db, "audit_record",
	       "UPDATE audit_record SET reason = 'unspecified' WHERE id = (SELECT rec_id FROM audit_chain WHERE seq = 7)");
	cr_expect_eq(verify(db, &out), 1, "%s", out);
	cr_expect(strstr(out, "BROKEN at seq 7: hash does not match") != NULL, "%s", out);
	free(out);
	free(db);
}

Test(audit, r16_verify_names_a_rewritten_record_even_with_its_hash_recomputed)
{
	char *db = rt_db_new(), *out = NULL;

	append_n(db, 12);
	sequence(db);
	/* A careful forger recomputes the changed record's own hash; its successor still
	 * points at the old one. */
	tamper(db, "audit_record",
	       "UPDATE audit_record SET details = '{\"serial\": \"FFFF\"}'"
	       " WHERE id = (SELECT rec_id FROM audit_chain WHERE seq = 4)");
	tamper(db, "audit_chain",
	       "UPDATE audit_chain c SET hash = audit_hash(l.prev_hash, l.seq, l.at, l.actor, l.action, l.object_type,"
	       " l.object_id, l.reason, l.details) FROM audit_log l WHERE l.seq = 4 AND c.seq = 4");
	cr_expect_eq(verify(db, &out), 1, "%s", out);
	cr_expect(strstr(out, "BROKEN at seq 5: prev_hash does not match the hash of record 4") != NULL, "%s",
		  out);
	free(out);
	free(db);
}

Test(audit, r16_verify_names_a_deleted_record)
{
	char *db = rt_db_new(), *out = NULL;

	append_n(db, 6);
	sequence(db);
	tamper(db, "audit_chain", "DELETE FROM audit_chain WHERE seq = 3");
	cr_expect_eq(verify(db, &out), 1, "%s", out);
	cr_expect(strstr(out, "BROKEN at seq 3: record 3 is missing") != NULL, "%s", out);
	free(out);
	free(db);
}

Test(audit, r16_verify_names_the_chained_record_whose_content_was_deleted)
{
	char *db = rt_db_new(), *out = NULL;

	append_n(db, 6);
	sequence(db);
	tamper(db, "audit_record",
	       "DELETE FROM audit_record WHERE id = (SELECT rec_id FROM audit_chain WHERE seq = 5)");
	cr_expect_eq(verify(db, &out), 1, "%s", out);
	cr_expect(strstr(out, "BROKEN at seq 5: the record's content is missing") != NULL, "%s", out);
	free(out);
	free(db);
}

/* A record changed while still pending is chained as changed (documented: until chained, the
 * append-only triggers are its only guard); changed after chaining, verify names it. */
Test(audit, r16_a_pending_record_altered_after_chaining_is_named_and_pending_ones_are_counted)
{
	char *db = rt_db_new(), *out = NULL;

	append_n(db, 3);
	sequence(db);
	append_n(db, 2); /* pending */
	cr_expect_eq(verify(db, &out), 0, "%s", out);
	cr_expect(strstr(out, "audit log OK: 3 records") && strstr(out, "; 2 pending (oldest "), "%s", out);
	free(out);
	expect_sql(db, "SELECT pending FROM audit_pending()", "2");
	cr_expect_eq(sequence(db), 2);
	tamper(db, "audit_record",
	       "UPDATE audit_record SET actor = 'support:mallory' WHERE id = (SELECT rec_id FROM"
	       " audit_chain WHERE seq = 5)");
	cr_expect_eq(verify(db, &out), 1, "%s", out);
	cr_expect(strstr(out, "BROKEN at seq 5: hash does not match") != NULL, "%s", out);
	free(out);
	free(db);
}

/* ---- the sequencer ---------------------------------------------------------------------- */

static PGconn *conn_ok(const char *db)
{
	PGconn *c = PQconnectdb(db);

	cr_assert_eq(PQstatus(c), CONNECTION_OK, "%s", PQerrorMessage(c));
	return c;
}

static char *one(PGconn *c, const char *sql)
{
	PGresult *r = PQexec(c, sql);
	char *v = NULL;

	cr_assert(PQresultStatus(r) == PGRES_TUPLES_OK || PQresultStatus(r) == PGRES_COMMAND_OK, "%s: %s",
		  sql, PQresultErrorMessage(r));
	if (PQresultStatus(r) == PGRES_TUPLES_OK && PQntuples(r) > 0)
		v = strdup(PQgetvalue(r, 0, 0));
	PQclear(r);
	return v;
}

static void expect_one(PGconn *c, const char *sql, const char *want)
{
	char *v = one(c, sql);

	cr_expect(v && strcmp(v, want) == 0, "%s: got '%s', want '%s'", sql, v ? v : "NULL", want);
	free(v);
}

Test(audit, late_committing_record_is_chained_by_a_later_batch_never_skipped_never_twice, .timeout = 60)
{
	char *db = rt_db_new(), *out = NULL;
	PGconn *late = conn_ok(db), *seqr = conn_ok(db);

	/* record id 1 is written first but commits last */
	free(one(late, "BEGIN"));
	free(one(late, "INSERT INTO audit_log (actor, action) VALUES ('system', 'test.late')"));
	append_n(db, 3);
	expect_one(seqr, "SELECT chained FROM audit_sequence(2)", "2"); /* a full batch: the horizon stays */
	expect_one(seqr, "SELECT chained || ' ' || pending FROM audit_sequence(1000)", "1 0");
	expect_one(seqr, "SELECT chained FROM audit_sequence(1000)", "0");
	/* later transactions commit meanwhile and move the horizon past... */
	append_n(db, 2);
	expect_one(seqr, "SELECT chained FROM audit_sequence(1000)", "2");
	free(one(late, "COMMIT"));
	/* ...but not past the transaction still open then */
	expect_one(seqr, "SELECT chained || ' ' || head_seq || ' ' || pending FROM audit_sequence(1000)",
		   "1 6 0");
	expect_one(seqr, "SELECT seq FROM audit_log WHERE action = 'test.late'", "6");
	expect_one(seqr,
		   "SELECT count(*) || ' ' || count(DISTINCT rec_id) || ' ' || max(seq) FROM audit_chain",
		   "6 6 6");
	expect_one(seqr, "SELECT chained FROM audit_sequence(1000)", "0");
	cr_expect_eq(verify(db, &out), 0, "%s", out);
	cr_expect(strstr(out, "audit log OK: 6 records") && strstr(out, "; 0 pending"), "%s", out);
	free(out);
	PQfinish(late);
	PQfinish(seqr);
	free(db);
}

/* Pages one sequencer batch touches (EXPLAIN ANALYZE BUFFERS of the call, on the sequencer's
 * own session: the function's statements count in the call's buffers). */
static long batch_pages(PGconn *c)
{
	char *v = one(c, "EXPLAIN (ANALYZE, BUFFERS, FORMAT JSON) SELECT * FROM audit_sequence(1000)");
	json_t *j = json_loads(v ? v : "", 0, NULL), *plan = json_object_get(json_array_get(j, 0), "Plan");
	long n = (long)(json_integer_value(json_object_get(plan, "Shared Hit Blocks")) +
			json_integer_value(json_object_get(plan, "Shared Read Blocks")));

	cr_assert_not_null(plan, "%s", v ? v : "no answer");
	json_decref(j);
	free(v);
	return n;
}

/* Issue #16 (migrations 0020, 0021): a batch costs what its pending records cost, not what the log
 * costs.  On a log of 60,000 chained records, one more record is chained touching a bounded
 * number of pages, also when the planner guesses worst: the sequencer's session runs generic
 * plans (which assume a third of the table lies beyond the horizon), as PostgreSQL may choose
 * for a plpgsql statement's cached plan.  Before 0020 such a batch walked the whole log (about
 * 1,400 pages here, growing with every record). */
Test(audit, a_batch_reads_a_bounded_number_of_pages_however_long_the_log, .timeout = 120)
{
	char *db = rt_db_new();
	PGconn *seqr = conn_ok(db);

	/* written as SQL: 60,000 records through the flows that write them would take minutes */
	exec_ok(db,
		"INSERT INTO audit_record (actor, action) SELECT 'system', 'test.bulk' FROM generate_series(1, 20000)");
	exec_ok(db,
		"INSERT INTO audit_record (actor, action) SELECT 'system', 'test.bulk' FROM generate_series(1, 40000)");
	expect_one(seqr, "SELECT chained FROM audit_sequence(100000)", "60000");
	free(one(seqr, "SET plan_cache_mode = force_generic_plan"));
	append_n(db, 1);
	expect_one(seqr, "SELECT chained FROM audit_sequence(1000)", "1"); /* plans made (catalog reads) */
	for (int i = 0; i < 3; i++) {
		long pages;

		append_n(db, 1);
		pages = batch_pages(seqr);
		cr_expect_lt(pages, 200, "batch %d touched %ld pages for one record in a log of 60,000", i,
			     pages);
	}
	expect_one(seqr, "SELECT count(*) || ' ' || max(seq) FROM audit_chain", "60004 60004");
	PQfinish(seqr);
	free(db);
}

Test(audit, one_session_sequences_at_a_time_and_another_takes_over_when_it_ends, .timeout = 60)
{
	char *db = rt_db_new();
	PGconn *a = conn_ok(db), *b = conn_ok(db);

	append_n(db, 2);
	expect_one(a, "SELECT chained FROM audit_sequence(1000)", "2");
	append_n(db, 1);
	expect_one(b, "SELECT chained || ' ' || pending FROM audit_sequence(1000)",
		   "-1 1"); /* a holds the lock */
	expect_one(a, "SELECT chained FROM audit_sequence(1000)", "1");
	append_n(db, 1);
	PQfinish(a); /* the sequencer's session ends: its lock goes with it */
	for (int i = 0; i < 100; i++) {
		char *v = one(b, "SELECT chained FROM audit_sequence(1000)");
		int n = atoi(v);
		free(v);
		if (n >= 0) {
			cr_expect_eq(n, 1);
			break;
		}
		cr_assert_neq(i, 99, "b never took over");
		usleep(50000);
	}
	expect_one(b, "SELECT count(*) || ' ' || max(seq) FROM audit_chain", "4 4");
	PQfinish(b);
	free(db);
}

Test(audit, r16_update_delete_and_truncate_are_refused)
{
	char *db = rt_db_new(), *out = NULL;
	char err[512];

	append_n(db, 3);
	sequence(db);
	static const char *refused[] = {
		"UPDATE audit_log SET reason = 'x' WHERE seq = 2",
		"DELETE FROM audit_log WHERE seq = 3",
		"UPDATE audit_record SET reason = 'x' WHERE id = 2",
		"DELETE FROM audit_record WHERE id = 3",
		"TRUNCATE audit_record",
		"UPDATE audit_chain SET hash = repeat('0', 64) WHERE seq = 2",
		"DELETE FROM audit_chain WHERE seq = 3",
		"TRUNCATE audit_chain",
	};
	for (size_t i = 0; i < sizeof(refused) / sizeof(refused[0]); i++) {
		cr_expect_neq(rt_exec(db, refused[i], err, sizeof(err)), 0, "%s", refused[i]);
		cr_expect(strstr(err, "append-only") != NULL, "%s: %s", refused[i], err);
	}
	expect_sql(db, "SELECT count(*) || ' ' || string_agg(reason, ',' ORDER BY seq) FROM audit_log",
		   "3 keyCompromise,keyCompromise,keyCompromise");
	cr_expect_eq(verify(db, &out), 0, "%s", out);
	free(out);
	free(db);
}

Test(audit, r16_caller_cannot_choose_seq_time_or_hash)
{
	char *db = rt_db_new(), *out = NULL;

	append_n(db, 2);
	exec_ok(db,
		"INSERT INTO audit_log (seq, at, actor, action, prev_hash, hash) VALUES (99, '2000-01-01', 'shop',"
		" 'order.received', NULL, repeat('0', 64))");
	expect_sql(db, "SELECT count(*) FROM audit_log WHERE seq IS NULL", "3"); /* all pending */
	sequence(db);
	expect_sql(db,
		   "SELECT seq || ' ' || (at > now() - interval '1 hour') || ' ' || (prev_hash = (SELECT hash"
		   " FROM audit_log WHERE seq = 2)) FROM audit_log WHERE actor = 'shop'",
		   "3 true true");
	cr_expect_eq(verify(db, &out), 0, "%s", out);
	free(out);
	free(db);
}

Test(audit, r16_two_records_written_by_one_statement_chain_in_order)
{
	char *db = rt_db_new(), *out = NULL;

	append_n(db, 1);
	/* The shape other modules use: several audit inserts in one statement's CTEs. */
	exec_ok(db,
		"WITH a1 AS (INSERT INTO audit_log (actor, action, object_type, object_id, reason, details)"
		"  VALUES ('system', 'cert.issued', 'certificate', '2', NULL, '{}'::jsonb)),"
		" a2 AS (INSERT INTO audit_log (actor, action, object_type, object_id, reason, details)"
		"  VALUES ('system', 'cert.revoked', 'certificate', '1', 'superseded', '{}'::jsonb))"
		" SELECT 1");
	sequence(db);
	expect_sql(db, "SELECT count(*) || ' ' || max(seq) FROM audit_log", "3 3");
	cr_expect_eq(verify(db, &out), 0, "%s", out);
	free(out);
	free(db);
}

/* ---- outbox ----------------------------------------------------------------------------- */

Test(audit, outbox_rolled_back_change_leaves_neither_job_nor_audit_record)
{
	char *db = rt_db_new(), *out = NULL;
	PGconn *c = PQconnectdb(db);
	char err[256];

	cr_assert_eq(PQstatus(c), CONNECTION_OK);
	append_n(db, 2);
	cr_assert_eq(run_sql(c, "BEGIN", NULL, 0, err, sizeof(err)), 0, "%s", err);
	cr_assert_eq(
		run_sql(c,
			"INSERT INTO jobs (kind, payload, idempotency_key) VALUES ('noop', '{}'::jsonb, 'ob-1')"
			" ON CONFLICT (idempotency_key) DO NOTHING",
			NULL, 0, err, sizeof(err)),
		0, "%s", err);
	cr_assert_eq(run_sql(c, audit_insert_sql,
			     (const char *const[]){"system", "order.rejected", "order", "5", "test", "{}"}, 6,
			     err, sizeof(err)),
		     0, "%s", err);
	cr_assert_eq(run_sql(c, "ROLLBACK", NULL, 0, err, sizeof(err)), 0, "%s", err);
	expect_sql(db, "SELECT count(*) FROM jobs", "0");
	expect_sql(db, "SELECT count(*) FROM audit_log", "2");
	/* The same change committed: both appear, and the chain has no gap where the rolled-back
	 * record would have been. */
	cr_assert_eq(run_sql(c, "BEGIN", NULL, 0, err, sizeof(err)), 0, "%s", err);
	cr_assert_eq(
		run_sql(c,
			"INSERT INTO jobs (kind, payload, idempotency_key) VALUES ('noop', '{}'::jsonb, 'ob-1')"
			" ON CONFLICT (idempotency_key) DO NOTHING",
			NULL, 0, err, sizeof(err)),
		0, "%s", err);
	cr_assert_eq(run_sql(c, audit_insert_sql,
			     (const char *const[]){"system", "order.rejected", "order", "5", "test", "{}"}, 6,
			     err, sizeof(err)),
		     0, "%s", err);
	cr_assert_eq(run_sql(c, "COMMIT", NULL, 0, err, sizeof(err)), 0, "%s", err);
	PQfinish(c);
	expect_sql(db, "SELECT count(*) FROM jobs WHERE idempotency_key = 'ob-1'", "1");
	sequence(db);
	expect_sql(db, "SELECT max(seq) FROM audit_log WHERE action = 'order.rejected'", "3");
	cr_expect_eq(verify(db, &out), 0, "%s", out);
	free(out);
	free(db);
}

/* ---- the C helper on the async pool ------------------------------------------------------ */

struct tx {
	struct db_conn *conn;
	int step;
	char id[24];
	char err[320];
	uv_loop_t *loop;
	struct db_pool *pool;
};

static void on_pool_closed(void *data)
{
	(void)data;
}

static void tx_end(struct tx *t, const struct ra_err *err)
{
	if (err)
		snprintf(t->err, sizeof(t->err), "step %d: %s", t->step, err->msg);
	if (t->conn)
		db_release(t->conn);
	t->conn = NULL;
	db_pool_close(t->pool, on_pool_closed, t);
}

static void tx_next(PGresult *res, const struct ra_err *err, void *data)
{
	struct tx *t = data;
	const struct audit_rec rec = {.actor = "support:bob",
				      .action = "user.unlocked",
				      .object_type = "user",
				      .object_id = "U-1",
				      .reason = "R13 request by phone"};

	if (err) {
		tx_end(t, err);
		return;
	}
	switch (t->step++) {
	case 0:
		audit_append(t->conn, &rec, tx_next, t);
		break;
	case 1:
		snprintf(t->id, sizeof(t->id), "%s", PQgetvalue(res, 0, 0));
		db_conn_query(t->conn, "COMMIT", 0, NULL, tx_next, t);
		break;
	default:
		tx_end(t, NULL);
	}
}

static void on_acquired(struct db_conn *conn, const struct ra_err *err, void *data)
{
	struct tx *t = data;

	if (err) {
		tx_end(t, err);
		return;
	}
	t->conn = conn;
	db_conn_query(conn, "BEGIN", 0, NULL, tx_next, t);
}

static void on_start(uv_timer_t *timer)
{
	struct tx *t = timer->data;

	if (!db_pool_up(t->pool)) {
		uv_timer_start(timer, on_start, 20, 0);
		return;
	}
	uv_close((uv_handle_t *)timer, NULL);
	db_acquire(t->pool, on_acquired, t);
}

Test(audit, r16_append_helper_writes_a_chained_record_in_the_callers_transaction, .timeout = 30)
{
	char *db = rt_db_new(), *out = NULL;
	uv_loop_t loop;
	uv_timer_t timer;
	struct tx t = {.loop = &loop};

	append_n(db, 1);
	uv_loop_init(&loop);
	t.pool = db_pool_new(&loop, db, 1, 2000);
	uv_timer_init(&loop, &timer);
	timer.data = &t;
	uv_timer_start(&timer, on_start, 0, 0);
	uv_run(&loop, UV_RUN_DEFAULT);
	uv_loop_close(&loop);
	db_pool_free(t.pool);
	cr_expect_str_empty(t.err, "%s", t.err);
	cr_expect_str_eq(t.id, "2"); /* the record's id; its seq comes with the sequencer */
	expect_sql(db, "SELECT count(*) FROM audit_log WHERE seq IS NULL AND id = 2", "1");
	sequence(db);
	expect_sql(
		db,
		"SELECT actor || ' ' || action || ' ' || reason || ' ' || details::text FROM audit_log WHERE seq = 2",
		"support:bob user.unlocked R13 request by phone {}");
	cr_expect_eq(verify(db, &out), 0, "%s", out);
	free(out);
	free(db);
}
