/*
 * jobs_builtin.c - the built-in job kinds 'noop' and 'test.effect'; see jobs_builtin.h.
 *
 * test.effect payload (all optional):
 *   {"fail_times": N}        attempts 1..N fail (retryable), attempt N+1 goes on
 *   {"fail_permanent": true} fails with retryable = 0
 *   {"sleep_ms": N}          after writing the effect, waits N ms before job_done, so a
 *                            crash in between leaves an effect whose job runs again
 * It is idempotent the way every handler must be: the effect row is keyed by the job's
 * idempotency key (or "job:<id>"), and a second run finds it instead of adding one.
 */
#include "ra/jobs/jobs_builtin.h"

#include <stdio.h>
#include <stdlib.h>

#include "ra/db/db.h"

#define NOOP_MAX_ATTEMPTS 3
#define EFFECT_MAX_ATTEMPTS 5

static const char *sql_effect =
	"INSERT INTO job_test_effects (idempotency_key, job_id)"
	" VALUES (coalesce($1, 'job:' || $2), $2::bigint)"
	" ON CONFLICT (idempotency_key) DO NOTHING RETURNING 1";

struct effect {
	struct job *job;
	uv_timer_t timer;
	int applied;
};

static void noop_run(struct job *job)
{
	job_done(job, json_pack("{s:b}", "noop", 1));
}

static void effect_closed(uv_handle_t *h)
{
	free(h->data);
}

static void effect_finish(uv_timer_t *t)
{
	struct effect *e = t->data;

	job_done(e->job, json_pack("{s:s}", "effect", e->applied ? "applied" : "existing"));
	uv_close((uv_handle_t *)&e->timer, effect_closed);
}

static void on_effect(PGresult *res, const struct ra_err *err, void *data)
{
	struct effect *e = data;
	long long sleep_ms = json_integer_value(json_object_get(e->job->payload, "sleep_ms"));

	if (err != NULL) {
		job_fail(e->job, err, 1);
		uv_close((uv_handle_t *)&e->timer, effect_closed);
		return;
	}
	e->applied = PQntuples(res) == 1;
	uv_timer_start(&e->timer, effect_finish, sleep_ms > 0 ? (uint64_t)sleep_ms : 0, 0);
}

static void effect_run(struct job *job)
{
	json_t *p = job->payload;
	long long fail_times = json_integer_value(json_object_get(p, "fail_times"));
	struct ra_err err;
	struct effect *e;
	char id[24];
	const char *params[2] = {job->idempotency_key, id};

	if (json_is_true(json_object_get(p, "fail_permanent"))) {
		ra_err_set(&err, RA_E_RULE, "", "planned permanent failure");
		job_fail(job, &err, 0);
		return;
	}
	if (job->attempt <= fail_times) {
		ra_err_set(&err, RA_E_UNAVAILABLE, "", "planned failure %d of %lld", job->attempt,
			   fail_times);
		job_fail(job, &err, 1);
		return;
	}
	e = calloc(1, sizeof(*e));
	if (e == NULL)
		abort();
	e->job = job;
	uv_timer_init(job->app->loop, &e->timer);
	e->timer.data = e;
	snprintf(id, sizeof(id), "%lld", (long long)job->id);
	db_query(job->app->db, sql_effect, 2, params, on_effect, e);
}

const struct job_kind jobs_builtin_kinds[] = {
	{"noop", noop_run, NOOP_MAX_ATTEMPTS, NULL},
	/* Writes into a table of its own; still nothing a production database needs. */
	{"test.effect", effect_run, EFFECT_MAX_ATTEMPTS, "jobs.test_kinds"},
	{NULL, NULL, 0, NULL},
};
