/*
 * httpc_xfer.c - one transfer of the async client: building the curl easy handle for an HTTP
 * request or an SMTP submission, buffering the response, mapping curl's result to an RA error
 * and delivering it to the caller exactly once.  The loop glue is in httpc.c.
 */
#include "ra/net/httpc_int.h"
#include "ra/net/peer.h"

#include <openssl/crypto.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

static size_t on_write(char *ptr, size_t size, size_t nmemb, void *userdata)
{
	struct xfer *x = userdata;
	size_t n = size * nmemb;
	size_t cap;
	char *p;

	if (n > HTTPC_MAX_BODY - x->in_len) {
		x->too_large = 1;
		return 0; /* curl fails the transfer with CURLE_WRITE_ERROR */
	}
	if (x->in_len + n + 1 > x->in_cap) {
		cap = x->in_cap ? x->in_cap : 4096;
		while (cap < x->in_len + n + 1)
			cap *= 2;
		p = realloc(x->in, cap);
		if (p == NULL)
			return 0;
		x->in = p;
		x->in_cap = cap;
	}
	memcpy(x->in + x->in_len, ptr, n);
	x->in_len += n;
	x->in[x->in_len] = '\0';
	return n;
}

/* Mail upload from our copy of the message. */
static size_t on_read(char *buf, size_t size, size_t nmemb, void *userdata)
{
	struct xfer *x = userdata;
	size_t n = size * nmemb;

	if (n > x->out_len - x->out_off)
		n = x->out_len - x->out_off;
	memcpy(buf, x->out + x->out_off, n);
	x->out_off += n;
	return n;
}

/*
 * Request bodies (API keys, personal data), headers (bearer and login tokens) and responses
 * (tokens handed back) are wiped before their memory goes back to the allocator, where a
 * later heap read or core dump would find them.
 */
static void xfer_free(struct xfer *x)
{
	if (x == NULL)
		return;
	if (x->easy)
		curl_easy_cleanup(x->easy);
	for (struct curl_slist *l = x->list; l != NULL; l = l->next) {
		if (l->data)
			OPENSSL_cleanse(l->data, strlen(l->data));
	}
	curl_slist_free_all(x->list);
	if (x->out)
		OPENSSL_cleanse(x->out, x->out_len);
	free(x->out);
	if (x->in)
		OPENSSL_cleanse(x->in, x->in_cap);
	free(x->in);
	free(x);
}

static int map_curl(CURLcode rc, int too_large)
{
	switch (rc) {
	case CURLE_OPERATION_TIMEDOUT:
		return RA_E_TIMEOUT;
	case CURLE_FILESIZE_EXCEEDED:
		return RA_E_TOOLARGE;
	case CURLE_WRITE_ERROR:
		return too_large ? RA_E_TOOLARGE : RA_E_NOMEM;
	case CURLE_OUT_OF_MEMORY:
		return RA_E_NOMEM;
	case CURLE_URL_MALFORMAT:
	case CURLE_UNSUPPORTED_PROTOCOL:
	case CURLE_BAD_FUNCTION_ARGUMENT:
		return RA_E_INVALID;
	case CURLE_LOGIN_DENIED:
		return RA_E_AUTH;
	default:
		/* refused, DNS, TLS, reset, garbage from the peer: the peer is away for now */
		return RA_E_UNAVAILABLE;
	}
}

/* A timeout, an unreachable peer or a 5xx says the peer is unwell; a cancel (shutdown) says
 * nothing about it. */
static int peer_ok(const struct xfer *x)
{
	if (x->failed)
		return !(x->err.code == RA_E_TIMEOUT || x->err.code == RA_E_UNAVAILABLE) || x->c->closing;
	return x->status < 500;
}

void httpc_xfer_deliver(struct xfer *x)
{
	struct httpc *c = x->c;
	struct httpc_resp resp = {x->status, x->in ? x->in : "", x->in_len};

	if (x->peer != NULL) {
		peer_leave(x->peer, uv_now(c->loop), peer_ok(x));
		x->peer = NULL;
	}

	c->inflight--;
	c->dispatching++;
	x->cb(&resp, x->failed ? &x->err : NULL, x->data);
	c->dispatching--;
	xfer_free(x);
}

