/*
 * ident.h - the identification result (issue #5, R7, R8, R11, R18): the IDnow callback
 * route POST /v1/ident/idnow and the jobs that carry an order from the provider's result to
 * issued certificates.  docs/ident.md describes the flow; docs/api.md the endpoint.
 *
 * Job kinds registered here:
 *   ident_result  {"order_id", "tx", "claimed"}  fetch the result from the provider, decide,
 *                 store evidence and effects (ident_job.c, ident_apply.c)
 *   order_issue   {"order_id"}        certificates for an order that reuses an earlier
 *                 identification (R17; oissue.c)
 *   transport_pin {"certificate_id"}  R11: PIN, its scrypt hash, the SMS (tpin.c)
 *   user_id_mail  {"order_id"}        R8: the user ID mail once the order is issued (usermail.c)
 * and the admin route GET /v1/admin/orders/{id}/identifications (evidence for support).
 */
#ifndef RA_IDENT_H
#define RA_IDENT_H

#include "ra/base/app.h"

#define IDENT_RESULT_MAX_ATTEMPTS 20

/* The server module (server.c modules[]): after the job runner. */
int ident_init(struct app *app, struct ra_err *err);

/* Registration of the single kinds (used by ident_init). */
void ident_job_register(struct app *app);
int tpin_init(struct app *app, struct ra_err *err);
int usermail_init(struct app *app, struct ra_err *err);
void ident_admin_routes(struct app *app);

/* 1 when addr (text, IPv4 or IPv6) is in list: comma- or space-separated addresses and
 * CIDR prefixes ("127.0.0.1, 10.0.0.0/8, ::1").  A malformed entry matches nothing. */
int ident_addr_allowed(const char *list, const char *addr);

#endif
