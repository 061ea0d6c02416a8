/*
 * httpc.h - asynchronous HTTP client on the service's libuv loop (libcurl multi with
 * curl_multi_socket_action), for the ident provider, the SMS gateway and SMTP submission.
 * Never blocks the loop thread.
 */
#ifndef RA_HTTPC_H
#define RA_HTTPC_H

#include <stddef.h>
#include <uv.h>

#include "ra/err.h"

struct httpc;

struct httpc_resp {
	long status;      /* HTTP status; 0 when no response */
	const char *body; /* NUL-terminated, valid during the callback */
	size_t len;
};

/* err is NULL when a response arrived (any status); set on transport failure or timeout. */
typedef void (*httpc_cb)(const struct httpc_resp *resp, const struct ra_err *err, void *data);

struct httpc *httpc_new(uv_loop_t *loop);
void httpc_free(struct httpc *c);

/* headers: NULL-terminated "Name: value" list (copied).  body may be NULL.  timeout_ms > 0. */
int httpc_request(struct httpc *c, const char *method, const char *url, const char *const *headers,
		  const char *body, size_t len, long timeout_ms, httpc_cb cb, void *data);

/* SMTP submission of one message (RFC 5322 text incl. headers), smtp:// or smtps://. */
struct httpc_mail {
	const char *url;      /* smtp.url */
	const char *user;     /* may be NULL */
	const char *password; /* may be NULL; never logged */
	const char *from;
	const char *to;
	const char *message;
};
int httpc_send_mail(struct httpc *c, const struct httpc_mail *m, long timeout_ms, httpc_cb cb, void *data);

#endif
