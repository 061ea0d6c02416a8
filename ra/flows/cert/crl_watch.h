/*
 * crl_watch.h - the CRL as relying parties see it, for monitoring (R14): thisUpdate,
 * nextUpdate, and revocations not yet on it, as Prometheus gauges; every ca.crl_check_s
 * seconds (0: off).  Started by the cert module once the CA is open.
 */
#ifndef RA_CRL_WATCH_H
#define RA_CRL_WATCH_H

#include "ra/base/app.h"
#include "ra/base/err.h"

int crl_watch_start(struct app *app, struct ra_err *err);

#endif
