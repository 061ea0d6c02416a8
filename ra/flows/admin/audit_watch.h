/*
 * audit_watch.h - the audit chain (R16) verified by `ra serve` itself every
 * audit.verify_hours (0: off), with the outcome as Prometheus metrics for the alert rules
 * (deploy/prometheus/ra-alerts.yml).  Started by the admin module.
 */
#ifndef RA_AUDIT_WATCH_H
#define RA_AUDIT_WATCH_H

#include "ra/base/app.h"
#include "ra/base/err.h"

int audit_watch_start(struct app *app, struct ra_err *err);
/* Records a verification's outcome (rc of audit_verify: 0, RA_E_RULE or another error) from
 * any caller on the loop thread (the admin API's verify too). */
void audit_watch_note(int rc, long long records);

#endif
