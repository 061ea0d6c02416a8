/*
 * crl_watch.h - the CRL as relying parties see it, for monitoring (R14): thisUpdate,
 * nextUpdate, and revocations not yet on it, as Prometheus gauges; every ca.crl_check_s
 * seconds (0: off).  Started by the cert module once the CA is open.
 */
#ifndef RA_CRL_WATCH_H
#define RA_CRL_WATCH_H

#include <openssl/x509.h>

#include "ra/base/app.h"
#include "ra/base/err.h"

int crl_watch_start(struct app *app, struct ra_err *err);

/* How many of the n serials (hex, any case, with or without leading zeros: the database's
 * are canonical, BN_bn2hex pads to whole octets) crl does not list; *oldest: the longest
 * now - revoked_at[i] among them (0 when none).  Pure: the watcher runs it on the thread
 * pool; -1 when memory runs out. */
int crl_watch_missing(const X509_CRL *crl, char *const *serials, const double *revoked_at, int n, double now,
		      double *oldest);

#endif
