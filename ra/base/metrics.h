/*
 * metrics.h - Prometheus text-format metrics: request counts by route and status, a latency
 * histogram per route, gauges and counters read on demand from registered functions (pool,
 * jobs, CRL), counters incremented by name, the standard process_* figures (procstat.h) and
 * ra_build_info.  Used only from the loop thread; no locking.
 */
#ifndef RA_METRICS_H
#define RA_METRICS_H

#include <stddef.h>

typedef double (*metrics_gauge_fn)(void *data);

void metrics_observe_request(const char *route, int status, double seconds);
/* name: Prometheus metric name; labels: e.g. "kind=\"ident_invite\"" or "".  Samples of one
 * name are rendered together whatever the registration order. */
void metrics_gauge(const char *name, const char *help, const char *labels, metrics_gauge_fn fn, void *data);
/* A monotonic value read from fn (reconnects since start): typed counter; name ends in _total. */
void metrics_counter_fn(const char *name, const char *help, const char *labels, metrics_gauge_fn fn,
			void *data);
/* counter increments by name + labels (created on first use); name ends in _total */
void metrics_count(const char *name, const char *labels, double by);
/* The help text of a metrics_count counter; its family is shown (without samples) before the
 * first increment, so dashboards and alert rules find it. */
void metrics_help(const char *name, const char *help);
/* The version in ra_build_info{version="..."} 1. */
void metrics_build_info(const char *version);
/* Renders everything; caller frees the returned string. */
char *metrics_render(size_t *len);
void metrics_reset(void);

#endif
