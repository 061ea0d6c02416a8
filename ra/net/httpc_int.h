/*
 * httpc_int.h - what httpc.c (loop glue, lifecycle) and httpc_xfer.c (building and finishing
 * one transfer) share.  Not for other modules: use ra/httpc.h.
 */
#ifndef RA_HTTPC_INT_H
#define RA_HTTPC_INT_H

#include <curl/curl.h>
#include <stddef.h>
#include <uv.h>

#include "ra/base/err.h"
#include "ra/net/httpc.h"

#define HTTPC_MAX_HOST_CONNS 16 /* more requests to one host wait for a free connection */
#define HTTPC_MAX_IDLE_CONNS 32 /* keep-alive cache size */

struct sock;
struct peer;

#define HTTPC_MAX_PEERS 16

struct httpc {
	uv_loop_t *loop;
	CURLM *multi;
	uv_timer_t timer; /* curl's next timeout */
	uv_timer_t defer; /* delivers start-up failures on the next loop turn */
	struct xfer *active; /* added to the multi handle, callback due */
	struct xfer *failed; /* failed while starting, callback due via `defer` */
	struct sock *socks; /* sockets curl asked us to watch */
	int inflight; /* callbacks still due */
	int open_handles; /* uv handles not yet closed; memory goes with the last */
	int dispatching; /* user callbacks running now */
	int closing; /* httpc_free called */
	int free_pending; /* httpc_free called from inside a callback */
	struct peer *peers[HTTPC_MAX_PEERS]; /* bounds and breakers by URL origin (peer.h); not owned */
	int npeers;
};

/* One request or mail: everything its curl callbacks and the final callback need. */
struct xfer {
	struct httpc *c;
	CURL *easy;
	struct curl_slist *list; /* request headers, or the mail recipient */
	char *out; /* request body or mail message (our copy) */
	size_t out_len, out_off;
	char *in; /* response body, NUL-terminated */
	size_t in_len, in_cap;
	int too_large;
	int tls_required; /* mail with credentials: STARTTLS or nothing */
	int failed;
	long status;
	struct ra_err err;
	httpc_cb cb;
	void *data;
	char errbuf[CURL_ERROR_SIZE];
	struct peer *peer; /* entered for this transfer: left when it is delivered */
	struct xfer *prev, *next;
};

void httpc_track(struct httpc *c, struct xfer *x);
void httpc_untrack(struct httpc *c, struct xfer *x);
/* Queues x (x->err set) for delivery on the next loop turn. */
void httpc_defer_failure(struct httpc *c, struct xfer *x);

/* curl finished x with rc: remove, deliver, free. */
void httpc_xfer_finish(struct xfer *x, CURLcode rc);
/* httpc_free: remove x and deliver "cancelled". */
void httpc_xfer_cancel(struct xfer *x);
/* Calls the user's callback with x's outcome, then frees x. */
void httpc_xfer_deliver(struct xfer *x);

#endif
