/*
 * term.h - the `term` task (term.c): once the contractual term has ended and term.grace has
 * passed without a renewal, the policy term.on_end is applied to the certificate.
 */
#ifndef RA_LIFECYCLE_TERM_H
#define RA_LIFECYCLE_TERM_H

#include "ra/base/config.h"
#include "ra/base/err.h"
#include "ra/jobs/sched.h"

/* Reads term.grace and term.on_end; err names the key when one is wrong. */
int term_config(const struct config *cfg, struct ra_err *err);
void term_tick(struct sched_tick *t);

#endif
