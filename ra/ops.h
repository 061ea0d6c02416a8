/* ops.h - /healthz and /metrics: part of the composition root, since health reads every layer. */
#ifndef RA_OPS_H
#define RA_OPS_H

#include "ra/base/app.h"
#include "ra/base/err.h"

int ops_init(struct app *app, struct ra_err *err);

#endif
