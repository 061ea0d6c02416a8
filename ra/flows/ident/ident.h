/*
 * ident.h - the identification result (issue #5, R7, R8, R11, R18): the IDnow callback
 * route POST /v1/ident/idnow and the jobs that carry an order from the provider's result to
 * issued certificates.  docs/ident.md describes the flow; docs/api.md the endpoint.
 *
 * Job kinds of the flow (ident_job_kinds, registered by server.c):
 *   ident_invite  {"order_id"}  start the identification at the provider, mail the link (invite.c)
 *   ident_result  {"order_id", "tx", "claimed"}  fetch the result from the provider, decide,
 *                 store evidence and effects (ident_job.c, ident_apply.c)
 * A passed identification hands the order to the certificate flow (ra/flows/cert/order_issue.h).
 */
#ifndef RA_IDENT_H
#define RA_IDENT_H

#include "ra/base/app.h"
#include "ra/base/err.h"
#include "ra/jobs/jobs.h"

#define IDENT_RESULT_MAX_ATTEMPTS 20

/* The server module (server.c modules[]): the callback route and the configuration checks. */
int ident_init(struct app *app, struct ra_err *err);

extern const struct job_kind ident_job_kinds[];

/* The ident_result job (ident_job.c). */
void ident_result_run(struct job *job);

/* 1 when addr (text, IPv4 or IPv6) is in list: comma- or space-separated addresses and
 * CIDR prefixes ("127.0.0.1, 10.0.0.0/8, ::1").  A malformed entry matches nothing. */
int ident_addr_allowed(const char *list, const char *addr);

#endif
