/*
 * test_sched.c - the durable scheduler (ra/jobs/sched.c) and the expiry task
 * (ra/flows/lifecycle/expiry.c) against a real PostgreSQL and the real `ra serve` (issue #14):
 * two nodes share one database and each certificate expires exactly once, in bounded batches;
 * a node killed with SIGKILL in the middle of a tick leaves the task to the other once its
 * lease has passed; revoked certificates stay revoked; the schedule is visible in /metrics.
 *
 * The certificates are rows as the issuance writes them (state 'issued' or 'active', serial,
 * notAfter): no CA issues a certificate valid for seconds, and the expiry task reads nothing
 * else, so these rows are the one place the test writes state with SQL.
 */
#include <criterion/criterion.h>
#include <libpq-fe.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/time.h>
#include <unistd.h>

#include "tests/lib/rt.h"

static const char *const env[] = {"RA_SCHED_TICK_MS=100", "RA_SCHED_LEASE_MS=1500", "RA_SCHED_BATCH=10",
				  "RA_LIFECYCLE_EXPIRY_INTERVAL_S=1", NULL};

static double now_s(void)
{
	struct timeval tv;

	gettimeofday(&tv, NULL);
	return (double)tv.tv_sec + (double)tv.tv_usec / 1e6;
}

static int wait_log(const struct rt_ra *ra, const char *needle, double timeout_s)
{
	double t0 = now_s();

	do {
		char *text = rt_read_file(ra->log, NULL);
		int ok = text && strstr(text, needle) != NULL;
		free(text);
		if (ok)
			return 1;
		usleep(50000);
	} while (now_s() - t0 < timeout_s);
	return 0;
}

static void expect_sql(const char *db, const char *sql, const char *want)
{
	char *v = rt_sql(db, sql);

	cr_expect(v && strcmp(v, want) == 0, "%s: got '%s', want '%s'", sql, v ? v : "NULL", want);
	free(v);
}

static void exec_ok(const char *db, const char *sql)
{
	char err[512];

	cr_assert_eq(rt_exec(db, sql, err, sizeof(err)), 0, "%s: %s", sql, err);
}

/* n certificates named <prefix>-1.. in state, notAfter `in` from now (an SQL interval).  SQL on
 * purpose: the scheduler is tested on certificates whose notAfter comes within seconds, which no
 * CA issues (validity_years is 1..10), and dozens of them across two nodes; how a
 * certificate becomes issued and active through the product is test_issue's and test_signing's. */
static void add_certs(const char *db, const char *prefix, int n, const char *state, const char *in)
{
	char sql[1024];

	snprintf(
		sql, sizeof(sql),
		"INSERT INTO certificates (id, user_id, class, state, subject, validity_years, serial, not_before,"
		" not_after, ident_id, issued_at, activated_at)"
		" SELECT '%s-' || g, 'AAAA-AAAA-AAAA-0001', 'qualified', '%s', '{\"common_name\": \"T\"}', 5,"
		" md5('%s' || g), now(), now() + interval '%s', 'ident-1', now(),"
		" CASE WHEN '%s' = 'active' THEN now() END FROM generate_series(1, %d) g",
		prefix, state, prefix, in, state, n);
	exec_ok(db, sql);
}

/* Items the ticks of `task` handled according to one node's log; *max_items the largest tick. */
static int items_in_log(const struct rt_ra *ra, const char *task, int *max_items)
{
	char *text = rt_read_file(ra->log, NULL), needle[64];
	int sum = 0;

	snprintf(needle, sizeof(needle), "event=sched.tick task=%s items=", task);
	for (const char *p = text; p && (p = strstr(p, needle)) != NULL; p += strlen(needle)) {
		int n = atoi(p + strlen(needle));
		sum += n;
		if (n > *max_items)
			*max_items = n;
	}
	free(text);
	return sum;
}

Test(sched, expiry_once_over_two_nodes_in_bounded_batches, .timeout = 90)
{
	char *db = rt_db_new();
	struct rt_ra a, b;
	struct rt_resp m = {0};
	char url[128];
	int max_items = 0, sum;

	add_certs(db, "soon", 15, "issued", "2 seconds");
	add_certs(db, "soon-act", 10, "active", "2 seconds");
	add_certs(db, "later", 2, "active", "1 day");
	exec_ok(db,
		"INSERT INTO certificates (id, class, state, subject, validity_years, serial, not_after, ident_id,"
		" revoked_at, revocation_reason) VALUES ('gone-1', 'qualified', 'revoked', '{}', 5, 'ab01',"
		" now() + interval '2 seconds', 'ident-1', now(), 'keyCompromise')");
	cr_assert_eq(rt_ra_start(&a, db, env), 0);
	cr_assert_eq(rt_ra_start(&b, db, env), 0);
	cr_assert(rt_wait_sql(db, "SELECT count(*) FROM certificates WHERE state = 'expired'", "25", 30),
		  "the 25 certificates past notAfter expired");
	/* a few more ticks: nothing may expire twice */
	sleep(2);
	expect_sql(db, "SELECT count(*) FROM audit_log WHERE action = 'cert.expired'", "25");
	expect_sql(db, "SELECT count(DISTINCT object_id) FROM audit_log WHERE action = 'cert.expired'", "25");
	expect_sql(db, "SELECT count(*) FROM certificates WHERE id LIKE 'later-%' AND state = 'active'", "2");
	expect_sql(db, "SELECT state || ' ' || revocation_reason FROM certificates WHERE id = 'gone-1'",
		   "revoked keyCompromise");
	expect_sql(db,
		   "SELECT count(*) FROM audit_log WHERE action = 'cert.expired' AND actor = 'system'"
		   " AND details->>'serial' IS NOT NULL",
		   "25");
	/* The ticks of both nodes together handled each certificate once, at most a batch each. */
	sum = items_in_log(&a, "expiry", &max_items) + items_in_log(&b, "expiry", &max_items);
	cr_expect_eq(sum, 25, "ticks over both nodes expired %d certificates, want 25", sum);
	cr_expect_leq(max_items, 10, "a tick handled %d, more than sched.batch", max_items);
	cr_expect_gt(max_items, 0);
	/* Visible in /metrics. */
	snprintf(url, sizeof(url), "%s/metrics", a.base);
	cr_assert_eq(rt_http("GET", url, NULL, NULL, 0, &m), 0);
	cr_expect(strstr(m.body, "ra_sched_next_run_timestamp_seconds{task=\"expiry\"}") != NULL, "%s",
		  m.body);
	cr_expect(strstr(m.body, "ra_sched_ticks_total{task=\"expiry\",outcome=\"ok\"}") != NULL);
	rt_resp_free(&m);
	expect_sql(db, "SELECT interval_ms FROM schedules WHERE name = 'expiry'", "1000");
	cr_expect_eq(rt_ra_stop(&a, SIGTERM), 0);
	cr_expect_eq(rt_ra_stop(&b, SIGTERM), 0);
	free(db);
}

