/*
 * expiry.h - the `expiry` task (expiry.c): certificates whose notAfter has passed become
 * 'expired', one bounded batch per tick.
 */
#ifndef RA_LIFECYCLE_EXPIRY_H
#define RA_LIFECYCLE_EXPIRY_H

#include "ra/jobs/sched.h"

void expiry_tick(struct sched_tick *t);

#endif
