/*
 * intake_reject.h - a delivery refused for a business reason (intake_reject.c).
 */
#ifndef RA_INTAKE_REJECT_H
#define RA_INTAKE_REJECT_H

#include "ra/flows/intake/intake_req.h"

/* Records a refused delivery for support (intake_rejections, audited once per order and
 * reason), then replies with err and frees r.  reason: "unknown_sku", ... */
void intake_reject(struct intake_req *r, const char *reason, const struct ra_err *err);

#endif
