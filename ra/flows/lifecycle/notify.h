/*
 * notify.h - notifications (docs/lifecycle.md "Notifications").
 *
 *   notify task (notify_scan.c)  reads the audit log from its cursor (schedules.cursor: the
 *        last seq it has read) and, for each record the table in notices.c names, enqueues
 *        one `notify` job per recipient under the key "notify:<seq>:<to>"; dead jobs get one
 *        support job each ("notify:job_dead:<id>:<attempts>").  The jobs' unique keys make a
 *        repeated scan (a crash before the cursor moved) enqueue nothing twice.  The cursor
 *        reads chained records (audit_log): the sequencer numbers them in chaining order, a
 *        late commit is chained later with a higher seq, so the cursor skips none.
 *   notify job (notify_send.c)  payload {"seq" | "job_id", "template", "to"}: renders the
 *        template with the event's data, sends it through the SMTP client and records it in
 *        `notifications` under the job's key with an audit record 'notify.sent'; a re-run
 *        that finds the record sends nothing.
 */
#ifndef RA_LIFECYCLE_NOTIFY_H
#define RA_LIFECYCLE_NOTIFY_H

#include "ra/jobs/jobs.h"
#include "ra/jobs/sched.h"

#define NOTIFY_MAX_ATTEMPTS 50

void notify_scan_tick(struct sched_tick *t);
void notify_send_run(struct job *job);

#endif
