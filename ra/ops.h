/* routes_ops.h - /healthz and /metrics. */
#ifndef RA_ROUTES_OPS_H
#define RA_ROUTES_OPS_H

#include "ra/base/app.h"

int routes_ops_init(struct app *app, struct ra_err *err);

#endif
