/*
 * test_jobs.c - the durable job runner against a real PostgreSQL and the real `ra serve`:
 * retries with backoff, the attempt limit, unknown kinds, LISTEN/NOTIFY wake-up, the lease
 * fence on completion, drain, and 1,000 jobs over two processes with one killed half-way.
 * Jobs use the built-in 'test.effect' kind, switched on by configuration (jobs.test_kinds).
 */
#include <criterion/criterion.h>
#include <jansson.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/time.h>
#include <unistd.h>

#include "tests/lib/rt.h"

static double now_s(void)
{
	struct timeval tv;

	gettimeofday(&tv, NULL);
	return (double)tv.tv_sec + (double)tv.tv_usec / 1e6;
}

/* Polls a one-value query until it returns want; returns 1 when it did within timeout_s. */
static int wait_sql(const char *db, const char *sql, const char *want, double timeout_s)
{
	double t0 = now_s();

	do {
		char *v = rt_sql(db, sql);
		int ok = v && strcmp(v, want) == 0;
		free(v);
		if (ok)
			return 1;
		usleep(20000);
	} while (now_s() - t0 < timeout_s);
	return 0;
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
		usleep(20000);
	} while (now_s() - t0 < timeout_s);
	return 0;
}

/* Asserts a one-value query's result. */
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

static void start(struct rt_ra *ra, const char *db, const char *const *env)
{
	cr_assert_eq(rt_ra_start(ra, db, env), 0);
	cr_assert(wait_log(ra, "event=jobs.listening", 30), "the runner never listened");
}

Test(jobs, failing_job_retries_with_exponential_backoff_then_succeeds, .timeout = 60)
{
	static const char *env[] = {"RA_JOBS_TEST_KINDS=1", "RA_JOBS_BACKOFF_MS=200", "RA_JOBS_POLL_MS=5000",
				    NULL};
	char *db = rt_db_new();
	struct rt_ra ra;

	start(&ra, db, env);
	exec_ok(db,
		"INSERT INTO jobs (kind, payload, idempotency_key) VALUES ('test.effect', '{\"fail_times\": 2}', 'retry-1')");
	cr_assert(wait_sql(db, "SELECT state FROM jobs WHERE idempotency_key = 'retry-1'", "done", 30));
	expect_sql(db, "SELECT attempts FROM jobs WHERE idempotency_key = 'retry-1'", "3");
	expect_sql(db, "SELECT result->>'effect' FROM jobs WHERE idempotency_key = 'retry-1'", "applied");
	expect_sql(
		db,
		"SELECT last_error LIKE '%planned failure 2 of 2%' FROM jobs WHERE idempotency_key = 'retry-1'",
		"t");
	expect_sql(db, "SELECT count(*) FROM job_test_effects WHERE idempotency_key = 'retry-1'", "1");
	/* Equal jitter keeps at least half of each step: 200/2 after attempt 1, 400/2 after 2.
	 * The poll (5 s) is not what brought the retries back: the runner woke for them. */
	expect_sql(
		db,
		"SELECT done_at - created_at >= interval '300 ms' FROM jobs WHERE idempotency_key = 'retry-1'",
		"t");
	expect_sql(db,
		   "SELECT done_at - created_at < interval '4 s' FROM jobs WHERE idempotency_key = 'retry-1'",
		   "t");
	cr_expect_eq(rt_ra_stop(&ra, SIGTERM), 0);
	free(db);
}

Test(jobs, attempt_limit_parks_job_dead_with_its_last_error_visible, .timeout = 60)
{
	static const char *env[] = {"RA_JOBS_TEST_KINDS=1", "RA_JOBS_BACKOFF_MS=20", "RA_JOBS_POLL_MS=100",
				    NULL};
	char *db = rt_db_new();
	struct rt_ra ra;
	struct rt_resp m;
	char url[128];
	double t0;
	int seen = 0;

	start(&ra, db, env);
	exec_ok(db,
		"INSERT INTO jobs (kind, payload, idempotency_key, max_attempts)"
		" VALUES ('test.effect', '{\"fail_times\": 100}', 'limit-1', 3)");
	cr_assert(wait_sql(db, "SELECT state FROM jobs WHERE idempotency_key = 'limit-1'", "dead", 30));
	expect_sql(db, "SELECT attempts FROM jobs WHERE idempotency_key = 'limit-1'", "3");
	expect_sql(
		db,
		"SELECT last_error LIKE '%planned failure 3 of 100%' FROM jobs WHERE idempotency_key = 'limit-1'",
		"t");
	expect_sql(
		db,
		"SELECT done_at IS NOT NULL AND lease_until IS NULL FROM jobs WHERE idempotency_key = 'limit-1'",
		"t");
	expect_sql(db, "SELECT count(*) FROM job_test_effects", "0");
	/* Visible to operators: the dead gauge counts it (refreshed on the poll). */
	snprintf(url, sizeof(url), "%s/metrics", ra.base);
	for (t0 = now_s(); !seen && now_s() - t0 < 10; usleep(100000)) {
		cr_assert_eq(rt_http("GET", url, NULL, NULL, 0, &m), 0);
		seen = strstr(m.body, "\nra_jobs_dead 1\n") != NULL;
		rt_resp_free(&m);
	}
	cr_expect(seen, "ra_jobs_dead 1 in /metrics");
	cr_expect_eq(rt_ra_stop(&ra, SIGTERM), 0);
	free(db);
}

