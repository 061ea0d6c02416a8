/*
 * health.h - the health of the parts of `ra serve` that may fail on their own while the rest
 * keeps working (issue #19: a damaged CA record must not take intake and support down).  A
 * part reports itself (health_set); /healthz lists every part and `ra_component_healthy`
 * shows it in the metrics.  Process state on the loop thread, like the metrics.
 */
#ifndef RA_HEALTH_H
#define RA_HEALTH_H

#include <jansson.h>

/* name: "ca"; healthy 0/1; why: shown when not healthy (copied).  The first call registers
 * the part's gauge ra_component_healthy{component="name"}. */
void health_set(const char *name, int healthy, const char *why);
/* 1 when the part is healthy or never reported; why (may be NULL) gets its reason. */
int health_ok(const char *name, const char **why);
/* {"name": {"healthy": bool, "why": "..."}, ...}; caller decrefs. */
json_t *health_json(void);

#endif
