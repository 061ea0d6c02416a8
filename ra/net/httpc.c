/*
 * httpc.c - the asynchronous HTTP/SMTP client: libcurl's multi interface driven by the
 * service's libuv loop.  curl tells us which sockets to watch (CURLMOPT_SOCKETFUNCTION → one
 * uv_poll per socket) and when to wake it (CURLMOPT_TIMERFUNCTION → one uv_timer); we hand
 * readiness back with curl_multi_socket_action and collect finished transfers with
 * curl_multi_info_read.  DNS runs on curl's resolver thread, so nothing here blocks the loop.
 * Request set-up is in httpc_xfer.c; this file owns the loop glue and the transfer lifecycle.
 */
#include "ra/net/httpc.h"
#include "ra/net/httpc_int.h"
#include "ra/net/peer.h"

#include <stdlib.h>
#include <string.h>

struct sock {
	uv_poll_t poll;
	curl_socket_t fd;
	struct httpc *c;
	struct sock *prev, *next;
};

static uv_once_t global_once = UV_ONCE_INIT;
static CURLcode global_rc = CURLE_FAILED_INIT;

/* curl_global_init is not thread-safe and must run once per process; never cleaned up, since
 * other code (the test helpers) may use libcurl until exit. */
static void global_init(void)
{
	global_rc = curl_global_init(CURL_GLOBAL_DEFAULT);
}

static void teardown(struct httpc *c);

static void handle_closed(struct httpc *c)
{
	if (--c->open_handles == 0 && c->closing)
		free(c);
}

static void on_sock_closed(uv_handle_t *h)
{
	struct sock *s = h->data;
	struct httpc *c = s->c;

	free(s);
	handle_closed(c);
}

static void sock_close(struct sock *s)
{
	struct httpc *c = s->c;

	if (s->prev)
		s->prev->next = s->next;
	else
		c->socks = s->next;
	if (s->next)
		s->next->prev = s->prev;
	uv_close((uv_handle_t *)&s->poll, on_sock_closed);
}

/* Called back (from inside curl) with each transfer that finished; delivers the result. */
static void collect_done(struct httpc *c)
{
	CURLMsg *msg;
	int pending;

	while (!c->free_pending && (msg = curl_multi_info_read(c->multi, &pending)) != NULL) {
		struct xfer *x = NULL;

		if (msg->msg != CURLMSG_DONE)
			continue;
		curl_easy_getinfo(msg->easy_handle, CURLINFO_PRIVATE, (char **)&x);
		/* msg points into the easy handle; read result before removing it */
		httpc_xfer_finish(x, msg->data.result);
	}
	if (c->free_pending && c->dispatching == 0)
		teardown(c);
}

static void on_poll(uv_poll_t *p, int status, int events)
{
	struct sock *s = p->data;
	struct httpc *c = s->c;
	int flags = 0;
	int running;

	if (status < 0)
		flags = CURL_CSELECT_ERR;
	if (events & UV_READABLE)
		flags |= CURL_CSELECT_IN;
	if (events & UV_WRITABLE)
		flags |= CURL_CSELECT_OUT;
	/* may REMOVE this very socket: s is not touched afterwards */
	curl_multi_socket_action(c->multi, s->fd, flags, &running);
	collect_done(c);
}

static void on_timer(uv_timer_t *t)
{
	struct httpc *c = t->data;
	int running;

	curl_multi_socket_action(c->multi, CURL_SOCKET_TIMEOUT, 0, &running);
	collect_done(c);
}

static int on_curl_socket(CURL *easy, curl_socket_t fd, int what, void *userp, void *socketp)
{
	struct httpc *c = userp;
	struct sock *s = socketp;
	int events = 0;

	(void)easy;
	if (what == CURL_POLL_REMOVE) {
		if (s != NULL) {
			curl_multi_assign(c->multi, fd, NULL);
			sock_close(s);
		}
		return 0;
	}
	if (s == NULL) {
		s = calloc(1, sizeof(*s));
		if (s == NULL)
			return -1;
		if (uv_poll_init_socket(c->loop, &s->poll, fd) != 0) {
			free(s);
			return -1;
		}
		s->fd = fd;
		s->c = c;
		s->poll.data = s;
		s->next = c->socks;
		if (c->socks)
			c->socks->prev = s;
		c->socks = s;
		c->open_handles++;
		curl_multi_assign(c->multi, fd, s);
	}
	if (what & CURL_POLL_IN)
		events |= UV_READABLE;
	if (what & CURL_POLL_OUT)
		events |= UV_WRITABLE;
	uv_poll_start(&s->poll, events, on_poll);
	return 0;
}

/* curl asks to be woken after timeout_ms (-1: never).  0 still goes through the loop:
 * curl must not be re-entered from inside its own callback. */
static int on_curl_timer(CURLM *multi, long timeout_ms, void *userp)
{
	struct httpc *c = userp;

	(void)multi;
	if (c->closing)
		return 0;
	if (timeout_ms < 0)
		uv_timer_stop(&c->timer);
	else
		uv_timer_start(&c->timer, on_timer, (uint64_t)timeout_ms, 0);
	return 0;
}