Test(jobs, permanent_failure_and_unknown_kind_go_dead_at_once, .timeout = 60)
{
	static const char *env[] = {"RA_JOBS_TEST_KINDS=1", "RA_JOBS_BACKOFF_MS=20", NULL};
	char *db = rt_db_new();
	struct rt_ra ra;

	start(&ra, db, env);
	exec_ok(db,
		"INSERT INTO jobs (kind, payload, idempotency_key) VALUES"
		" ('test.effect', '{\"fail_permanent\": true}', 'perm-1'), ('no.such.kind', NULL, 'unknown-1')");
	cr_assert(wait_sql(db, "SELECT count(*) FROM jobs WHERE state = 'dead'", "2", 30));
	expect_sql(db, "SELECT attempts FROM jobs WHERE idempotency_key = 'perm-1'", "1");
	expect_sql(db, "SELECT attempts FROM jobs WHERE idempotency_key = 'unknown-1'", "1");
	expect_sql(db, "SELECT last_error FROM jobs WHERE idempotency_key = 'unknown-1'",
		   "no handler registered for job kind 'no.such.kind'");
	expect_sql(db, "SELECT payload::text FROM jobs WHERE idempotency_key = 'unknown-1'", "{}");
	cr_expect_eq(rt_ra_stop(&ra, SIGTERM), 0);
	free(db);
}

Test(jobs, test_kinds_are_off_unless_configured, .timeout = 60)
{
	char *db = rt_db_new();
	struct rt_ra ra;

	start(&ra, db, NULL);
	exec_ok(db,
		"INSERT INTO jobs (kind, idempotency_key) VALUES ('test.effect', 'off-1'), ('noop', 'noop-1')");
	cr_assert(wait_sql(db, "SELECT count(*) FROM jobs WHERE state IN ('done', 'dead')", "2", 30));
	expect_sql(db, "SELECT state FROM jobs WHERE idempotency_key = 'off-1'", "dead");
	expect_sql(db, "SELECT state || ' ' || result::text FROM jobs WHERE idempotency_key = 'noop-1'",
		   "done {\"noop\": true}");
	cr_expect_eq(rt_ra_stop(&ra, SIGTERM), 0);
	free(db);
}

Test(jobs, notify_starts_a_new_job_without_waiting_for_the_poll, .timeout = 60)
{
	/* The poll is a minute away: only the NOTIFY can start the job in time. */
	static const char *env[] = {"RA_JOBS_POLL_MS=60000", NULL};
	char *db = rt_db_new();
	struct rt_ra ra;
	double t0, took;

	start(&ra, db, env);
	t0 = now_s();
	exec_ok(db, "INSERT INTO jobs (kind, idempotency_key) VALUES ('noop', 'fast-1')");
	cr_assert(wait_sql(db, "SELECT state FROM jobs WHERE idempotency_key = 'fast-1'", "done", 10));
	took = now_s() - t0;
	cr_log_info("insert to done: %.1f ms", took * 1000);
	cr_expect_lt(took, 2.0, "started by NOTIFY, not by the 60 s poll");
	cr_expect_eq(rt_ra_stop(&ra, SIGTERM), 0);
	free(db);
}

