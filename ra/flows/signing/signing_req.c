/* signing_req.c - authentication, bodies and replies of the signing routes; see signing_req.h. */
#include "ra/flows/signing/signing_req.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ra/base/log.h"

struct start {
	int csc;
	sg_handler fn;
};

static void call_free(struct sg_call *c)
{
	json_decref(c->body);
	free(c);
}

void sg_reply(struct sg_call *c, int status, json_t *body)
{
	http_reply_json(c->hr, status, body);
	call_free(c);
}

void sg_fail(struct sg_call *c, const struct ra_err *e, const char *reason, const char *rule, json_t *extra)
{
	json_t *o = json_pack("{s:s, s:s, s:s}", "error", ra_errname(e->code), "message", e->msg, "field",
			      e->field);

	if (reason)
		json_object_set_new(o, "reason", json_string(reason));
	if (rule)
		json_object_set_new(o, "rule", json_string(rule));
	if (extra) {
		json_object_update(o, extra);
		json_decref(extra);
	}
	log_info("signing.refused", "rid", c->hr->rid, "actor", c->actor, "route", c->hr->route, "reason",
		 reason ? reason : ra_errname(e->code), "message", e->msg, NULL);
	http_reply_json(c->hr, http_status_for(e->code), o);
	call_free(c);
}

void sg_failv(struct sg_call *c, int code, const char *field, const char *reason, const char *rule,
	      json_t *extra, const char *fmt, va_list ap)
{
	struct ra_err e;

	e.code = code;
	snprintf(e.field, sizeof(e.field), "%s", field);
	vsnprintf(e.msg, sizeof(e.msg), fmt, ap);
	sg_fail(c, &e, reason, rule, extra);
}

/* The CSC format: OAuth 2.0's error object (RFC 6749 5.2, RFC 6750 3.1), as the CSC API uses it. */
static void csc_reply(struct http_req *hr, int status, const char *error, const char *desc)
{
	http_reply_json(hr, status, json_pack("{s:s, s:s}", "error", error, "error_description", desc));
}

static void csc_reply_err(struct http_req *hr, const struct ra_err *e)
{
	switch (e->code) {
	case RA_E_AUTH:
		csc_reply(hr, 401, "invalid_token", e->msg);
		break;
	case RA_E_FORBIDDEN:
		csc_reply(hr, 403, "insufficient_scope", e->msg);
		break;
	case RA_E_INVALID:
	case RA_E_NOTFOUND:
		csc_reply(hr, 400, "invalid_request", e->msg);
		break;
	case RA_E_TOOLARGE:
	case RA_E_MEDIATYPE:
		csc_reply(hr, http_status_for(e->code), "invalid_request", e->msg);
		break;
	case RA_E_UNAVAILABLE:
	case RA_E_TIMEOUT:
		csc_reply(hr, 503, "temporarily_unavailable", e->msg);
		break;
	default:
		csc_reply(hr, 500, "server_error", e->msg);
		break;
	}
}

void sg_csc_fail(struct sg_call *c, int status, const char *error, const char *fmt, ...)
{
	char msg[300];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	log_info("signing.refused", "rid", c->hr->rid, "actor", c->actor, "route", c->hr->route, "reason",
		 error, "message", msg, NULL);
	csc_reply(c->hr, status, error, msg);
	call_free(c);
}

void sg_csc_fail_err(struct sg_call *c, const struct ra_err *e)
{
	csc_reply_err(c->hr, e);
	call_free(c);
}

static void refuse(struct http_req *hr, int csc, const struct ra_err *e)
{
	if (csc)
		csc_reply_err(hr, e);
	else
		http_reply_error(hr, e);
}

static void authenticated(struct http_req *hr, const struct admin_user *who, const struct ra_err *err,
			  void *data)
{
	struct start s = *(struct start *)data;
	struct sg_call *c;
	struct ra_err e = {0};

	free(data);
	if (who == NULL) {
		refuse(hr, s.csc, err);
		return;
	}
	c = calloc(1, sizeof(*c));
	if (c == NULL) {
		ra_err_set(&e, RA_E_NOMEM, "", "out of memory");
		refuse(hr, s.csc, &e);
		return;
	}
	c->hr = hr;
	c->who = *who;
	c->csc = s.csc;
	snprintf(c->actor, sizeof(c->actor), "signing:%s", who->name);
	c->body = http_body_json(hr, &e);
	if (c->body == NULL) {
		refuse(hr, s.csc, &e);
		call_free(c);
		return;
	}
	s.fn(c);
}

void sg_start(struct http_req *hr, int csc, sg_handler fn)
{
	struct start *s = calloc(1, sizeof(*s));
	struct ra_err e;

	if (s == NULL) {
		ra_err_set(&e, RA_E_NOMEM, "", "out of memory");
		refuse(hr, csc, &e);
		return;
	}
	s->csc = csc;
	s->fn = fn;
	admin_authenticate(hr, SG_ROLE, authenticated, s);
}

int sg_only_members(const json_t *body, const char *const *allowed, struct ra_err *e)
{
	const char *k;
	json_t *v;

	json_object_foreach ((json_t *)body, k, v) {
		size_t i;
		for (i = 0; allowed[i] && strcmp(allowed[i], k) != 0; i++)
			;
		if (allowed[i] == NULL)
			return ra_err_set(e, RA_E_INVALID, k, "unknown member '%.64s'", k);
	}
	return 0;
}

const char *sg_plain(const json_t *body, const char *key, size_t max)
{
	const char *s = json_string_value(json_object_get(body, key));
	size_t n;

	if (s == NULL)
		return NULL;
	for (n = 0; s[n]; n++) {
		char ch = s[n];
		if (!((ch >= 'A' && ch <= 'Z') || (ch >= 'a' && ch <= 'z') || (ch >= '0' && ch <= '9') ||
		      ch == '.' || ch == '_' || ch == ':' || ch == '-'))
			return NULL;
	}
	return n > 0 && n <= max ? s : NULL;
}
