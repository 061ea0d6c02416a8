/*
 * http.c - libh2o (libuv build) HTTP/1.1 server with TLS when configured, a route table,
 * JSON replies, request ids, access logs and request metrics; see http.h.
 */
#include "ra/base/config.h"
#include "ra/net/http.h"

#include <arpa/inet.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/rand.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>

#include "h2o/socket/uv-binding.h"
#include "ra/base/jsonbody.h"
#include "ra/base/log.h"
#include "ra/base/metrics.h"
#include "ra/net/conncount.h"

struct route {
	char method[8];
	char path[128];
	int prefix;
	const char *name;
	http_handler fn;
	void *data;
};

/*
 * A listening socket with its connection caps (issue #20): `listen` (main) for everyone,
 * `http.ops_listen` (ops) for /healthz, /metrics and the admin API only, so a flood of
 * connections on the main socket cannot take the health check and the operators away.
 * Over a cap the connection is reset as soon as it is accepted: no TLS, no parsing.
 */
struct listener {
	uv_tcp_t tcp;
	struct http_server *s;
	const char *name; /* "main" or "ops", the metrics label */
	int open;
	int port;
	struct sockaddr_storage bound;
	int conns, max, per_address;
	struct conncount *peers;
	uint64_t refused_since_log, last_log_ms;
	char labels[32];
};

/* One accepted connection; tcp first: h2o's close callback gets the handle */
struct conn {
	uv_tcp_t tcp;
	struct listener *l;
	unsigned char key[16];
	int counted;
};

struct http_server {
	struct app *app;
	h2o_globalconf_t conf;
	h2o_context_t ctx;
	h2o_accept_ctx_t accept;
	struct listener main, ops;
	SSL_CTX *ssl;
	struct route routes[64];
	int nroutes;
	size_t max_header_bytes;
	int inflight;
	int draining;
	void (*drained)(void *);
	void *drained_data;
};

/* The guard lives in the request's memory pool; when h2o disposes the request (also when the
 * client vanished), it detaches the http_req so a late reply cannot touch freed memory. */
struct guard {
	struct http_req *hr;
};

/* Errors h2o answers itself, before any handler runs (413 for a body over http.max_body, 400
 * for a broken Content-Length or chunked encoding, 417): their text/plain body becomes the
 * same JSON every other error has.  A filter on the host's fallback path, which h2o binds
 * such requests to; requests our handler answers never pass it. */
struct json_errors {
	h2o_filter_t super;
};
struct json_error_body {
	h2o_ostream_t super;
	h2o_iovec_t body;
	int sent;
};

static const struct {
	int code;
	int status;
} status_map[] = {
	{RA_E_INVALID, 400},     {RA_E_NOTFOUND, 404}, {RA_E_CONFLICT, 409},  {RA_E_RULE, 422},
	{RA_E_UNAVAILABLE, 503}, {RA_E_AUTH, 401},     {RA_E_FORBIDDEN, 403}, {RA_E_TOOLARGE, 413},
	{RA_E_TIMEOUT, 503},     {RA_E_CONFIG, 500},   {RA_E_INTERNAL, 500},  {RA_E_METHOD, 405},
	{RA_E_MEDIATYPE, 415},   {RA_E_HEADERS, 431},  {RA_E_BUSY, 503},
};

int http_status_for(int code)
{
	for (size_t i = 0; i < sizeof(status_map) / sizeof(status_map[0]); i++)
		if (status_map[i].code == code)
			return status_map[i].status;
	return 500;
}

static uint64_t now_ns(void)
{
	return uv_hrtime();
}

static void maybe_drained(struct http_server *s)
{
	if (s->draining && s->inflight == 0 && s->drained) {
		void (*cb)(void *) = s->drained;
		s->drained = NULL;
		cb(s->drained_data);
	}
}

/* hr owns its path and a copy of the body: a handler that replies later (after database or
 * job work) must not read h2o's request memory, which is gone once the client is. */
static void hr_free(struct http_req *hr)
{
	free((void *)hr->path);
	free((void *)hr->body);
	free(hr);
}

