/*
 * httpc.h - asynchronous HTTP client on the service's libuv loop (libcurl multi with
 * curl_multi_socket_action), for the ident provider, the SMS gateway and SMTP submission.
 * Never blocks the loop thread.
 */
#ifndef RA_HTTPC_H
#define RA_HTTPC_H

#include <stddef.h>
#include <stdint.h>
#include <uv.h>

#include "ra/base/err.h"

struct httpc;

struct httpc_resp {
	long status; /* HTTP status; 0 when no response */
	const char *body; /* NUL-terminated, valid during the callback */
	size_t len;
};

/* err is NULL when a response arrived (any status); set on transport failure or timeout. */
typedef void (*httpc_cb)(const struct httpc_resp *resp, const struct ra_err *err, void *data);

/*
 * Callback contract (requests and mail alike): when httpc_request / httpc_send_mail return 0,
 * cb is called exactly once, always from the loop and never from inside the starting call;
 * resp is never NULL (status 0 and an empty body when nothing arrived; for SMTP, status is the
 * last SMTP reply code, e.g. 250).  Failures that happen while starting (bad arguments, header
 * injection, curl set-up) are delivered the same way, on the next loop turn.  A negative
 * return means cb will NOT be called: only for a NULL client or callback, out of memory, or a
 * client that httpc_free is tearing down (RA_E_UNAVAILABLE).
 *
 * Error codes in err->code: RA_E_UNAVAILABLE (connection refused, DNS, TLS, peer closed,
 * cancelled), RA_E_TIMEOUT (timeout_ms elapsed), RA_E_TOOLARGE (response body over
 * HTTPC_MAX_BODY), RA_E_INVALID (bad method/URL/header, CR or LF in a header or address),
 * RA_E_AUTH (SMTP server refused our credentials), RA_E_NOMEM.
 */
#define HTTPC_MAX_BODY (1024 * 1024) /* response bodies above this fail with RA_E_TOOLARGE */

/* NULL on failure (out of memory, curl init).  Initialises libcurl once per process. */
struct httpc *httpc_new(uv_loop_t *loop);
/*
 * Cancels every transfer still in flight: each gets its callback, from inside httpc_free,
 * with RA_E_UNAVAILABLE "cancelled" (so owners can release their context; a start-up failure
 * not yet delivered keeps its own error).  Then closes the
 * client's uv handles; its memory is released by their close callbacks, so the loop must run
 * once more.  Safe to call from inside a callback of this client.  Accepts NULL.
 */
void httpc_free(struct httpc *c);
/* Requests and mails whose callback is still due (for `ra serve` draining). */
int httpc_inflight(const struct httpc *c);

/*
 * Puts a peer (peer.h) in front of every request and mail whose URL has the peer's origin:
 * beyond its bound, or while its breaker is open, the call is not made and cb gets
 * RA_E_BUSY (on the next loop turn, like every failure).  Timeouts, transport failures and
 * 5xx answers count as the peer's failures.  The peer is not owned (it outlives the client:
 * metrics read it).  0, or RA_E_TOOLARGE when HTTPC_MAX_PEERS are there already.
 */
struct peer;
int httpc_peer_add(struct httpc *c, struct peer *p);
/* The i-th peer (0..), NULL past the last; and the peer by name, NULL if none. */
struct peer *httpc_peer_at(const struct httpc *c, int i);
struct peer *httpc_peer_named(const struct httpc *c, const char *name);

/* headers: NULL-terminated "Name: value" list (copied).  body may be NULL.  timeout_ms > 0. */
int httpc_request(struct httpc *c, const char *method, const char *url, const char *const *headers,
		  const char *body, size_t len, long timeout_ms, httpc_cb cb, void *data);

/* SMTP submission of one message (RFC 5322 text incl. headers), smtp:// or smtps://. */
enum httpc_mail_tls {
	HTTPC_TLS_REQUIRED = 0, /* STARTTLS (or smtps://) with a verified certificate, or no mail */
	HTTPC_TLS_OPPORTUNISTIC, /* STARTTLS when the server offers it */
	HTTPC_TLS_NONE, /* plain text (a local relay) */
};
/* smtp.tls as configured ("required", "opportunistic", "none"); NULL or unknown: required. */
enum httpc_mail_tls httpc_mail_tls_mode(const char *smtp_tls);

struct httpc_mail {
	const char *url; /* smtp.url */
	enum httpc_mail_tls tls; /* smtp.tls; credentials always need TLS */
	const char *user; /* may be NULL */
	const char *password; /* may be NULL; never logged */
	const char *from;
	const char *to;
	const char *message;
};
/* The message must use CRLF line ends (httpc_mail_compose does).  smtps:// is TLS from the
 * first byte; smtp:// upgrades with STARTTLS as tls says (required when a user is given). */
int httpc_send_mail(struct httpc *c, const struct httpc_mail *m, long timeout_ms, httpc_cb cb, void *data);

/*
 * An RFC 5322 message (CRLF line ends): Date, Message-ID, From, To, Subject (RFC 2047
 * encoded-words when not ASCII), MIME-Version, text/plain; charset=UTF-8, quoted-printable
 * body.  from and to are plain ASCII addresses ("a@b.example" or "Name <a@b.example>").
 * NULL when any header value holds CR, LF or another control character (header injection),
 * when from/to are not ASCII, when subject or body is not valid UTF-8, or out of memory.
 * Caller frees with free().
 */
char *httpc_mail_compose(const char *from, const char *to, const char *subject, const char *body_utf8);
/*
 * The same with a given Date (date: seconds since the epoch, UTC) and Message-ID
 * (<message_id@the sender's domain>; 1..64 of [A-Za-z0-9._-], else NULL is returned; NULL: a
 * random one).  For a mail a job may send twice (a crash between the server's 250 and the
 * record): both sends are then the same message, byte for byte, and the recipient's client
 * shows it once (issue #19).
 */
char *httpc_mail_compose_at(const char *from, const char *to, const char *subject, const char *body_utf8,
			    int64_t date, const char *message_id);

#endif
