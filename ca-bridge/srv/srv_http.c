/*
 * srv_http.c - the ca-bridge server's HTTP/1.1 listener (RFC 6712, CMP over HTTP) on libh2o
 * and libuv, the stack ra serves its API with (ra/net/http.c).  One loop thread reads and
 * writes every connection; the CA's work (CMP processing, signing, the CRL) runs on libuv's
 * thread pool, so no client and no signature can hold the loop.
 *
 *   POST <any path>, Content-Type application/pkixcmp   a CMP message -> the answer
 *   GET /crl                                           the CA's current CRL (DER)
 *   GET /ca                                            the CA certificate (PEM): cmp.trusted
 *
 * Limits (struct cab_srv_limits, options in srv_main.c): a deadline for the whole request
 * counted from accept (not per read: a client sending a byte now and then is cut when it
 * runs out, whatever it sends), the same deadline again for sending the answer, a body
 * limit (413 from h2o), 8 KiB of request head (431), and caps on open connections in all and per peer address, refused
 * at once with 503.  One request per connection (Connection: close), as before.
 *
 * Plain HTTP on purpose: CMP messages carry their own protection (PBM or signature), and
 * the listener is meant for loopback or a private link (docs/ca-bridge.md).
 */
#include "ca-bridge/srv/srv_int.h"

#include <arpa/inet.h>
#include <errno.h>
#include <h2o.h>
#include <netdb.h>
#include <netinet/in.h>
#include <openssl/crypto.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <unistd.h>
#include <uv.h>

#include "h2o/socket/uv-binding.h"

/* request line and headers; h2o's own limit is larger */
#define MAX_HEAD 8192