Test(jobs, completion_is_refused_after_the_lease_went_to_another_runner, .timeout = 60)
{
	static const char *env[] = {"RA_JOBS_TEST_KINDS=1", NULL};
	char *db = rt_db_new();
	struct rt_ra ra;

	start(&ra, db, env);
	exec_ok(db,
		"INSERT INTO jobs (kind, payload, idempotency_key) VALUES ('test.effect', '{\"sleep_ms\": 1500}', 'fence-1')");
	cr_assert(wait_sql(db, "SELECT state FROM jobs WHERE idempotency_key = 'fence-1'", "running", 10));
	/* What another process does when it claims a job whose lease expired. */
	exec_ok(db,
		"UPDATE jobs SET locked_by = 'other-runner', attempts = attempts + 1,"
		" lease_until = now() + interval '1 hour' WHERE idempotency_key = 'fence-1'");
	cr_assert(wait_log(&ra, "event=job.lease_lost", 20), "ra noticed it no longer holds the job");
	expect_sql(db, "SELECT state || ' ' || locked_by FROM jobs WHERE idempotency_key = 'fence-1'",
		   "running other-runner");
	expect_sql(db, "SELECT result IS NULL FROM jobs WHERE idempotency_key = 'fence-1'", "t");
	cr_expect_eq(rt_ra_stop(&ra, SIGTERM), 0);
	free(db);
}

Test(jobs, sigterm_lets_running_jobs_finish_and_claims_no_new_ones, .timeout = 60)
{
	static const char *env[] = {"RA_JOBS_TEST_KINDS=1", NULL};
	char *db = rt_db_new();
	struct rt_ra ra;

	start(&ra, db, env);
	exec_ok(db,
		"INSERT INTO jobs (kind, payload, idempotency_key) VALUES ('test.effect', '{\"sleep_ms\": 1500}', 'drain-1')");
	cr_assert(wait_sql(db, "SELECT state FROM jobs WHERE idempotency_key = 'drain-1'", "running", 10));
	kill(ra.pid, SIGTERM);
	cr_assert(wait_log(&ra, "event=jobs.stopping", 10));
	exec_ok(db, "INSERT INTO jobs (kind, idempotency_key) VALUES ('noop', 'drain-2')");
	cr_expect_eq(rt_ra_stop(&ra, SIGTERM), 0, "drained and exited 0");
	expect_sql(db, "SELECT state FROM jobs WHERE idempotency_key = 'drain-1'", "done");
	expect_sql(db, "SELECT state FROM jobs WHERE idempotency_key = 'drain-2'", "queued");
	free(db);
}

/* The acceptance test: two ra processes share one database; one dies by SIGKILL
 * half-way.  Every job must end done, with exactly one effect each; none lost.  The killed
 * process's jobs come back when their (short) leases expire. */
Test(jobs, thousand_jobs_two_processes_one_killed_each_effect_exactly_once, .timeout = 180)
{
	static const char *env[] = {"RA_JOBS_TEST_KINDS=1", "RA_JOBS_LEASE_MS=1500", "RA_JOBS_POLL_MS=200",
				    "RA_JOBS_WORKERS=8", NULL};
	char *db = rt_db_new();
	struct rt_ra a, b;
	char sql[256], *v;
	int a_pid;

	start(&a, db, env);
	start(&b, db, env);
	/* The effect comes first, then a pause before job_done: a kill in between leaves an
	 * effect whose job runs again, which must not add a second effect. */
	exec_ok(db,
		"INSERT INTO jobs (kind, payload, idempotency_key)"
		" SELECT 'test.effect', '{\"sleep_ms\": 10}', 'k-' || g FROM generate_series(1, 1000) g");
	cr_assert(wait_sql(db, "SELECT count(*) >= 400 FROM jobs WHERE state = 'done'", "t", 60));
	a_pid = (int)a.pid;
	cr_expect_eq(rt_ra_stop(&a, SIGKILL), 128 + SIGKILL);
	v = rt_sql(db, "SELECT count(*) FROM jobs WHERE state = 'done'");
	cr_log_info("done when A was killed: %s", v);
	cr_expect_lt(atoi(v), 1000, "A was killed before the end");
	free(v);

	cr_assert(wait_sql(db, "SELECT count(*) FROM jobs WHERE state = 'done'", "1000", 90),
		  "every job done");
	expect_sql(db, "SELECT count(*) FROM jobs WHERE state <> 'done'", "0");
	expect_sql(db, "SELECT count(*) FROM job_test_effects", "1000");
	/* Each effect belongs to its own job: none missing, none from another key. */
	expect_sql(db,
		   "SELECT count(*) FROM jobs j JOIN job_test_effects e"
		   " ON e.idempotency_key = j.idempotency_key AND e.job_id = j.id",
		   "1000");
	/* Both processes worked; the survivor finished what A left. */
	snprintf(sql, sizeof(sql), "SELECT count(*) FROM jobs WHERE locked_by LIKE '%%/%d/%%'", a_pid);
	v = rt_sql(db, sql);
	cr_log_info("jobs finished by A before it died: %s", v);
	cr_expect_gt(atoi(v), 0, "A did part of the work");
	cr_expect_lt(atoi(v), 1000, "B did the rest");
	free(v);
	v = rt_sql(db, "SELECT count(*) FROM jobs WHERE attempts > 1");
	cr_log_info("jobs run again after the kill: %s", v);
	free(v);
	cr_expect_eq(rt_ra_stop(&b, SIGTERM), 0);
	free(db);
}