static void detach(struct xfer *x)
{
	curl_multi_remove_handle(x->c->multi, x->easy);
	httpc_untrack(x->c, x);
	curl_easy_getinfo(x->easy, CURLINFO_RESPONSE_CODE, &x->status);
}

void httpc_xfer_finish(struct xfer *x, CURLcode rc)
{
	detach(x);
	if (rc != CURLE_OK) {
		int code = map_curl(rc, x->too_large);

		x->failed = 1;
		if (code == RA_E_TOOLARGE)
			ra_err_set(&x->err, code, "", "response body over %d bytes", HTTPC_MAX_BODY);
		else if (rc == CURLE_USE_SSL_FAILED && x->tls_required)
			ra_err_set(
				&x->err, RA_E_CONFIG, "smtp.url",
				"mail server offers no STARTTLS: mail and credentials are never sent in clear "
				"text (use a server with STARTTLS or smtps://, or set smtp.tls)");
		else
			ra_err_set(&x->err, code, "", "%s",
				   x->errbuf[0] ? x->errbuf : curl_easy_strerror(rc));
	}
	httpc_xfer_deliver(x);
}

void httpc_xfer_cancel(struct xfer *x)
{
	detach(x);
	x->failed = 1;
	ra_err_set(&x->err, RA_E_UNAVAILABLE, "", "cancelled");
	httpc_xfer_deliver(x);
}

static int has_crlf(const char *s)
{
	return strpbrk(s, "\r\n") != NULL;
}

/* Settings every transfer shares. */
static int setup_common(struct xfer *x, const char *url, long timeout_ms, const char *protocols)
{
	CURL *e;

	if (url == NULL || has_crlf(url))
		return ra_err_set(&x->err, RA_E_INVALID, "url", "missing URL or CR/LF in it");
	if (timeout_ms <= 0)
		return ra_err_set(&x->err, RA_E_INVALID, "timeout_ms", "timeout must be positive");
	e = x->easy = curl_easy_init();
	if (e == NULL)
		return ra_err_set(&x->err, RA_E_NOMEM, "", "curl_easy_init failed");
	curl_easy_setopt(e, CURLOPT_PRIVATE, x);
	curl_easy_setopt(e, CURLOPT_ERRORBUFFER, x->errbuf);
	/* signals are the loop's business; curl's threaded resolver needs none */
	curl_easy_setopt(e, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(e, CURLOPT_TIMEOUT_MS, timeout_ms);
	curl_easy_setopt(e, CURLOPT_CONNECTTIMEOUT_MS, timeout_ms);
	curl_easy_setopt(e, CURLOPT_TCP_NODELAY, 1L);
	curl_easy_setopt(e, CURLOPT_TCP_KEEPALIVE, 1L);
	curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, on_write);
	curl_easy_setopt(e, CURLOPT_WRITEDATA, x);
	curl_easy_setopt(e, CURLOPT_MAXFILESIZE_LARGE, (curl_off_t)HTTPC_MAX_BODY);
	/* only the schemes this call is for: a configured URL cannot make us read file:// */
	if (curl_easy_setopt(e, CURLOPT_PROTOCOLS_STR, protocols) != CURLE_OK)
		return ra_err_set(&x->err, RA_E_INTERNAL, "", "libcurl lacks %s", protocols);
	if (curl_easy_setopt(e, CURLOPT_URL, url) != CURLE_OK)
		return ra_err_set(&x->err, RA_E_INVALID, "url", "malformed URL");
	return 0;
}

static int method_ok(const char *m)
{
	size_t n = 0;

	if (m == NULL)
		return 0;
	for (; m[n]; n++) {
		if (m[n] < 'A' || m[n] > 'Z')
			return 0;
	}
	return n > 0 && n <= 16;
}

static int add_header(struct xfer *x, const char *h)
{
	struct curl_slist *l = curl_slist_append(x->list, h);

	if (l == NULL)
		return ra_err_set(&x->err, RA_E_NOMEM, "", "out of memory");
	x->list = l;
	return 0;
}

