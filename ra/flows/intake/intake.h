/*
 * intake.h - order intake (issue #4): POST /v1/shop/woocommerce and the `ident_invite` job.
 *
 * A WooCommerce order webhook becomes, in one database transaction, an RA order (one per
 * shop order, keyed by the shop's order id), its line items (keyed by order and line item),
 * one certificate request per unit, the user (one per E.164 mobile number, R3), the contract
 * binding (R6), the audit records (R16) and the follow-up job (invitation, or issuance when
 * an earlier identification may be reused, R17).  The shop gets its 200 only after COMMIT.
 * docs/intake.md has the design, docs/api.md the statuses.
 */
#ifndef RA_INTAKE_H
#define RA_INTAKE_H

#include "ra/base/app.h"
#include "ra/base/err.h"

/* Server module (server.c modules[]): loads the product catalogue (a bad one stops start-up),
 * adds the route, and registers the `ident_invite` job kind when the job runner is up. */
int intake_init(struct app *app, struct ra_err *err);

#endif