/* The claim the runner sends (jobs_claim(), migration 0022), run once under EXPLAIN ANALYZE: how
 * many rows it took, of which kinds, and how many buffers it touched (shared hit + read, its
 * statements inside the function included). */
static void claim_explained(const char *db, int dflt, const char *kinds, int *rows, long *buffers,
			    char **kinds_taken)
{
	char sql[512];
	char *plan;
	json_t *j, *top;

	snprintf(sql, sizeof(sql),
		 /* a first call of the session compiles the function and makes its plans (catalog
		  * reads), as a pooled session does once: it claims none here */
		 "SELECT * FROM jobs_claim(0, 'test/1/warm', 60000, '%s', %s);"
		 " EXPLAIN (ANALYZE, BUFFERS, FORMAT JSON)"
		 " SELECT * FROM jobs_claim(4, 'test/1/claim', 60000, '%s', %s)",
		 kinds, dflt ? "true" : "false", kinds, dflt ? "true" : "false");
	plan = rt_sql(db, sql);
	cr_assert(plan != NULL, "EXPLAIN of the claim failed");
	j = json_loads(plan, 0, NULL);
	cr_assert(j != NULL, "%s", plan);
	top = json_object_get(json_array_get(j, 0), "Plan");
	*rows = (int)json_integer_value(json_object_get(top, "Actual Rows"));
	*buffers = (long)json_integer_value(json_object_get(top, "Shared Hit Blocks")) +
		   (long)json_integer_value(json_object_get(top, "Shared Read Blocks"));
	json_decref(j);
	free(plan);
	*kinds_taken = rt_sql(
		db, "SELECT string_agg(DISTINCT kind, ',') FROM jobs WHERE locked_by = 'test/1/claim'");
}

/* Issue #15 (measure at scale): a claim reads a few index pages per kind, however many jobs wait.
 * 40,000 issuance jobs dated a day ahead (retries, held work) and 40,000 TransportPIN jobs due
 * wait beside 5 due issuance jobs.  The issue lane's claim takes 4 of the 5, and the default
 * lane's 4 TransportPIN jobs, each touching about 100 buffers (the 4 rows' updates and their
 * index entries are most of it).  The claim before touched 825 for the default lane here: it
 * read every queued job of its kinds and sorted them (its issue lane's plan, made for the values
 * at every run, happened to walk the priority index and touched 104). */
Test(jobs, a_claim_reads_a_few_pages_however_many_jobs_wait, .timeout = 120)
{
	char *db = rt_db_new(), *taken;
	int rows;
	long buffers;

	exec_ok(db,
		"INSERT INTO jobs (kind, payload, idempotency_key, run_at) SELECT 'cert_issue', '{}', 'ahead-' || g,"
		" now() + interval '1 day' FROM generate_series(1, 40000) g;"
		"INSERT INTO jobs (kind, payload, idempotency_key) SELECT 'transport_pin', '{}', 'tp-' || g"
		" FROM generate_series(1, 40000) g;"
		"INSERT INTO jobs (kind, payload, idempotency_key, run_at) SELECT 'cert_issue', '{}', 'due-' || g,"
		" now() - interval '1 minute' FROM generate_series(1, 5) g;"
		"ANALYZE jobs");
	claim_explained(db, 0, "{cert_issue,order_issue}", &rows, &buffers, &taken);
	cr_expect_eq(rows, 4, "the issue lane took 4 jobs");
	cr_expect_str_eq(taken, "cert_issue");
	free(taken);
	expect_sql(
		db,
		"SELECT count(*) FROM jobs WHERE locked_by = 'test/1/claim' AND idempotency_key LIKE 'due-%'",
		"4");
	cr_expect_lt(buffers, 300, "the issue lane's claim touched %ld buffers", buffers);
	exec_ok(db, "UPDATE jobs SET locked_by = 'test/1/before' WHERE locked_by = 'test/1/claim'");
	/* the default lane: every kind but the other lanes' */
	claim_explained(db, 1, "{cert_issue,order_issue,ca_revoke,ident_invite,ident_result}", &rows,
			&buffers, &taken);
	cr_expect_eq(rows, 4, "the default lane took 4 jobs");
	cr_expect_str_eq(taken, "transport_pin");
	free(taken);
	cr_expect_lt(buffers, 300, "the default lane's claim touched %ld buffers", buffers);
	free(db);
}