int cab_srv_listen(const char *addr, int *fd, char *bound, size_t cap)
{
	char host[256], port[16];
	const char *colon = strrchr(addr, ':');
	struct addrinfo hints = {0}, *ai = NULL;
	struct sockaddr_storage ss;
	socklen_t sl = sizeof(ss);
	int one = 1, s = -1;

	if (colon == NULL || (size_t)(colon - addr) >= sizeof(host) || strlen(colon + 1) >= sizeof(port))
		return -1;
	snprintf(host, sizeof(host), "%.*s", (int)(colon - addr), addr);
	snprintf(port, sizeof(port), "%s", colon + 1);
	hints.ai_socktype = SOCK_STREAM;
	hints.ai_flags = AI_PASSIVE | AI_NUMERICSERV;
	if (getaddrinfo(host[0] ? host : NULL, port, &hints, &ai) != 0)
		return -1;
	s = socket(ai->ai_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (s < 0 || setsockopt(s, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) != 0 ||
	    bind(s, ai->ai_addr, ai->ai_addrlen) != 0 || listen(s, 128) != 0 ||
	    getsockname(s, (struct sockaddr *)&ss, &sl) != 0 ||
	    getnameinfo((struct sockaddr *)&ss, sl, host, sizeof(host), port, sizeof(port),
			NI_NUMERICHOST | NI_NUMERICSERV) != 0) {
		if (s >= 0)
			close(s);
		freeaddrinfo(ai);
		return -1;
	}
	freeaddrinfo(ai);
	snprintf(bound, cap, "%s:%s", host, port);
	*fd = s;
	return 0;
}

/* One accepted connection.  tcp first: h2o's close callback gets the handle's address. */
struct conn {
	uv_tcp_t tcp;
	uv_timer_t deadline;
	struct http *h;
	h2o_socket_t *sock;
	struct conn *prev, *next;
	char addr[INET6_ADDRSTRLEN];
	int in_handler; /* the request is complete and with the CA: no deadline meanwhile */
};

struct http {
	struct cab_srv *s;
	uv_loop_t loop;
	h2o_globalconf_t conf;
	h2o_context_t ctx;
	h2o_accept_ctx_t accept;
	uv_tcp_t listener;
	uv_signal_t sigterm, sigint;
	uv_timer_t sweep; /* revokes certificates whose confirmation did not come in time */
	uv_work_t sweep_work;
	int sweeping;
	struct conn *conns;
	int nconns;
	int inflight; /* requests with the CA (thread pool) */
	int stopping;
	int closed; /* the listener and signal handles are closed */
};

/* h2o keeps its context until the process exits (it cannot dispose it while a connection
 * lingers, see ra/server.c); reachable from here so leak checkers see it as kept. */
struct http *cab_srv_http_last;

enum job_kind { JOB_CMP, JOB_CRL, JOB_CA };

/* CA work for one request, on the thread pool.  req is NULL once h2o disposed the request
 * (the client went away): then the answer is dropped. */
struct job {
	uv_work_t work;
	struct http *h;
	h2o_req_t *req;
	struct guard *guard;
	enum job_kind kind;
	unsigned char *in;
	size_t in_len;
	int status;
	const char *ctype;
	unsigned char *out; /* OPENSSL_malloc'd (CMP) or malloc'd (CRL, CA) */
	size_t out_len;
};

/* In the request's pool; h2o disposing the request detaches the job. */
struct guard {
	struct job *job;
};

static void conn_cut(struct conn *c)
{
	uv_os_fd_t fd;

	/* shutdown(2), not close: h2o owns the socket and sees EOF or EPIPE, then closes it
	 * itself and calls on_conn_closed */
	if (uv_fileno((uv_handle_t *)&c->tcp, &fd) == 0)
		shutdown(fd, SHUT_RDWR);
}

static void on_deadline(uv_timer_t *t)
{
	struct conn *c = t->data;

	if (c->in_handler)
		return;
	cab_srv_log("warn", "request_timeout", "peer=%s timeout_s=%u", c->addr,
		    c->h->s->limits.request_timeout_s);
	conn_cut(c);
}

static void maybe_done(struct http *h)
{
	if (!h->stopping || h->inflight > 0 || h->nconns > 0 || h->closed)
		return;
	h->closed = 1;
	uv_timer_stop(&h->sweep);
	uv_close((uv_handle_t *)&h->sweep, NULL);
	uv_close((uv_handle_t *)&h->sigterm, NULL);
	uv_close((uv_handle_t *)&h->sigint, NULL);
	uv_stop(&h->loop);
}

static void on_timer_closed(uv_handle_t *t)
{
	free(t->data);
}

static void on_conn_closed(uv_handle_t *tcp)
{
	struct conn *c = (struct conn *)tcp;
	struct http *h = c->h;

	if (c->prev != NULL)
		c->prev->next = c->next;
	else
		h->conns = c->next;
	if (c->next != NULL)
		c->next->prev = c->prev;
	h->nconns--;
	uv_timer_stop(&c->deadline);
	uv_close((uv_handle_t *)&c->deadline, on_timer_closed);
	maybe_done(h);
}

static struct conn *conn_of(struct http *h, h2o_req_t *req)
{
	h2o_socket_t *sock =
		req->conn->callbacks->get_socket ? req->conn->callbacks->get_socket(req->conn) : NULL;

	for (struct conn *c = h->conns; c != NULL && sock != NULL; c = c->next)
		if (c->sock == sock)
			return c;
	return NULL;
}

static void reply(struct http *h, h2o_req_t *req, struct conn *c, int status, const char *reason,
		  const char *type, const void *body, size_t len)
{
	req->res.status = status;
	req->res.reason = reason;
	req->http1_is_persistent = 0;
	h2o_add_header(&req->pool, &req->res.headers, H2O_TOKEN_CONTENT_TYPE, NULL, type, strlen(type));
	h2o_add_header(&req->pool, &req->res.headers, H2O_TOKEN_CACHE_CONTROL, NULL, H2O_STRLIT("no-store"));
	req->res.content_length = len; /* not chunked: the answer's length is known */
	if (c != NULL) {
		/* sending the answer has its own deadline: a client that does not read is cut */
		c->in_handler = 0;
		uv_timer_start(&c->deadline, on_deadline, (uint64_t)h->s->limits.request_timeout_s * 1000, 0);
	}
	h2o_send_inline(req, body, len);
}

static void reply_text(struct http *h, h2o_req_t *req, struct conn *c, int status, const char *text)
{
	reply(h, req, c, status, text, "text/plain", text, strlen(text));
}

static void on_req_disposed(void *p)
{
	struct guard *g = p;

	if (g->job != NULL) {
		g->job->req = NULL;
		g->job->guard = NULL;
	}
}

static void job_work(uv_work_t *w)
{
	struct job *j = w->data;
	struct cab_err err = {0};
	char *pem = NULL;

	j->status = 503;
	switch (j->kind) {
	case JOB_CMP:
		if (cab_srv_cmp(j->h->s, j->in, j->in_len, &j->out, &j->out_len) == 0) {
			j->status = 200;
			j->ctype = "application/pkixcmp";
		} else {
			j->status = 400;
		}
		break;
	case JOB_CRL:
		if (cab_crl(j->h->s->cab, &j->out, &j->out_len, &err) == 0) {
			j->status = 200;
			j->ctype = "application/pkix-crl";
		}
		break;
	case JOB_CA:
		if (cab_chain_pem(j->h->s->cab, &pem, &err) == 0) {
			j->out = (unsigned char *)pem;
			j->out_len = strlen(pem);
			j->status = 200;
			j->ctype = "application/pem-certificate-chain";
		}
		break;
	}
}

static void job_done(uv_work_t *w, int status)
{
	struct job *j = w->data;
	struct http *h = j->h;

	(void)status;
	h->inflight--;
	if (j->req != NULL) {
		struct conn *c = conn_of(h, j->req);

		if (j->status == 200)
			reply(h, j->req, c, 200, "OK", j->ctype, j->out, j->out_len);
		else if (j->status == 400)
			reply_text(h, j->req, c, 400, "Bad Request");
		else
			reply_text(h, j->req, c, 503, "Service Unavailable");
		j->guard->job = NULL;
	}
	if (j->kind == JOB_CMP)
		OPENSSL_free(j->out);
	else
		free(j->out);
	free(j->in);
	free(j);
	maybe_done(h);
}

static int start_job(struct http *h, h2o_req_t *req, enum job_kind kind)
{
	struct job *j = calloc(1, sizeof(*j));

	if (j == NULL)
		return -1;
	if (kind == JOB_CMP) {
		j->in = malloc(req->entity.len ? req->entity.len : 1);
		if (j->in == NULL) {
			free(j);
			return -1;
		}
		memcpy(j->in, req->entity.base, req->entity.len);
		j->in_len = req->entity.len;
	}
	j->h = h;
	j->req = req;
	j->kind = kind;
	j->work.data = j;
	j->guard = h2o_mem_alloc_shared(&req->pool, sizeof(*j->guard), on_req_disposed);
	j->guard->job = j;
	if (uv_queue_work(&h->loop, &j->work, job_work, job_done) != 0) {
		j->guard->job = NULL;
		free(j->in);
		free(j);
		return -1;
	}
	h->inflight++;
	return 0;
}

static int method_is(h2o_req_t *req, const char *m)
{
	return req->method.len == strlen(m) && memcmp(req->method.base, m, req->method.len) == 0;
}

static int path_is(h2o_req_t *req, const char *p)
{
	return req->path_normalized.len == strlen(p) && memcmp(req->path_normalized.base, p, strlen(p)) == 0;
}

/* The request line and headers as the old listener counted them against MAX_HEAD. */
static size_t head_bytes(h2o_req_t *req)
{
	size_t n = req->method.len + req->input.path.len + 12;

	for (size_t i = 0; i < req->headers.size; i++)
		n += req->headers.entries[i].name->len + req->headers.entries[i].value.len + 4;
	return n;
}

static int on_req(h2o_handler_t *self, h2o_req_t *req)
{
	struct http *h = *(struct http **)(self + 1);
	struct conn *c = conn_of(h, req);
	ssize_t i;
	enum job_kind kind;

	if (c != NULL) {
		/* the whole request is in: the CA's time is not the client's */
		c->in_handler = 1;
		uv_timer_stop(&c->deadline);
	}
	if (h->stopping) {
		reply_text(h, req, c, 503, "Service Unavailable");
		return 0;
	}
	if (head_bytes(req) > MAX_HEAD) {
		reply_text(h, req, c, 431, "Request Header Fields Too Large");
		return 0;
	}
	if (method_is(req, "POST")) {
		i = h2o_find_header(&req->headers, H2O_TOKEN_CONTENT_TYPE, -1);
		if (i < 0 || req->headers.entries[i].value.len < 19 ||
		    strncasecmp(req->headers.entries[i].value.base, "application/pkixcmp", 19) != 0) {
			reply_text(h, req, c, 415, "Unsupported Media Type");
			return 0;
		}
		if (req->entity.base == NULL) {
			reply_text(h, req, c, 411, "Length Required");
			return 0;
		}
		kind = JOB_CMP;
	} else if (method_is(req, "GET")) {
		if (path_is(req, "/crl")) {
			kind = JOB_CRL;
		} else if (path_is(req, "/ca")) {
			kind = JOB_CA;
		} else {
			reply_text(h, req, c, 404, "Not Found");
			return 0;
		}
	} else {
		reply_text(h, req, c, 405, "Method Not Allowed");
		return 0;
	}
	if (start_job(h, req, kind) != 0)
		reply_text(h, req, c, 503, "Service Unavailable");
	return 0;
}

/* The refusal when a cap is reached: written at once, before any of the request is read. */
static const char busy[] =
	"HTTP/1.1 503 Service Unavailable\r\nContent-Type: text/plain\r\nContent-Length: 19\r\n"
	"Connection: close\r\nCache-Control: no-store\r\n\r\nService Unavailable";

static void on_discarded(uv_handle_t *tcp)
{
	free((struct conn *)tcp);
}

/* A connection never handed to h2o: the 503 (when answer), then closed and freed. */
static void discard(struct conn *c, int answer)
{
	uv_buf_t b = uv_buf_init((char *)busy, sizeof(busy) - 1);

	if (answer)
		(void)uv_try_write((uv_stream_t *)&c->tcp, &b, 1);
	uv_close((uv_handle_t *)&c->tcp, on_discarded);
}

static void peer_addr(uv_tcp_t *tcp, char *out, size_t cap)
{
	struct sockaddr_storage ss;
	int len = sizeof(ss);

	snprintf(out, cap, "?");
	if (uv_tcp_getpeername(tcp, (struct sockaddr *)&ss, &len) != 0)
		return;
	if (ss.ss_family == AF_INET)
		inet_ntop(AF_INET, &((struct sockaddr_in *)&ss)->sin_addr, out, (socklen_t)cap);
	else if (ss.ss_family == AF_INET6)
		inet_ntop(AF_INET6, &((struct sockaddr_in6 *)&ss)->sin6_addr, out, (socklen_t)cap);
}

static void on_accept(uv_stream_t *listener, int status)
{
	struct http *h = listener->data;
	struct cab_srv_limits *lim = &h->s->limits;
	uv_tcp_t *tcp;
	struct conn *c;
	char addr[INET6_ADDRSTRLEN];
	int same = 0;

	if (status != 0 || h->stopping)
		return;
	/* accepted even when refused: a connection left in the backlog would wait, not fail */
	c = calloc(1, sizeof(*c));
	if (c == NULL)
		return;
	tcp = &c->tcp;
	uv_tcp_init(&h->loop, tcp);
	if (uv_accept(listener, (uv_stream_t *)tcp) != 0) {
		discard(c, 0);
		return;
	}
	peer_addr(tcp, addr, sizeof(addr));
	for (struct conn *o = h->conns; o != NULL; o = o->next)
		same += strcmp(o->addr, addr) == 0;
	if (h->nconns >= lim->max_conns || same >= lim->max_conns_per_addr) {
		cab_srv_log("warn", "conn_refused", "peer=%s open=%d from_peer=%d", addr, h->nconns, same);
		discard(c, 1);
		return;
	}
	snprintf(c->addr, sizeof(c->addr), "%s", addr);
	c->h = h;
	c->next = h->conns;
	if (h->conns != NULL)
		h->conns->prev = c;
	h->conns = c;
	h->nconns++;
	uv_timer_init(&h->loop, &c->deadline);
	c->deadline.data = c;
	uv_timer_start(&c->deadline, on_deadline, (uint64_t)lim->request_timeout_s * 1000, 0);
	uv_tcp_nodelay(tcp, 1);
	c->sock = h2o_uv_socket_create((uv_stream_t *)tcp, on_conn_closed);
	h2o_accept(&h->accept, c->sock);
}

static void sweep_work(uv_work_t *w)
{
	struct http *h = w->data;

	cab_srv_sweep(h->s, 0);
}

static void sweep_done(uv_work_t *w, int status)
{
	struct http *h = w->data;

	(void)status;
	h->sweeping = 0;
	h->inflight--;
	maybe_done(h);
}

/* Once a second: when a stored transaction is past its deadline, the revocation runs on the
 * thread pool (it signs and syncs), one sweep at a time. */
static void on_sweep(uv_timer_t *t)
{
	struct http *h = t->data;

	if (h->sweeping || h->stopping || !cab_srv_txs_due(&h->s->txs))
		return;
	h->sweep_work.data = h;
	if (uv_queue_work(&h->loop, &h->sweep_work, sweep_work, sweep_done) == 0) {
		h->sweeping = 1;
		h->inflight++;
	}
}

static void on_signal(uv_signal_t *sig, int signum)
{
	struct http *h = sig->data;

	(void)signum;
	if (h->stopping)
		return;
	h->stopping = 1;
	cab_srv_log("info", "draining", "open=%d inflight=%d", h->nconns, h->inflight);
	uv_close((uv_handle_t *)&h->listener, NULL);
	h2o_context_request_shutdown(&h->ctx);
	/* requests still arriving will not be served: cut them; those with the CA finish */
	for (struct conn *c = h->conns; c != NULL; c = c->next)
		if (!c->in_handler)
			conn_cut(c);
	maybe_done(h);
}

int cab_srv_serve(struct cab_srv *s, int lfd)
{
	struct http *h = calloc(1, sizeof(*h));
	h2o_hostconf_t *host;
	h2o_pathconf_t *pc;
	h2o_handler_t *hd;
	sigset_t sigs;

	if (h == NULL)
		return -1;
	/* libuv's pool (4 threads by default) does the CA's work; read when it first starts.
	 * An operator's own setting wins. */
	setenv("UV_THREADPOOL_SIZE", "8", 0);
	h->s = s;
	uv_loop_init(&h->loop);
	h2o_config_init(&h->conf);
	h->conf.max_request_entity_size = s->limits.max_body;
	h->conf.http1.req_timeout = (uint64_t)s->limits.request_timeout_s * 1000;
	h->conf.http1.upgrade_to_http2 = 0;
	h->conf.server_name = h2o_iovec_init(H2O_STRLIT("ca-bridge"));
	host = h2o_config_register_host(&h->conf, h2o_iovec_init(H2O_STRLIT("default")), 65535);
	pc = h2o_config_register_path(host, "/", 0);
	hd = h2o_create_handler(pc, sizeof(*hd) + sizeof(h));
	*(struct http **)(hd + 1) = h;
	hd->on_req = on_req;
	h2o_context_init(&h->ctx, &h->loop, &h->conf);
	h->accept.ctx = &h->ctx;
	h->accept.hosts = h->conf.hosts;
	cab_srv_http_last = h;

	uv_tcp_init(&h->loop, &h->listener);
	h->listener.data = h;
	if (uv_tcp_open(&h->listener, lfd) != 0 ||
	    uv_listen((uv_stream_t *)&h->listener, 128, on_accept) != 0) {
		cab_srv_log("error", "listen", "detail=\"cannot serve the listening socket\"");
		return -1;
	}
	uv_timer_init(&h->loop, &h->sweep);
	h->sweep.data = h;
	uv_timer_start(&h->sweep, on_sweep, 1000, 1000);
	uv_signal_init(&h->loop, &h->sigterm);
	uv_signal_init(&h->loop, &h->sigint);
	h->sigterm.data = h->sigint.data = h;
	uv_signal_start(&h->sigterm, on_signal, SIGTERM);
	uv_signal_start(&h->sigint, on_signal, SIGINT);
	sigemptyset(&sigs);
	sigaddset(&sigs, SIGTERM);
	sigaddset(&sigs, SIGINT);
	pthread_sigmask(SIG_UNBLOCK, &sigs, NULL);
	uv_run(&h->loop, UV_RUN_DEFAULT);
	return 0;
}