static void finish(struct http_req *hr, int status)
{
	struct http_server *s = hr->app->http;
	double secs = (double)(now_ns() - hr->start_ns) / 1e9;
	char st[8], ms[32];

	metrics_observe_request(hr->route, status, secs);
	snprintf(st, sizeof(st), "%d", status);
	snprintf(ms, sizeof(ms), "%.3f", secs * 1000.0);
	log_info("http.request", "rid", hr->rid, "route", hr->route, "path", hr->path, "status", st, "ms", ms,
		 NULL);
	hr->replied = 1;
	s->inflight--;
	if (hr->req == NULL) {
		/* the client went away first: nobody else holds hr */
		hr_free(hr);
	}
	maybe_drained(s);
}

static void on_req_disposed(void *p)
{
	struct guard *g = p;
	struct http_req *hr = g->hr;

	if (hr == NULL)
		return;
	if (hr->replied) {
		hr_free(hr);
	} else {
		hr->req = NULL; /* orphaned until the handler replies */
	}
}

static void send_body(struct http_req *hr, int status, const char *ctype, const char *body, size_t len)
{
	h2o_req_t *req = hr->req;

	if (req != NULL) {
		req->res.status = status;
		req->res.reason = "";
		h2o_add_header(&req->pool, &req->res.headers, H2O_TOKEN_CONTENT_TYPE, NULL, ctype,
			       strlen(ctype));
		h2o_add_header_by_str(&req->pool, &req->res.headers, H2O_STRLIT("x-request-id"), 0, NULL,
				      hr->rid, strlen(hr->rid));
		h2o_send_inline(req, body, len);
	}
	finish(hr, status);
}

void http_reply_text(struct http_req *hr, int status, const char *ctype, const char *body, size_t len)
{
	send_body(hr, status, ctype, body, len);
}

void http_reply_json(struct http_req *hr, int status, json_t *body)
{
	char *text = json_dumps(body, JSON_COMPACT);

	json_decref(body);
	if (text == NULL) {
		send_body(hr, 500, "application/json", "{\"error\":\"internal\"}", 20);
		return;
	}
	send_body(hr, status, "application/json", text, strlen(text));
	free(text);
}

void http_reply_error(struct http_req *hr, const struct ra_err *err)
{
	json_t *o = json_pack("{s:s, s:s, s:s}", "error", ra_errname(err->code), "message",
			      err->msg[0] ? err->msg : ra_strerror(err->code), "field", err->field);

	if (err->code == RA_E_INTERNAL)
		log_error("http.internal_error", "rid", hr->rid, "message", err->msg, NULL);
	http_reply_json(hr, http_status_for(err->code), o);
}

void http_reply_errorf(struct http_req *hr, int code, const char *field, const char *fmt, ...)
{
	struct ra_err e = {.code = code};
	va_list ap;

	snprintf(e.field, sizeof(e.field), "%s", field ? field : "");
	va_start(ap, fmt);
	vsnprintf(e.msg, sizeof(e.msg), fmt, ap);
	va_end(ap);
	http_reply_error(hr, &e);
}

void http_reply_method_not_allowed(struct http_req *hr, const char *allow)
{
	if (hr->req != NULL)
		h2o_add_header(&hr->req->pool, &hr->req->res.headers, H2O_TOKEN_ALLOW, NULL,
			       h2o_strdup(&hr->req->pool, allow, SIZE_MAX).base, strlen(allow));
	http_reply_errorf(hr, RA_E_METHOD, "", "method not allowed here; allowed: %s", allow);
}

const char *http_header(struct http_req *hr, const char *name, size_t *len)
{
	ssize_t i;

	if (hr->req == NULL)
		return NULL;
	i = h2o_find_header_by_str(&hr->req->headers, name, strlen(name), -1);
	if (i < 0)
		return NULL;
	if (len)
		*len = hr->req->headers.entries[i].value.len;
	return hr->req->headers.entries[i].value.base;
}

/* application/json or application/<x>+json, any parameters (charset=utf-8), any case */
static int json_media_type(const char *v, size_t n)
{
	size_t end = 0;

	while (end < n && v[end] != ';' && v[end] != ' ' && v[end] != '\t')
		end++;
	if (end == 16 && strncasecmp(v, "application/json", 16) == 0)
		return 1;
	return end > 17 && strncasecmp(v, "application/", 12) == 0 &&
	       strncasecmp(v + end - 5, "+json", 5) == 0;
}

