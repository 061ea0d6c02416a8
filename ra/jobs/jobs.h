/*
 * jobs.h - the durable job runner inside `ra serve` (issue #3).
 *
 * Jobs live in the `jobs` table (migrations/0002_jobs_audit.sql).  Whoever causes a job
 * inserts it IN THE SAME TRANSACTION as the state change, through the outbox helper
 * (ra/db/outbox.h: ob_job, ob_job_each), whose insert is ON CONFLICT (idempotency_key) DO
 * NOTHING.
 *
 * Once that transaction commits, the process wakes its runner and sends one coalesced NOTIFY
 * on channel 'ra_jobs' outside it (ra/db/db.h: db_wake_set), so runners start it within
 * milliseconds; other inserters (psql, blocking connections) NOTIFY from the insert trigger.
 * The runner claims due jobs with SELECT ... FOR UPDATE SKIP LOCKED under a lease (several
 * ra processes may share one database; a job whose lease expired - its process crashed - is
 * queued again by the next poll and claimed again), runs the handler registered for its kind, and on failure retries with
 * exponential backoff and jitter up to the kind's attempt limit, then parks it as 'dead'.
 *
 * Handlers are asynchronous and must be idempotent: the same job may run twice (a crash
 * after the effect but before job_done).  They store their effect under a unique key so the
 * second run finds it.  CPU-heavy or blocking work goes to uv_queue_work.
 */
#ifndef RA_JOBS_H
#define RA_JOBS_H

#include <jansson.h>
#include <stdint.h>

#include "ra/base/app.h"
#include "ra/base/config.h"
#include "ra/base/err.h"
#include "ra/db/outbox.h"

struct job {
	int64_t id;
	const char *kind;
	json_t *payload; /* borrowed; valid until job_done/job_fail */
	int attempt; /* 1 for the first run */
	int max_attempts; /* the limit in force: attempt == max_attempts is the last chance */
	const char *idempotency_key; /* borrowed, NULL when the job has none */
	struct app *app;
	void *handler_data;
	void *priv; /* runner's */
};

typedef void (*job_handler)(struct job *job);

/* A job kind as a flow declares it: each flow exports a table of these (ended by an entry
 * with kind NULL), and the composition root (server.c modules[]) registers them, so the
 * runner never calls up into a flow. */
struct job_kind {
	const char *kind;
	job_handler fn;
	int max_attempts; /* after which a failing job is parked dead */
	const char *enabled_by; /* NULL: always; else the boolean configuration key that enables it */
};

/*
 * Lanes (issue #19, R14): each has its own slots, so jobs of one lane never wait for slots
 * held by another.  Revocations and issuance must not queue behind notifications whose peer
 * hangs.  Slots per lane: jobs.revoke_workers, jobs.issue_workers, jobs.ident_workers,
 * jobs.workers (default).
 */
#define JOBS_LANE_REVOKE "revoke"
#define JOBS_LANE_ISSUE "issue"
/* The identification provider's jobs: as many slots as the peer takes calls (peers.max_inflight),
 * so the runner never claims a job only to find the peer's bound full and give it back. */
#define JOBS_LANE_IDENT "ident"

/* Puts a kind in a lane (a module's init, before its kinds are registered); kinds not named
 * here run in the default lane.  An unknown lane name aborts (a programming error). */
void jobs_lane(struct jobs *jobs, const char *kind, const char *lane);

/* The server module (server.c modules[]): creates the runner as app->jobs, LISTENs on
 * 'ra_jobs' and starts claiming once the loop runs. */
int jobs_init(struct app *app, struct ra_err *err);

/* Drain (SIGTERM): claims nothing more, lets what runs finish, then calls done(data). */
void jobs_stop(struct app *app, void (*done)(void *), void *data);

/* Registers a handler (in the lane jobs_lane named, else the default lane); max_attempts after
 * which a failing job is parked dead. */
void jobs_register(struct jobs *jobs, const char *kind, job_handler fn, void *data, int max_attempts);
/* Registers every kind of a flow's table. */
void jobs_register_kinds(struct jobs *jobs, const struct config *cfg, const struct job_kind *kinds);

/* [{"name","workers","inflight"}] of this process's lanes; caller decrefs.  jobs may be NULL. */
json_t *jobs_lanes_json(const struct jobs *jobs);

/* Exactly one of these ends a job run.  result (stolen, may be NULL) is stored with the job. */
void job_done(struct job *job, json_t *result);
/* retryable = 0 parks the job dead at once (a permanent failure, e.g. a CA refusal).
 * err->code RA_E_BUSY (a peer's bound is full or its breaker open: the call was not made)
 * re-queues the job after jobs.busy_retry_ms WITHOUT counting the attempt, whatever
 * retryable says: a refused call is no failure of the job. */
void job_fail(struct job *job, const struct ra_err *err, int retryable);

/*
 * The job's end in the same transaction as the change it made: job_done_in adds the fenced
 * "done" UPDATE (result stolen, may be NULL) to the caller's outbox unit, so the change and
 * the job's completion commit together - one commit fewer per job, and no window in which the
 * change is committed and the job still 'running'.  Returns the statement's index in the unit
 * (-1 when the unit is full).  Once the unit committed, job_done_committed(job, rows) ends the
 * run (rows[index]: 0 means another run held the job, logged as for job_done); when it did not
 * commit, the done UPDATE rolled back with it and the caller ends the run with job_fail or
 * job_done as usual.
 */
int job_done_in(struct job *job, struct outbox *ob, json_t *result);
void job_done_committed(struct job *job, int done_rows);

#endif