/* A SHARE lock on the audit records (migrations/0018: appends take no lock of their own any
 * more) held by the test stops a tick in the middle of its statement, at its audit insert;
 * the node is killed there.  Its lease passes, the other node takes the task
 * over, and every certificate expires once. */
Test(sched, node_killed_mid_tick_leaves_the_task_to_the_other, .timeout = 90)
{
	char *db = rt_db_new();
	struct rt_ra a, b;
	PGconn *lock;
	PGresult *r;

	lock = PQconnectdb(db);
	cr_assert_eq(PQstatus(lock), CONNECTION_OK);
	r = PQexec(lock, "BEGIN; LOCK TABLE audit_record IN SHARE MODE");
	cr_assert_eq(PQresultStatus(r), PGRES_COMMAND_OK, "%s", PQresultErrorMessage(r));
	PQclear(r);
	add_certs(db, "mid", 3, "issued", "0 seconds");
	cr_assert_eq(rt_ra_start(&a, db, env), 0);
	cr_assert(rt_wait_sql(db,
			      "SELECT count(*) > 0 FROM pg_locks WHERE locktype = 'relation' AND NOT granted"
			      " AND relation = 'audit_record'::regclass",
			      "t", 30),
		  "A's tick waits for the audit records' lock");
	expect_sql(db, "SELECT locked_by IS NOT NULL FROM schedules WHERE name = 'expiry'", "t");
	cr_expect_eq(rt_ra_stop(&a, SIGKILL), 128 + SIGKILL);
	cr_assert_eq(rt_ra_start(&b, db, env), 0);
	PQfinish(lock); /* the statement A left in its session may now end too, or roll back */
	cr_assert(rt_wait_sql(db, "SELECT count(*) FROM certificates WHERE state = 'expired'", "3", 30));
	/* B holds the task from now on: what expires next, B expires. */
	add_certs(db, "after", 2, "active", "0 seconds");
	cr_assert(rt_wait_sql(db, "SELECT count(*) FROM certificates WHERE state = 'expired'", "5", 30));
	cr_expect(wait_log(&b, "event=sched.tick task=expiry items=", 10), "B ran the expiry task");
	sleep(2);
	expect_sql(db, "SELECT count(*) FROM audit_log WHERE action = 'cert.expired'", "5");
	expect_sql(db, "SELECT count(DISTINCT object_id) FROM audit_log WHERE action = 'cert.expired'", "5");
	cr_expect_eq(rt_ra_stop(&b, SIGTERM), 0);
	free(db);
}

/* A tick that fails (here: its statement is refused) is recorded with its error and tried
 * again after the interval; the scheduler goes on. */
Test(sched, failed_tick_is_recorded_and_retried, .timeout = 60)
{
	char *db = rt_db_new();
	struct rt_ra a;

	/* A CHECK the expiry's UPDATE violates: what a broken deployment would do. */
	exec_ok(db,
		"ALTER TABLE certificates ADD CONSTRAINT test_no_expiry CHECK (state <> 'expired') NOT VALID");
	add_certs(db, "bad", 1, "issued", "0 seconds");
	cr_assert_eq(rt_ra_start(&a, db, env), 0);
	cr_assert(rt_wait_sql(db, "SELECT last_error IS NOT NULL FROM schedules WHERE name = 'expiry'", "t",
			      30));
	cr_expect(wait_log(&a, "event=sched.tick_failed task=expiry", 10));
	exec_ok(db, "ALTER TABLE certificates DROP CONSTRAINT test_no_expiry");
	cr_assert(rt_wait_sql(db, "SELECT state FROM certificates WHERE id = 'bad-1'", "expired", 30));
	cr_assert(rt_wait_sql(db, "SELECT last_error IS NULL FROM schedules WHERE name = 'expiry'", "t", 10));
	cr_expect_eq(rt_ra_stop(&a, SIGTERM), 0);
	free(db);
}