int http_want_json(struct http_req *hr, struct ra_err *err)
{
	size_t n = 0;
	const char *ct = http_header(hr, "content-type", &n);

	if (ct != NULL && json_media_type(ct, n))
		return 0;
	return ra_err_set(err, RA_E_MEDIATYPE, "Content-Type", "this route takes application/json, not %.*s",
			  ct ? (int)(n > 80 ? 80 : n) : 4, ct ? ct : "none");
}

json_t *http_body_json(struct http_req *hr, struct ra_err *err)
{
	if (http_want_json(hr, err) != 0)
		return NULL;
	return json_body_object(hr->body, hr->body_len, err);
}

void http_peer(struct http_req *hr, char *buf, size_t cap)
{
	struct sockaddr_storage ss;
	socklen_t n;

	buf[0] = '\0';
	if (hr->req == NULL || hr->req->conn->callbacks->get_peername == NULL)
		return;
	n = hr->req->conn->callbacks->get_peername(hr->req->conn, (struct sockaddr *)&ss);
	if (n == 0)
		return;
	if (ss.ss_family == AF_INET)
		inet_ntop(AF_INET, &((struct sockaddr_in *)&ss)->sin_addr, buf, (socklen_t)cap);
	else if (ss.ss_family == AF_INET6)
		inet_ntop(AF_INET6, &((struct sockaddr_in6 *)&ss)->sin6_addr, buf, (socklen_t)cap);
}

