/*
 * reminders.h - the `reminders` task (reminders.c): mails before notAfter and before the end of
 * the contractual term, at the configured offsets, once each.
 */
#ifndef RA_LIFECYCLE_REMINDERS_H
#define RA_LIFECYCLE_REMINDERS_H

#include "ra/base/config.h"
#include "ra/base/err.h"
#include "ra/jobs/sched.h"

/* Reads lifecycle.expiry_reminders and lifecycle.term_reminders (arrays of durations, "30d");
 * err names the key when one is not. */
int reminders_config(const struct config *cfg, struct ra_err *err);
void reminders_tick(struct sched_tick *t);

#endif
