/*
 * http.h - the HTTP front: libh2o on the service's libuv loop, a route table, JSON replies,
 * request ids, per-request metrics and structured access logs.
 *
 * A handler gets a struct http_req.  It may reply at once or later (after database or job
 * work): the http_req stays valid until http_reply* is called, also if the client went away
 * in between (then the reply is dropped).  Exactly one http_reply* per request.
 */
#ifndef RA_HTTP_H
#define RA_HTTP_H

#include <h2o.h>
#include <jansson.h>

#include "ra/base/app.h"
#include "ra/base/err.h"

struct http_req {
	h2o_req_t *req; /* NULL once the client is gone */
	struct app *app;
	void *route_data;
	const char *route; /* route name for metrics and logs */
	char rid[33]; /* request id (X-Request-Id) */
	uint64_t start_ns;
	const char *path; /* normalised path, NUL-terminated copy */
	const char *rest; /* for prefix routes: the part after the prefix */
	const char *body; /* raw request body (may be NULL) */
	size_t body_len;
	int replied;
	void *guard;
};

typedef void (*http_handler)(struct http_req *hr);

struct http_server *http_server_new(struct app *app, struct ra_err *err);
/* Adds a route; prefix=1 matches path prefixes (hr->rest is the remainder). */
void http_route(struct http_server *s, const char *method, const char *path, int prefix, const char *name,
		http_handler fn, void *data);
int http_listen(struct http_server *s, const char *hostport, struct ra_err *err);
/* Stops accepting; `done` runs once no request is in flight. */
void http_drain(struct http_server *s, void (*done)(void *), void *data);
int http_inflight(const struct http_server *s);
void http_server_free(struct http_server *s);
/* Port actually bound (useful with port 0). */
int http_port(const struct http_server *s);
/* The port http.ops_listen is bound to; 0 when it is not configured. */
int http_ops_port(const struct http_server *s);

/* Replies.  body is stolen (json_decref'd). */
void http_reply_json(struct http_req *hr, int status, json_t *body);
void http_reply_text(struct http_req *hr, int status, const char *ctype, const char *body, size_t len);
/* {"error": name, "message": msg, "field": field} with the status mapped from err->code
 * ("field" is "" when no input field is concerned). */
void http_reply_error(struct http_req *hr, const struct ra_err *err);
void http_reply_errorf(struct http_req *hr, int code, const char *field, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));
int http_status_for(int code);
/* 405 with `Allow: allow` (e.g. "GET, POST"): the path exists, not with this method. */
void http_reply_method_not_allowed(struct http_req *hr, const char *allow);

/* Request helpers. */
const char *http_header(struct http_req *hr, const char *name, size_t *len); /* NULL if absent */
/* Parses the body as a JSON object; on failure fills err (RA_E_INVALID, or RA_E_MEDIATYPE when
 * the Content-Type is not JSON) and returns NULL. */
json_t *http_body_json(struct http_req *hr, struct ra_err *err);
/* 0 when the request's Content-Type is application/json (or a +json type, parameters allowed);
 * else fills err with RA_E_MEDIATYPE naming Content-Type.  For routes that read JSON bodies. */
int http_want_json(struct http_req *hr, struct ra_err *err);
/* Peer address as text (for allowlists and logs). */
void http_peer(struct http_req *hr, char *buf, size_t cap);

#endif
