/*
 * peer.c - the per-peer call bound and circuit breaker of peer.h: counters on the loop
 * thread, no timers (the clock is passed in), metrics read on demand.
 */
#include "ra/net/peer.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ra/base/log.h"
#include "ra/base/metrics.h"

struct peer {
	char name[32];
	char origin[256];
	struct peer_limits lim;
	int inflight;
	int consecutive; /* failures in a row */
	uint64_t open_until; /* breaker open while now < open_until */
	int opened_once; /* open_until is meaningful */
	int trial; /* half-open: the one trial call is under way */
	uint64_t last_now; /* the clock as last seen (for the metrics, which have none) */
	double refused, opened;
};

static double g_state(void *d)
{
	const struct peer *p = d;

	return (double)peer_state(p, p->last_now);
}

static double g_inflight(void *d)
{
	return ((const struct peer *)d)->inflight;
}

static double g_refused(void *d)
{
	return ((const struct peer *)d)->refused;
}

static double g_opened(void *d)
{
	return ((const struct peer *)d)->opened;
}

struct peer *peer_new(const char *name, const char *origin, const struct peer_limits *lim)
{
	struct peer *p = calloc(1, sizeof(*p));
	char labels[80];

	if (p == NULL)
		return NULL;
	snprintf(p->name, sizeof(p->name), "%s", name);
	snprintf(p->origin, sizeof(p->origin), "%s", origin ? origin : "");
	p->lim = *lim;
	if (p->lim.max_inflight < 1)
		p->lim.max_inflight = 1;
	if (p->lim.failures < 1)
		p->lim.failures = 1;
	/* Only configured peers become labels, so the set of series stays bounded. */
	snprintf(labels, sizeof(labels), "peer=\"%s\"", p->name);
	metrics_gauge("ra_peer_breaker_state", "Circuit breaker per peer: 0 closed, 1 half-open, 2 open.",
		      labels, g_state, p);
	metrics_gauge("ra_peer_inflight", "Calls to the peer under way in this process.", labels, g_inflight,
		      p);
	metrics_counter_fn(
		"ra_peer_refused_total",
		"Calls not made because the peer's bound was full or its breaker open (the job retries later).",
		labels, g_refused, p);
	metrics_counter_fn("ra_peer_breaker_opened_total", "Times the peer's circuit breaker opened.", labels,
			   g_opened, p);
	return p;
}

void peer_free(struct peer *p)
{
	free(p);
}

enum peer_state peer_state(const struct peer *p, uint64_t now_ms)
{
	if (!p->opened_once || p->consecutive < p->lim.failures)
		return PEER_CLOSED;
	return now_ms < p->open_until ? PEER_OPEN : PEER_HALF_OPEN;
}

int peer_enter(struct peer *p, uint64_t now_ms, struct ra_err *err)
{
	enum peer_state st;

	p->last_now = now_ms;
	st = peer_state(p, now_ms);
	if (st == PEER_OPEN || (st == PEER_HALF_OPEN && p->trial)) {
		p->refused++;
		return ra_err_set(err, RA_E_BUSY, p->name,
				  "circuit breaker of peer %s is open after %d failures in a row", p->name,
				  p->consecutive);
	}
	if (p->inflight >= p->lim.max_inflight) {
		p->refused++;
		return ra_err_set(err, RA_E_BUSY, p->name, "peer %s has %d calls under way (its bound)",
				  p->name, p->inflight);
	}
	if (st == PEER_HALF_OPEN)
		p->trial = 1;
	p->inflight++;
	return 0;
}

void peer_leave(struct peer *p, uint64_t now_ms, int ok)
{
	char n[16];

	p->last_now = now_ms;
	if (p->inflight > 0)
		p->inflight--;
	if (ok) {
		if (p->consecutive >= p->lim.failures)
			log_info("peer.breaker_closed", "peer", p->name, NULL);
		p->consecutive = 0;
		p->trial = 0;
		return;
	}
	p->consecutive++;
	/* The call that reaches the threshold opens the breaker, and so does a failed trial. */
	if (p->consecutive == p->lim.failures || (p->consecutive > p->lim.failures && p->trial)) {
		p->open_until = now_ms + (uint64_t)p->lim.open_ms;
		p->opened_once = 1;
		p->opened++;
		snprintf(n, sizeof(n), "%d", p->consecutive);
		log_warn("peer.breaker_open", "peer", p->name, "failures", n, NULL);
	}
	p->trial = 0;
}

const char *peer_name(const struct peer *p)
{
	return p->name;
}

const char *peer_origin(const struct peer *p)
{
	return p->origin;
}

json_t *peer_json(const struct peer *p, uint64_t now_ms)
{
	static const char *names[] = {"closed", "half_open", "open"};
	enum peer_state st = peer_state(p, now_ms);

	return json_pack("{s:s, s:s, s:i, s:i, s:i, s:I, s:I, s:I}", "name", p->name, "state", names[st],
			 "inflight", p->inflight, "max_inflight", p->lim.max_inflight, "consecutive_failures",
			 p->consecutive, "open_for_ms",
			 (json_int_t)(st == PEER_OPEN ? p->open_until - now_ms : 0), "refused",
			 (json_int_t)p->refused, "opened", (json_int_t)p->opened);
}

int peer_origin_of(const char *url, char *buf, size_t cap)
{
	const char *s = url ? strstr(url, "://") : NULL;
	size_t n;

	if (s == NULL)
		return -1;
	s += 3;
	n = (size_t)(s - url) + strcspn(s, "/?#");
	if (n + 1 > cap)
		return -1;
	memcpy(buf, url, n);
	buf[n] = '\0';
	return 0;
}
