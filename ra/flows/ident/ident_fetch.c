/*
 * ident_fetch.c - calls to the IDnow-style provider API: log in, then one request with the
 * login token; see ident_fetch.h.
 */
#include "ra/base/config.h"
#include "ra/flows/ident/ident_fetch.h"

#include <jansson.h>
#include <openssl/crypto.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define HTTP_TIMEOUT_MS 15000

struct fetch {
	struct app *app;
	char method[8];
	char rest[192];
	char *body; /* request body (JSON) or NULL; ours */
	ident_fetch_cb cb;
	void *data;
};

int ident_http_retryable(long status)
{
	return status == 0 || status >= 500 || status == 408 || status == 429;
}

static void finish(struct fetch *f, const struct httpc_resp *resp, const struct ra_err *err)
{
	static const struct httpc_resp none = {0, "", 0};

	f->cb(resp ? resp : &none, err, f->data);
	free(f->body);
	free(f);
}

static void fail(struct fetch *f, int code, const char *msg, long status)
{
	struct ra_err e;

	if (status != 0)
		ra_err_set(&e, code, "ident.base_url", "ident provider %s answered %ld", msg, status);
	else
		ra_err_set(&e, code, "ident.base_url", "ident provider %s", msg);
	finish(f, NULL, &e);
}

/* "{base}/api/v1/{company}{rest}" without a doubled slash; NULL when not configured. */
static char *api_url(const struct config *cfg, const char *rest)
{
	const char *base = cfg_str(cfg, "ident.base_url");
	const char *company = cfg_str(cfg, "ident.company_id");
	size_t n = base ? strlen(base) : 0;
	char *url = NULL;

	while (n > 0 && base[n - 1] == '/')
		n--;
	if (base == NULL || company == NULL ||
	    asprintf(&url, "%.*s/api/v1/%s%s", (int)n, base, company, rest) < 0)
		return NULL;
	return url;
}

static void on_result(const struct httpc_resp *resp, const struct ra_err *err, void *data)
{
	finish(data, resp, err);
}

static void on_login(const struct httpc_resp *resp, const struct ra_err *err, void *data)
{
	struct fetch *f = data;
	char hdr[320], *url;
	const char *headers[] = {"Accept: application/json", "Content-Type: application/json", hdr, NULL};
	const char *tok;
	json_t *j;
	int rc;

	if (err != NULL) {
		finish(f, NULL, err);
		return;
	}
	if (resp->status / 100 != 2) {
		fail(f, ident_http_retryable(resp->status) ? RA_E_UNAVAILABLE : RA_E_CONFIG, "login",
		     resp->status);
		return;
	}
	j = json_loadb(resp->body, resp->len, 0, NULL);
	tok = json_string_value(json_object_get(j, "authToken"));
	if (tok == NULL || strlen(tok) > 256 || strpbrk(tok, "\r\n") != NULL) {
		json_decref(j);
		fail(f, RA_E_UNAVAILABLE, "login: answer without a token", 0);
		return;
	}
	snprintf(hdr, sizeof(hdr), "X-API-LOGIN-TOKEN: %s", tok);
	json_decref(j);
	url = api_url(f->app->cfg, f->rest);
	rc = url ? httpc_request(f->app->httpc, f->method, url, headers, f->body,
				 f->body ? strlen(f->body) : 0, HTTP_TIMEOUT_MS, on_result, f)
		 : -1;
	OPENSSL_cleanse(hdr, sizeof(hdr)); /* the login token is a credential (httpc copied it) */
	free(url);
	if (rc != 0)
		fail(f, RA_E_UNAVAILABLE, "request could not be started", 0);
}

void ident_api_call(struct app *app, const char *method, const char *rest, const char *body,
		    ident_fetch_cb cb, void *data)
{
	struct fetch *f = calloc(1, sizeof(*f));
	const char *key = cfg_str(app->cfg, "ident.api_key");
	const char *headers[] = {"Content-Type: application/json", NULL};
	char *url, *text = NULL;
	json_t *b;
	int rc = -1;

	if (f == NULL)
		abort();
	f->app = app;
	f->cb = cb;
	f->data = data;
	snprintf(f->method, sizeof(f->method), "%s", method);
	snprintf(f->rest, sizeof(f->rest), "%s", rest);
	f->body = body ? strdup(body) : NULL;
	url = api_url(app->cfg, "/login");
	if (url == NULL || key == NULL) {
		free(url);
		fail(f, RA_E_CONFIG, "not configured (ident.base_url, ident.company_id, ident.api_key)", 0);
		return;
	}
	b = json_pack("{s:s}", "apiKey", key);
	text = b ? json_dumps(b, JSON_COMPACT) : NULL;
	json_decref(b);
	if (text != NULL)
		rc = httpc_request(app->httpc, "POST", url, headers, text, strlen(text), HTTP_TIMEOUT_MS,
				   on_login, f);
	if (text != NULL)
		OPENSSL_cleanse(text, strlen(text));
	free(text);
	free(url);
	if (rc != 0)
		fail(f, RA_E_UNAVAILABLE, "login could not be started", 0);
}

void ident_fetch(struct app *app, const char *tx, ident_fetch_cb cb, void *data)
{
	char rest[192];

	snprintf(rest, sizeof(rest), "/identifications/%s", tx);
	ident_api_call(app, "GET", rest, NULL, cb, data);
}
