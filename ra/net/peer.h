/*
 * peer.h - per-peer bound on concurrent calls and a circuit breaker (issue #19, R14).
 *
 * Every outside peer the RA calls (ident provider, SMTP server, SMS gateway, CMP server) gets
 * one `struct peer`: at most max_inflight calls at a time, and after `failures` consecutive
 * failed calls (timeout, connection refused, 5xx) the breaker opens: calls are refused at
 * once for open_ms, then one trial call is let through (half-open); its success closes the
 * breaker, its failure opens it again.  A refused call is RA_E_BUSY: the job runner treats it
 * as "try later" (job_fail with RA_E_BUSY re-queues without counting an attempt), so a hung
 * or dead peer neither holds job slots nor burns attempts.
 *
 * httpc consults its peers by URL origin (scheme://host:port) on every request and mail
 * (httpc_peer_add); other callers (the CMP back-end on the thread pool) use peer_enter /
 * peer_leave around their call.  State is per process and lives on the loop thread.
 */
#ifndef RA_PEER_H
#define RA_PEER_H

#include <jansson.h>
#include <stdint.h>

#include "ra/base/err.h"

struct peer;

struct peer_limits {
	int max_inflight; /* concurrent calls; > 0 */
	int failures; /* consecutive failures that open the breaker; > 0 */
	long long open_ms; /* how long an open breaker refuses before a trial call */
};

enum peer_state { PEER_CLOSED = 0, PEER_HALF_OPEN = 1, PEER_OPEN = 2 };

/* name: "sms", "smtp", "ident", "cmp" (metrics label); origin: "scheme://host:port" or NULL.
 * Registers the peer's metrics.  Caller frees with peer_free (accepts NULL). */
struct peer *peer_new(const char *name, const char *origin, const struct peer_limits *lim);
void peer_free(struct peer *p);

/* 0: go ahead, and call peer_leave once the call is over.  RA_E_BUSY (err filled): refused,
 * the bound is full or the breaker is open; do not call peer_leave. now_ms: uv_now(). */
int peer_enter(struct peer *p, uint64_t now_ms, struct ra_err *err);
/* ok = 0: the call failed in a way that says the peer is unwell (timeout, unreachable, 5xx). */
void peer_leave(struct peer *p, uint64_t now_ms, int ok);

enum peer_state peer_state(const struct peer *p, uint64_t now_ms);
const char *peer_name(const struct peer *p);
const char *peer_origin(const struct peer *p);
/* {"name","state","inflight","max_inflight","consecutive_failures","opened","refused"}; caller
 * decrefs. */
json_t *peer_json(const struct peer *p, uint64_t now_ms);

/* "scheme://host:port" (the part before the path) of url into buf; 0, or -1 if none. */
int peer_origin_of(const char *url, char *buf, size_t cap);

#endif