/* X-Request-Id from the caller when it is short and plain, else 16 random bytes in hex. */
static void make_rid(h2o_req_t *req, char *rid, size_t cap)
{
	ssize_t i = h2o_find_header_by_str(&req->headers, H2O_STRLIT("x-request-id"), -1);
	unsigned char r[16];

	if (i >= 0) {
		h2o_iovec_t v = req->headers.entries[i].value;
		int ok = v.len > 0 && v.len < cap;
		for (size_t k = 0; ok && k < v.len; k++) {
			char c = v.base[k];
			ok = (c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
			     c == '-' || c == '_';
		}
		if (ok) {
			memcpy(rid, v.base, v.len);
			rid[v.len] = '\0';
			return;
		}
	}
	RAND_bytes(r, sizeof(r));
	for (size_t k = 0; k < sizeof(r) && 2 * k + 2 < cap; k++)
		snprintf(rid + 2 * k, 3, "%02x", r[k]);
}

static int method_is(h2o_req_t *req, const char *m)
{
	return req->method.len == strlen(m) && memcmp(req->method.base, m, req->method.len) == 0;
}

/* The request line and headers together, as counted against http.max_header_bytes; *big
 * names the largest header (the field of the 431). */
static size_t header_bytes(h2o_req_t *req, const char **big, size_t *big_len)
{
	size_t total = req->method.len + req->input.path.len + 12, most = 0;

	*big = "";
	*big_len = 0;
	for (size_t i = 0; i < req->headers.size; i++) {
		const h2o_header_t *h = &req->headers.entries[i];
		size_t one = h->name->len + h->value.len + 4;
		total += one;
		if (one > most) {
			most = one;
			*big = h->name->base;
			*big_len = h->name->len;
		}
	}
	return total;
}

/* Methods registered for this path, "GET, POST" (for Allow); empty when the path is unknown. */
static void allowed_methods(struct http_server *s, const char *path, char *out, size_t cap)
{
	size_t o = 0;

	out[0] = '\0';
	for (int i = 0; i < s->nroutes; i++) {
		struct route *r = &s->routes[i];
		size_t n = strlen(r->path);
		int hit = r->prefix ? strncmp(path, r->path, n) == 0 : strcmp(path, r->path) == 0;
		if (!hit || strstr(out, r->method) != NULL)
			continue;
		o += (size_t)snprintf(out + o, o < cap ? cap - o : 0, "%s%s", o ? ", " : "", r->method);
		if (o >= cap)
			break;
	}
}

/* Did the request come in on http.ops_listen?  By the local address it was accepted on. */
static int on_ops_listener(struct http_server *s, h2o_req_t *req)
{
	struct sockaddr_storage ss;
	unsigned char a[16], b[16];

	if (!s->ops.open || req->conn->callbacks->get_sockname == NULL ||
	    req->conn->callbacks->get_sockname(req->conn, (struct sockaddr *)&ss) == 0)
		return 0;
	conncount_key((struct sockaddr *)&ss, a);
	conncount_key((struct sockaddr *)&s->ops.bound, b);
	return memcmp(a, b, 16) == 0 && ntohs(((struct sockaddr_in *)&ss)->sin_port) == s->ops.port;
}

static int ops_path(const char *path)
{
	return strcmp(path, "/healthz") == 0 || strcmp(path, "/metrics") == 0 ||
	       strncmp(path, "/v1/admin/", 10) == 0;
}

static int has_pct00(const char *p, size_t n)
{
	for (size_t i = 0; i + 2 < n; i++)
		if (p[i] == '%' && p[i + 1] == '0' && p[i + 2] == '0')
			return 1;
	return 0;
}

static int on_req(h2o_handler_t *self, h2o_req_t *req)
{
	struct http_server *s = *(struct http_server **)(self + 1);
	struct http_req *hr = calloc(1, sizeof(*hr));
	struct guard *g;
	struct route *match = NULL;
	char *path, allow[64];
	const char *big;
	size_t big_len;

	if (hr == NULL)
		return -1;
	path = strndup(req->path_normalized.base, req->path_normalized.len);
	if (path == NULL) {
		free(hr);
		return -1;
	}
	hr->req = req;
	hr->app = s->app;
	hr->path = path;
	hr->start_ns = now_ns();
	hr->route = "unmatched";
	if (req->entity.base != NULL && req->entity.len > 0) {
		char *copy = malloc(req->entity.len + 1);
		if (copy == NULL) {
			hr_free(hr);
			return -1;
		}
		memcpy(copy, req->entity.base, req->entity.len);
		copy[req->entity.len] = '\0';
		hr->body = copy;
		hr->body_len = req->entity.len;
	}
	make_rid(req, hr->rid, sizeof(hr->rid));
	g = h2o_mem_alloc_shared(&req->pool, sizeof(*g), on_req_disposed);
	g->hr = hr;
	hr->guard = g;
	s->inflight++;

	/* %00 (or a NUL h2o's normalisation let through) would cut the C string short: the route
	 * would act on a path other than the one asked for */
	if (memchr(req->path_normalized.base, '\0', req->path_normalized.len) != NULL ||
	    has_pct00(req->input.path.base, req->input.path.len)) {
		http_reply_errorf(hr, RA_E_INVALID, "path", "the path holds a NUL byte (%%00)");
		return 0;
	}
	if (header_bytes(req, &big, &big_len) > s->max_header_bytes) {
		char name[64];
		snprintf(name, sizeof(name), "%.*s",
			 (int)(big_len < sizeof(name) ? big_len : sizeof(name) - 1), big);
		http_reply_errorf(hr, RA_E_HEADERS, name,
				  "request headers over http.max_header_bytes (%zu bytes); "
				  "the largest is %s",
				  s->max_header_bytes, name);
		return 0;
	}
	if (on_ops_listener(s, req) && !ops_path(path)) {
		http_reply_errorf(hr, RA_E_NOTFOUND, "",
				  "http.ops_listen serves /healthz, /metrics and /v1/admin/ only");
		return 0;
	}
	for (int i = 0; i < s->nroutes && match == NULL; i++) {
		struct route *r = &s->routes[i];
		size_t n = strlen(r->path);
		int hit = r->prefix ? strncmp(path, r->path, n) == 0 : strcmp(path, r->path) == 0;
		if (hit && method_is(req, r->method))
			match = r;
	}
	if (match == NULL) {
		allowed_methods(s, path, allow, sizeof(allow));
		if (allow[0])
			http_reply_method_not_allowed(hr, allow);
		else
			http_reply_errorf(hr, RA_E_NOTFOUND, "", "no such endpoint");
		return 0;
	}
	if (s->draining) {
		http_reply_errorf(hr, RA_E_UNAVAILABLE, "", "shutting down");
		return 0;
	}
	hr->route = match->name;
	hr->route_data = match->data;
	hr->rest = path + strlen(match->path);
	match->fn(hr);
	return 0;
}

void http_route(struct http_server *s, const char *method, const char *path, int prefix, const char *name,
		http_handler fn, void *data)
{
	struct route *r;

	if (s->nroutes == (int)(sizeof(s->routes) / sizeof(s->routes[0])))
		abort();
	r = &s->routes[s->nroutes++];
	snprintf(r->method, sizeof(r->method), "%s", method);
	snprintf(r->path, sizeof(r->path), "%s", path);
	r->prefix = prefix;
	r->name = name;
	r->fn = fn;
	r->data = data;
	/* the route list at start-up: tests check each one is documented in docs/api.yaml */
	log_info("http.route", "method", method, "path", path, "prefix", prefix ? "1" : "0", "name", name,
		 NULL);
}

static void json_error_send(h2o_ostream_t *self, h2o_req_t *req, h2o_iovec_t *bufs, size_t n,
			    h2o_send_state_t st)
{
	struct json_error_body *o = (void *)self;

	(void)bufs;
	(void)n;
	if (o->sent) {
		h2o_ostream_send_next(self, req, NULL, 0, st);
		return;
	}
	o->sent = 1;
	h2o_ostream_send_next(self, req, &o->body, 1, st);
}

static void json_error_setup(h2o_filter_t *self, h2o_req_t *req, h2o_ostream_t **slot)
{
	struct json_error_body *o;
	struct ra_err e = {0};
	json_t *j;
	char *text, st[8], rid[33];

	if (req->res.status < 400) {
		h2o_setup_next_ostream(req, slot);
		return;
	}
	if (req->res.status == 413)
		ra_err_set(&e, RA_E_TOOLARGE, "body", "request body over http.max_body (%zu bytes)",
			   req->conn->ctx->globalconf->max_request_entity_size);
	else
		ra_err_set(&e, RA_E_INVALID, "", "%s", req->res.reason ? req->res.reason : "bad request");
	j = json_pack("{s:s, s:s, s:s}", "error", ra_errname(e.code), "message", e.msg, "field", e.field);
	text = j ? json_dumps(j, JSON_COMPACT) : NULL;
	json_decref(j);
	o = (void *)h2o_add_ostream(req, sizeof(*o), slot);
	o->super.do_send = json_error_send;
	o->body = h2o_strdup(&req->pool, text ? text : "{\"error\":\"invalid\"}", SIZE_MAX);
	o->sent = 0;
	free(text);
	req->res.headers = (h2o_headers_t){NULL};
	h2o_add_header(&req->pool, &req->res.headers, H2O_TOKEN_CONTENT_TYPE, NULL,
		       H2O_STRLIT("application/json"));
	req->res.content_length = o->body.len;
	make_rid(req, rid, sizeof(rid));
	h2o_add_header_by_str(&req->pool, &req->res.headers, H2O_STRLIT("x-request-id"), 0, NULL,
			      h2o_strdup(&req->pool, rid, SIZE_MAX).base, strlen(rid));
	/* counted and logged like every request, under the route name "protocol" */
	metrics_observe_request("protocol", req->res.status, 0);
	snprintf(st, sizeof(st), "%d", req->res.status);
	log_info("http.request", "rid", rid, "route", "protocol", "status", st, "message", e.msg, NULL);
	(void)self;
	h2o_setup_next_ostream(req, &o->super.next);
}

static SSL_CTX *make_ssl(const char *cert, const char *key, const char *ciphers, struct ra_err *err)
{
	SSL_CTX *ssl = SSL_CTX_new(TLS_server_method());

	if (ssl == NULL)
		goto fail;
	SSL_CTX_set_min_proto_version(ssl, TLS1_2_VERSION);
	/* tls.ciphers (TLS 1.2; default Mozilla intermediate: forward-secret AEAD only).  OpenSSL
	 * accepts a list of which it knows only some names: refuse one that leaves nothing. */
	if (ciphers == NULL || SSL_CTX_set_cipher_list(ssl, ciphers) != 1) {
		ra_err_set(err, RA_E_CONFIG, "tls.ciphers", "tls.ciphers '%s' names no cipher OpenSSL knows",
			   ciphers ? ciphers : "");
		goto out;
	}
	SSL_CTX_set_dh_auto(ssl, 1); /* the DHE-RSA suites: RFC 7919 groups sized to the key */
	SSL_CTX_set_options(ssl, SSL_OP_NO_RENEGOTIATION | SSL_OP_NO_COMPRESSION);
	if (SSL_CTX_use_certificate_chain_file(ssl, cert) != 1) {
		ra_err_set(err, RA_E_CONFIG, "tls.cert", "cannot load TLS certificate chain %s", cert);
		goto out;
	}
	if (SSL_CTX_use_PrivateKey_file(ssl, key, SSL_FILETYPE_PEM) != 1 ||
	    SSL_CTX_check_private_key(ssl) != 1) {
		ra_err_set(err, RA_E_CONFIG, "tls.key", "cannot load TLS key %s or it does not match", key);
		goto out;
	}
	return ssl;
fail:
	ra_err_set(err, RA_E_INTERNAL, "", "SSL_CTX_new failed");
out:
	SSL_CTX_free(ssl);
	ERR_clear_error();
	return NULL;
}

/* The caps, within the descriptor limit: raised to the hard limit when the caps need it,
 * else the main cap shrinks (with a warning) so that accept() never meets EMFILE while the
 * database pool, the HTTP client and files still need descriptors (FD_SPARE). */
#define FD_SPARE 256
static void connection_caps(struct http_server *s)
{
	const struct config *cfg = s->app->cfg;
	struct rlimit rl;
	long long want;

	s->main.name = "main";
	s->ops.name = "ops";
	s->main.max = (int)cfg_int(cfg, "http.max_connections");
	s->main.per_address = (int)cfg_int(cfg, "http.max_connections_per_address");
	s->ops.max = (int)cfg_int(cfg, "http.ops_max_connections");
	s->ops.per_address = 0; /* operators and the monitoring share few addresses */
	want = (long long)s->main.max + s->ops.max + FD_SPARE;
	if (getrlimit(RLIMIT_NOFILE, &rl) != 0)
		return;
	if ((long long)rl.rlim_cur < want && rl.rlim_cur < rl.rlim_max) {
		rl.rlim_cur = (rlim_t)want < rl.rlim_max ? (rlim_t)want : rl.rlim_max;
		setrlimit(RLIMIT_NOFILE, &rl);
		getrlimit(RLIMIT_NOFILE, &rl);
	}
	if ((long long)rl.rlim_cur < want) {
		char lim[24], cap[24];
		long long fit = (long long)rl.rlim_cur - s->ops.max - FD_SPARE;
		s->main.max = fit < 16 ? 16 : (int)fit;
		snprintf(lim, sizeof(lim), "%llu", (unsigned long long)rl.rlim_cur);
		snprintf(cap, sizeof(cap), "%d", s->main.max);
		log_warn("http.max_connections_lowered", "descriptor_limit", lim, "max_connections", cap,
			 NULL);
	}
}

struct http_server *http_server_new(struct app *app, struct ra_err *err)
{
	struct http_server *s = calloc(1, sizeof(*s));
	h2o_hostconf_t *host;
	h2o_pathconf_t *pc;
	h2o_handler_t *h;
	struct json_errors *jerr;
	const char *cert = cfg_str(app->cfg, "tls.cert");
	const char *key = cfg_str(app->cfg, "tls.key");

	if (s == NULL) {
		ra_err_set(err, RA_E_NOMEM, "", "out of memory");
		return NULL;
	}
	s->app = app;
	/* TLS first: a configuration error must stop us before h2o holds anything */
	if (cert && key) {
		s->ssl = make_ssl(cert, key, cfg_str(app->cfg, "tls.ciphers"), err);
		if (s->ssl == NULL) {
			free(s);
			return NULL;
		}
		s->accept.ssl_ctx = s->ssl;
	} else if (cert || key) {
		ra_err_set(err, RA_E_CONFIG, cert ? "tls.key" : "tls.cert",
			   "TLS needs both tls.cert and tls.key; '%s' is missing",
			   cert ? "tls.key" : "tls.cert");
		free(s);
		return NULL;
	}
	connection_caps(s);
	h2o_config_init(&s->conf);
	s->conf.max_request_entity_size = (size_t)cfg_int(app->cfg, "http.max_body");
	s->max_header_bytes = (size_t)cfg_int(app->cfg, "http.max_header_bytes");
	/* HTTP/1.1 only: no cleartext upgrade to HTTP/2 (h2c), whose stream resets would let a
	 * client drop a request while its handler still works on it */
	s->conf.http1.upgrade_to_http2 = 0;
	host = h2o_config_register_host(&s->conf, h2o_iovec_init(H2O_STRLIT("default")), 65535);
	pc = h2o_config_register_path(host, "/", 0);
	h = h2o_create_handler(pc, sizeof(*h) + sizeof(s));
	*(struct http_server **)(h + 1) = s;
	h->on_req = on_req;
	jerr = (void *)h2o_create_filter(&host->fallback_path, sizeof(*jerr));
	jerr->super.on_setup_ostream = json_error_setup;
	h2o_context_init(&s->ctx, app->loop, &s->conf);
	s->accept.ctx = &s->ctx;
	s->accept.hosts = s->conf.hosts;
	app->http = s;
	return s;
}

static void conn_closed(uv_handle_t *h)
{
	struct conn *c = (struct conn *)h;

	c->l->conns--;
	if (c->counted)
		conncount_del(c->l->peers, c->key);
	free(c);
}

/* Refusals are counted always and logged at most once a second: a flood must not become a
 * flood of log lines as well. */
static void refuse(struct conn *c, const char *reason)
{
	struct listener *l = c->l;
	char labels[64], n[24];
	uint64_t now = uv_now(l->tcp.loop);

	snprintf(labels, sizeof(labels), "%s,reason=\"%s\"", l->labels, reason);
	metrics_count("ra_http_connections_refused_total", labels, 1);
	l->refused_since_log++;
	if (now - l->last_log_ms >= 1000) {
		snprintf(n, sizeof(n), "%llu", (unsigned long long)l->refused_since_log);
		log_warn("http.connection_refused", "listener", l->name, "reason", reason, "refused", n,
			 NULL);
		l->refused_since_log = 0;
		l->last_log_ms = now;
	}
	/* RST rather than FIN: nothing of ours waits in TIME_WAIT for a client we refused */
	if (uv_tcp_close_reset(&c->tcp, (uv_close_cb)free) != 0)
		uv_close((uv_handle_t *)&c->tcp, (uv_close_cb)free);
}

static void on_accept(uv_stream_t *listener, int status)
{
	struct listener *l = listener->data;
	struct http_server *s = l->s;
	struct conn *c;
	struct sockaddr_storage peer;
	int plen = sizeof(peer);
	h2o_socket_t *sock;

	if (status != 0 || s->draining)
		return;
	c = h2o_mem_alloc(sizeof(*c));
	memset(c, 0, sizeof(*c));
	c->l = l;
	uv_tcp_init(listener->loop, &c->tcp);
	if (uv_accept(listener, (uv_stream_t *)&c->tcp) != 0) {
		uv_close((uv_handle_t *)&c->tcp, (uv_close_cb)free);
		return;
	}
	if (l->conns >= l->max) {
		refuse(c, "total");
		return;
	}
	if (l->per_address > 0) {
		int n;
		if (uv_tcp_getpeername(&c->tcp, (struct sockaddr *)&peer, &plen) != 0) {
			refuse(c, "no_address");
			return;
		}
		conncount_key((struct sockaddr *)&peer, c->key);
		n = conncount_add(l->peers, c->key);
		if (n < 0 || n > l->per_address) {
			if (n > 0)
				conncount_del(l->peers, c->key);
			refuse(c, "per_address");
			return;
		}
		c->counted = 1;
	}
	l->conns++;
	uv_tcp_nodelay(&c->tcp, 1);
	sock = h2o_uv_socket_create((uv_stream_t *)&c->tcp, conn_closed);
	h2o_accept(&s->accept, sock);
}

static double g_conns(void *d)
{
	return ((struct listener *)d)->conns;
}

static double g_max(void *d)
{
	return ((struct listener *)d)->max;
}

static double g_addresses(void *d)
{
	struct listener *l = d;
	return l->peers ? (double)conncount_addresses(l->peers) : 0;
}

static void listener_metrics(struct listener *l)
{
	snprintf(l->labels, sizeof(l->labels), "listener=\"%s\"", l->name);
	metrics_gauge("ra_http_connections", "Open HTTP connections per listener.", l->labels, g_conns, l);
	metrics_gauge("ra_http_connections_max", "Connection cap per listener (http.max_connections).",
		      l->labels, g_max, l);
	metrics_gauge("ra_http_connection_addresses", "Peer addresses with an open connection.", l->labels,
		      g_addresses, l);
	metrics_help("ra_http_connections_refused_total",
		     "Connections reset at accept: over the listener's total or per-address cap.");
}

static int listen_on(struct http_server *s, struct listener *l, const char *key, const char *hostport,
		     struct ra_err *err)
{
	char host[128];
	const char *colon = strrchr(hostport, ':');
	struct sockaddr_storage addr;
	int port, rc;
	int blen = sizeof(l->bound);

	if (colon == NULL || colon == hostport || (size_t)(colon - hostport) >= sizeof(host))
		return ra_err_set(err, RA_E_CONFIG, key, "%s must be host:port, got '%s'", key, hostport);
	memcpy(host, hostport, (size_t)(colon - hostport));
	host[colon - hostport] = '\0';
	port = atoi(colon + 1);
	if (port < 0 || port > 65535)
		return ra_err_set(err, RA_E_CONFIG, key, "bad port in '%s'", hostport);
	if (host[0] == '[') {
		memmove(host, host + 1, strlen(host));
		host[strcspn(host, "]")] = '\0';
	}
	if (uv_ip4_addr(host, port, (struct sockaddr_in *)&addr) != 0 &&
	    uv_ip6_addr(host, port, (struct sockaddr_in6 *)&addr) != 0)
		return ra_err_set(err, RA_E_CONFIG, key, "bad address '%s'", host);
	l->s = s;
	if (l->per_address > 0 && l->peers == NULL && (l->peers = conncount_new()) == NULL)
		return ra_err_set(err, RA_E_NOMEM, key, "out of memory");
	uv_tcp_init(s->app->loop, &l->tcp);
	l->tcp.data = l;
	l->open = 1;
	rc = uv_tcp_bind(&l->tcp, (struct sockaddr *)&addr, 0);
	if (rc == 0)
		rc = uv_listen((uv_stream_t *)&l->tcp, 1024, on_accept);
	if (rc != 0)
		return ra_err_set(err, RA_E_CONFIG, key, "cannot listen on %s: %s", hostport,
				  uv_strerror(rc));
	if (uv_tcp_getsockname(&l->tcp, (struct sockaddr *)&l->bound, &blen) == 0)
		l->port = ntohs(((struct sockaddr_in *)&l->bound)->sin_port);
	listener_metrics(l);
	return 0;
}

int http_listen(struct http_server *s, const char *hostport, struct ra_err *err)
{
	const char *ops = cfg_str(s->app->cfg, "http.ops_listen");
	int rc = listen_on(s, &s->main, "listen", hostport, err);

	if (rc == 0 && ops != NULL && *ops != '\0')
		rc = listen_on(s, &s->ops, "http.ops_listen", ops, err);
	return rc;
}

int http_ops_port(const struct http_server *s)
{
	return s->ops.open ? s->ops.port : 0;
}

int http_port(const struct http_server *s)
{
	return s->main.port;
}

int http_inflight(const struct http_server *s)
{
	return s->inflight;
}

void http_drain(struct http_server *s, void (*done)(void *), void *data)
{
	s->draining = 1;
	h2o_context_request_shutdown(&s->ctx); /* idle keep-alive connections close now */
	s->drained = done;
	s->drained_data = data;
	for (struct listener *l = &s->main; l <= &s->ops; l++) {
		if (l->open) {
			uv_close((uv_handle_t *)&l->tcp, NULL);
			l->open = 0;
		}
	}
	maybe_drained(s);
}

void http_server_free(struct http_server *s)
{
	if (s == NULL)
		return;
	if (s->ssl)
		SSL_CTX_free(s->ssl);
	conncount_free(s->main.peers);
	conncount_free(s->ops.peers);
	free(s);
}
