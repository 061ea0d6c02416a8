/*
 * metrics.h - Prometheus text-format metrics: request counts by route and status, a latency
 * histogram per route, and gauges read on demand from registered functions (pool, jobs).
 * Used only from the loop thread; no locking.
 */
#ifndef RA_METRICS_H
#define RA_METRICS_H

#include <stddef.h>

typedef double (*metrics_gauge_fn)(void *data);

void metrics_observe_request(const char *route, int status, double seconds);
/* name: Prometheus metric name; labels: e.g. "kind=\"ident_invite\"" or "" */
void metrics_gauge(const char *name, const char *help, const char *labels, metrics_gauge_fn fn, void *data);
/* counter increments by name + labels (created on first use) */
void metrics_count(const char *name, const char *labels, double by);
/* Renders everything; caller frees the returned string. */
char *metrics_render(size_t *len);
void metrics_reset(void);

#endif