static int setup_body(struct xfer *x, const char *method, const char *body, size_t len)
{
	int wants_body =
		body != NULL || !strcmp(method, "POST") || !strcmp(method, "PUT") || !strcmp(method, "PATCH");

	if (!wants_body) {
		if (!strcmp(method, "HEAD"))
			curl_easy_setopt(x->easy, CURLOPT_NOBODY, 1L);
		else if (strcmp(method, "GET"))
			curl_easy_setopt(x->easy, CURLOPT_CUSTOMREQUEST, method);
		return 0;
	}
	x->out = malloc(len + 1);
	if (x->out == NULL)
		return ra_err_set(&x->err, RA_E_NOMEM, "", "out of memory");
	if (len)
		memcpy(x->out, body, len);
	x->out[len] = '\0';
	x->out_len = len;
	curl_easy_setopt(x->easy, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)len);
	curl_easy_setopt(x->easy, CURLOPT_POSTFIELDS, x->out);
	if (strcmp(method, "POST"))
		curl_easy_setopt(x->easy, CURLOPT_CUSTOMREQUEST, method);
	return 0;
}

static int setup_request(struct xfer *x, const char *method, const char *url, const char *const *headers,
			 const char *body, size_t len, long timeout_ms)
{
	int rc;

	if (!method_ok(method))
		return ra_err_set(&x->err, RA_E_INVALID, "method", "method must be an upper-case token");
	rc = setup_common(x, url, timeout_ms, "http,https");
	if (rc != 0)
		return rc;
	/* no "Expect: 100-continue" round trip before larger bodies */
	rc = add_header(x, "Expect:");
	for (size_t i = 0; rc == 0 && headers && headers[i]; i++) {
		if (has_crlf(headers[i]))
			return ra_err_set(&x->err, RA_E_INVALID, "headers", "CR/LF in a header");
		rc = add_header(x, headers[i]);
	}
	if (rc != 0)
		return rc;
	curl_easy_setopt(x->easy, CURLOPT_HTTPHEADER, x->list);
	return setup_body(x, method, body, len);
}

static struct xfer *xfer_new(struct httpc *c, httpc_cb cb, void *data)
{
	struct xfer *x = calloc(1, sizeof(*x));

	if (x == NULL)
		return NULL;
	x->c = c;
	x->cb = cb;
	x->data = data;
	return x;
}

/* The peer in front of url's origin, if one was added. */
static struct peer *peer_for(const struct httpc *c, const char *url)
{
	char origin[256];

	if (c->npeers == 0 || peer_origin_of(url, origin, sizeof(origin)) != 0)
		return NULL;
	for (int i = 0; i < c->npeers; i++)
		if (strcasecmp(peer_origin(c->peers[i]), origin) == 0)
			return c->peers[i];
	return NULL;
}

/* rc from set-up: 0 starts the transfer, else the failure is delivered on the next turn.
 * A peer that refuses (bound full, breaker open) is a failure of the same kind: RA_E_BUSY. */
static int start(struct xfer *x, int rc, const char *url)
{
	struct httpc *c = x->c;
	struct peer *p = rc == 0 ? peer_for(c, url) : NULL;

	if (p != NULL) {
		rc = peer_enter(p, uv_now(c->loop), &x->err);
		if (rc == 0)
			x->peer = p;
	}
	if (rc == 0) {
		CURLMcode mc = curl_multi_add_handle(c->multi, x->easy);

		if (mc != CURLM_OK)
			rc = ra_err_set(&x->err, RA_E_INTERNAL, "", "curl_multi_add_handle: %s",
					curl_multi_strerror(mc));
	}
	if (rc != 0) {
		x->failed = 1;
		httpc_defer_failure(c, x);
		return 0;
	}
	httpc_track(c, x);
	return 0;
}

int httpc_request(struct httpc *c, const char *method, const char *url, const char *const *headers,
		  const char *body, size_t len, long timeout_ms, httpc_cb cb, void *data)
{
	struct xfer *x;

	if (c == NULL || cb == NULL)
		return RA_E_INVALID;
	if (c->closing)
		return RA_E_UNAVAILABLE;
	x = xfer_new(c, cb, data);
	if (x == NULL)
		return RA_E_NOMEM;
	return start(x, setup_request(x, method, url, headers, body, len, timeout_ms), url);
}

