/*
 * ident_fetch.h - fetch an identification result from the IDnow-style provider: log in
 * (POST {ident.base_url}/api/v1/{ident.company_id}/login {"apiKey"}) and GET
 * .../identifications/{tx} with the X-API-LOGIN-TOKEN.  The RA acts only on what this
 * returns, never on a callback body (issue #5).  The login token is wiped after use.
 */
#ifndef RA_IDENT_FETCH_H
#define RA_IDENT_FETCH_H

#include "ra/base/app.h"
#include "ra/net/httpc.h"

/* cb gets the provider's answer to the GET (any status), or err for a failed login or
 * transport; exactly once (before ident_fetch returns when the provider is not configured). */
typedef void (*ident_fetch_cb)(const struct httpc_resp *resp, const struct ra_err *err, void *data);

void ident_fetch(struct app *app, const char *tx, ident_fetch_cb cb, void *data);
/* The general form: log in, then METHOD {base}/api/v1/{company}{rest} with the login token and
 * an optional JSON body (copied).  Login failures arrive as err (RA_E_CONFIG when retrying
 * cannot help, RA_E_UNAVAILABLE when it can). */
void ident_api_call(struct app *app, const char *method, const char *rest, const char *body,
		    ident_fetch_cb cb, void *data);

/* 5xx, 408, 429 and no answer are worth retrying; other statuses are ours to fix. */
int ident_http_retryable(long status);

#endif
