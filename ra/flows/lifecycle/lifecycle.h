/*
 * lifecycle.h - the lifecycle flow (issue #14; docs/lifecycle.md): what happens as time passes.
 * Its periodic tasks run on the durable scheduler (ra/jobs/sched.h):
 *
 *   expiry   certificates past their notAfter move to 'expired' (wf_cert EXPIRE), audited
 *            'cert.expired'; revoked ones stay revoked (and on the CRL).
 *   reminders  mails before notAfter and before the term end, once per offset (reminders.h)
 *   term     the end-of-term policy once term + grace passed without renewal (term.h)
 *   notify   audit records (and dead jobs) -> one `notify` job per mail (notify.h); which
 *            change mails whom is the table in notices.c, the words are template files.
 *
 * Each task is one statement: bounded by the tick's batch (LIMIT), rows locked FOR UPDATE
 * SKIP LOCKED, the state change guarded by the states it starts from, and its audit record
 * written by the same statement, so a repeated or concurrent tick changes nothing twice.
 */
#ifndef RA_LIFECYCLE_H
#define RA_LIFECYCLE_H

#include "ra/base/app.h"
#include "ra/base/err.h"
#include "ra/jobs/jobs.h"
#include "ra/jobs/sched.h"

/* The server module (server.c modules[]): checks the flow's configuration. */
int lifecycle_init(struct app *app, struct ra_err *err);

/* The flow's periodic tasks (registered by server.c). */
extern const struct sched_task lifecycle_tasks[];
/* notify (registered by server.c). */
extern const struct job_kind lifecycle_job_kinds[];

#endif