/* An envelope address: no CR/LF (SMTP command injection) and no angle brackets. */
static int address_ok(const char *a)
{
	if (a == NULL || a[0] == '\0')
		return 0;
	for (; *a; a++) {
		if ((unsigned char)*a < 0x21 || *a == 0x7f || *a == '<' || *a == '>')
			return 0;
	}
	return 1;
}

static int setup_mail(struct xfer *x, const struct httpc_mail *m, long timeout_ms)
{
	char addr[512];
	int rc;

	if (m == NULL || m->message == NULL)
		return ra_err_set(&x->err, RA_E_INVALID, "message", "no message");
	if (!address_ok(m->from) || !address_ok(m->to))
		return ra_err_set(&x->err, RA_E_INVALID, "address", "malformed envelope address");
	if ((m->user && has_crlf(m->user)) || (m->password && has_crlf(m->password)))
		return ra_err_set(&x->err, RA_E_INVALID, "user", "CR/LF in credentials");
	rc = setup_common(x, m->url, timeout_ms, "smtp,smtps");
	if (rc != 0)
		return rc;
	x->out_len = strlen(m->message);
	x->out = strdup(m->message);
	snprintf(addr, sizeof(addr), "<%s>", m->to);
	if (x->out == NULL || add_header(x, addr) != 0)
		return ra_err_set(&x->err, RA_E_NOMEM, "", "out of memory");
	snprintf(addr, sizeof(addr), "<%s>", m->from);
	curl_easy_setopt(x->easy, CURLOPT_MAIL_FROM, addr); /* curl copies strings */
	curl_easy_setopt(x->easy, CURLOPT_MAIL_RCPT, x->list);
	curl_easy_setopt(x->easy, CURLOPT_UPLOAD, 1L);
	curl_easy_setopt(x->easy, CURLOPT_READFUNCTION, on_read);
	curl_easy_setopt(x->easy, CURLOPT_READDATA, x);
	curl_easy_setopt(x->easy, CURLOPT_INFILESIZE_LARGE, (curl_off_t)x->out_len);
	if (m->user) {
		curl_easy_setopt(x->easy, CURLOPT_USERNAME, m->user);
		curl_easy_setopt(x->easy, CURLOPT_PASSWORD, m->password ? m->password : "");
	}
	/*
	 * smtps:// is TLS from the first byte.  smtp:// demands STARTTLS unless smtp.tls says
	 * otherwise: with TRY an attacker stripping STARTTLS from EHLO reads (and changes) the
	 * mail, which carries identification links and user IDs.  Credentials always demand it.
	 */
	x->tls_required = m->tls == HTTPC_TLS_REQUIRED || m->user != NULL || m->password != NULL;
	if (!strncasecmp(m->url, "smtps://", 8) || x->tls_required)
		curl_easy_setopt(x->easy, CURLOPT_USE_SSL, (long)CURLUSESSL_ALL);
	else if (m->tls == HTTPC_TLS_OPPORTUNISTIC)
		curl_easy_setopt(x->easy, CURLOPT_USE_SSL, (long)CURLUSESSL_TRY);
	else
		curl_easy_setopt(x->easy, CURLOPT_USE_SSL, (long)CURLUSESSL_NONE);
	return 0;
}

enum httpc_mail_tls httpc_mail_tls_mode(const char *smtp_tls)
{
	if (smtp_tls != NULL && strcmp(smtp_tls, "opportunistic") == 0)
		return HTTPC_TLS_OPPORTUNISTIC;
	if (smtp_tls != NULL && strcmp(smtp_tls, "none") == 0)
		return HTTPC_TLS_NONE;
	return HTTPC_TLS_REQUIRED;
}

int httpc_send_mail(struct httpc *c, const struct httpc_mail *m, long timeout_ms, httpc_cb cb, void *data)
{
	struct xfer *x;

	if (c == NULL || cb == NULL)
		return RA_E_INVALID;
	if (c->closing)
		return RA_E_UNAVAILABLE;
	x = xfer_new(c, cb, data);
	if (x == NULL)
		return RA_E_NOMEM;
	return start(x, setup_mail(x, m, timeout_ms), m ? m->url : NULL);
}