static void on_timer_closed(uv_handle_t *h)
{
	handle_closed(h->data);
}

struct httpc *httpc_new(uv_loop_t *loop)
{
	struct httpc *c;

	uv_once(&global_once, global_init);
	if (loop == NULL || global_rc != CURLE_OK)
		return NULL;
	c = calloc(1, sizeof(*c));
	if (c == NULL)
		return NULL;
	c->loop = loop;
	c->multi = curl_multi_init();
	if (c->multi == NULL) {
		free(c);
		return NULL;
	}
	curl_multi_setopt(c->multi, CURLMOPT_SOCKETFUNCTION, on_curl_socket);
	curl_multi_setopt(c->multi, CURLMOPT_SOCKETDATA, c);
	curl_multi_setopt(c->multi, CURLMOPT_TIMERFUNCTION, on_curl_timer);
	curl_multi_setopt(c->multi, CURLMOPT_TIMERDATA, c);
	/* Peers are a handful of hosts (ident provider, SMS gateway, SMTP): keep a few idle
	 * connections each, and queue rather than open a connection per burst request. */
	curl_multi_setopt(c->multi, CURLMOPT_MAX_HOST_CONNECTIONS, (long)HTTPC_MAX_HOST_CONNS);
	curl_multi_setopt(c->multi, CURLMOPT_MAXCONNECTS, (long)HTTPC_MAX_IDLE_CONNS);
	uv_timer_init(loop, &c->timer);
	uv_timer_init(loop, &c->defer);
	c->timer.data = c->defer.data = c;
	c->open_handles = 2;
	return c;
}

int httpc_inflight(const struct httpc *c)
{
	return c ? c->inflight : 0;
}

int httpc_peer_add(struct httpc *c, struct peer *p)
{
	if (c->npeers >= HTTPC_MAX_PEERS)
		return RA_E_TOOLARGE;
	c->peers[c->npeers++] = p;
	return 0;
}

struct peer *httpc_peer_at(const struct httpc *c, int i)
{
	return c != NULL && i >= 0 && i < c->npeers ? c->peers[i] : NULL;
}

struct peer *httpc_peer_named(const struct httpc *c, const char *name)
{
	for (int i = 0; c != NULL && i < c->npeers; i++)
		if (strcmp(peer_name(c->peers[i]), name) == 0)
			return c->peers[i];
	return NULL;
}

static void on_defer(uv_timer_t *t)
{
	struct httpc *c = t->data;
	struct xfer *x;

	while (!c->free_pending && (x = c->failed) != NULL) {
		c->failed = x->next;
		x->next = NULL;
		httpc_xfer_deliver(x);
	}
	if (c->free_pending && c->dispatching == 0)
		teardown(c);
}

void httpc_defer_failure(struct httpc *c, struct xfer *x)
{
	struct xfer **tail = &c->failed;

	while (*tail)
		tail = &(*tail)->next;
	x->next = NULL;
	*tail = x;
	c->inflight++;
	uv_timer_start(&c->defer, on_defer, 0, 0);
}

void httpc_track(struct httpc *c, struct xfer *x)
{
	x->prev = NULL;
	x->next = c->active;
	if (c->active)
		c->active->prev = x;
	c->active = x;
	c->inflight++;
}

void httpc_untrack(struct httpc *c, struct xfer *x)
{
	if (x->prev)
		x->prev->next = x->next;
	else
		c->active = x->next;
	if (x->next)
		x->next->prev = x->prev;
	x->prev = x->next = NULL;
}

static void cancel_all(struct httpc *c)
{
	struct xfer *x;

	while ((x = c->active) != NULL)
		httpc_xfer_cancel(x);
	while ((x = c->failed) != NULL) {
		c->failed = x->next;
		x->next = NULL;
		httpc_xfer_deliver(x);
	}
}

static void teardown(struct httpc *c)
{
	c->free_pending = 0;
	c->dispatching++; /* a callback calling httpc_free again is a no-op */
	cancel_all(c);
	/* Close every poll before curl closes its sockets: libuv must stop watching an fd
	 * before the fd goes away.  Sockets are detached so curl's REMOVE calls become no-ops. */
	while (c->socks) {
		curl_multi_assign(c->multi, c->socks->fd, NULL);
		sock_close(c->socks);
	}
	curl_multi_cleanup(c->multi);
	c->multi = NULL;
	uv_close((uv_handle_t *)&c->timer, on_timer_closed);
	uv_close((uv_handle_t *)&c->defer, on_timer_closed);
}

void httpc_free(struct httpc *c)
{
	if (c == NULL || c->closing)
		return;
	c->closing = 1;
	if (c->dispatching > 0) {
		/* inside one of our callbacks: finish it first, then tear down */
		c->free_pending = 1;
		return;
	}
	teardown(c);
}
