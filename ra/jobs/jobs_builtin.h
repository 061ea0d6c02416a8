/*
 * jobs_builtin.h - job kinds that ship with the runner itself:
 *
 *   noop         always in production: completes at once; lets operators check that the
 *                runners of a deployment pick up work (`INSERT INTO jobs (kind) ...`).
 *   test.effect  only when jobs.test_kinds is true (tests, staging): writes one row per
 *                idempotency key into job_test_effects, with planned failures and delays
 *                taken from its payload, to prove retries and exactly-once effects.
 */
#ifndef RA_JOBS_BUILTIN_H
#define RA_JOBS_BUILTIN_H

#include "ra/jobs/jobs.h"

extern const struct job_kind jobs_builtin_kinds[];

#endif
