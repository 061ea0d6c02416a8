/*
 * sched.h - the durable scheduler inside `ra serve` (issue #14; docs/lifecycle.md).
 *
 * A periodic task is a row in `schedules` (migrations/0011_lifecycle.sql) with its next run.
 * Every node looks for a due task every sched.tick_ms and claims it like a job: one UPDATE
 * over a SELECT ... FOR UPDATE SKIP LOCKED that sets a lease (locked_by, lease_until), so one
 * node runs each tick however many share the database, and a node that dies mid-tick leaves
 * the task to another once the lease has passed.  A tick does a bounded amount of work (the
 * task is handed `batch`, the most rows it may touch) and reports how many it handled: a full
 * batch means there is more, and the task runs again at once (catching up after downtime in
 * bounded steps); otherwise it runs again after its interval, counted from the end of this
 * tick (missed ticks are not replayed one by one).  The end of a tick is fenced by
 * (locked_by, runs): a node whose lease was taken over cannot move the schedule.
 *
 * Tasks must be idempotent (a tick may be repeated after a crash): they change state under
 * guards ("WHERE state = ...") and enqueue jobs with idempotency keys.
 */
#ifndef RA_SCHED_H
#define RA_SCHED_H

#include <stdint.h>

#include "ra/base/app.h"
#include "ra/base/config.h"
#include "ra/base/err.h"

struct sched_tick {
	struct app *app;
	const char *name;
	int batch; /* the most items this tick may handle */
	int64_t cursor; /* the task's stored position (schedules.cursor) */
	void *priv; /* the scheduler's */
};

typedef void (*sched_fn)(struct sched_tick *t);

/* A periodic task as a flow declares it (tables ended by an entry with name NULL). */
struct sched_task {
	const char *name; /* schedules.name */
	sched_fn fn;
	const char *interval_key; /* configuration key: the interval in seconds */
};

/* The server module: creates app->sched and starts ticking once the loop runs. */
int sched_init(struct app *app, struct ra_err *err);
/* Registers a flow's tasks (server.c modules[]). */
void sched_register_tasks(struct sched *s, const struct config *cfg, const struct sched_task *tasks);
/* Drain: starts no tick more; done(data) once the running one has ended. */
void sched_stop(struct app *app, void (*done)(void *), void *data);

/* Ends a tick (exactly once): items handled (== batch: there is more, run again at once),
 * err NULL on success.  new_cursor >= 0 stores the task's position with the tick's end. */
void sched_tick_done(struct sched_tick *t, int items, int64_t new_cursor, const struct ra_err *err);

#endif
