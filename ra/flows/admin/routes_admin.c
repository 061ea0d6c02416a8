/*
 * routes_admin.c - the admin API's router (support desk, issue #7): one prefix route per
 * method under /v1/admin/, a table of path templates with their role, authentication,
 * the required reason of every change, and replies that name the refusing rule.  The
 * operations live in routes_admin_cert.c, routes_admin_user.c and routes_admin_misc.c.
 */
#include "ra/flows/admin/routes_admin.h"

#include <openssl/rand.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#include "ra/base/log.h"
#include "ra/base/safetext.h"
#include "ra/flows/admin/audit_watch.h"
#include "ra/flows/admin/phone_jobs.h"
#include "ra/flows/admin/routes_admin_int.h"
#include "ra/jobs/jobs.h"

#define ADM_PREFIX "/v1/admin/"
#define ADM_REASON_MAX 500

static void whoami(struct adm_req *ar)
{
	json_t *o = json_pack("{s:s, s:s}", "name", ar->who.name, "role", ar->who.role);

	json_object_set_new(o, "user_id", ar->who.user_id[0] ? json_string(ar->who.user_id) : json_null());
	adm_reply(ar, 200, o);
}

static const struct adm_route routes_self[] = {
	{"GET", "/v1/admin/whoami", "support", "admin_whoami", whoami},
	{NULL, NULL, NULL, NULL, NULL},
};

static const struct adm_route *const tables[] = {routes_self,     adm_routes_cert, adm_routes_user,
						 adm_routes_misc, adm_routes_desk, adm_routes_bulk,
						 adm_routes_phone};

/* ---- replies --------------------------------------------------------------------------- */

static void adm_free(struct adm_req *ar)
{
	ob_clear(&ar->ob); /* what a refused or failed plan did not run */
	for (int k = 0; k < ar->load.n; k++)
		free(ar->load.p[k]);
	json_decref(ar->body);
	json_decref(ar->reply);
	free(ar);
}

void adm_reply(struct adm_req *ar, int status, json_t *reply)
{
	http_reply_json(ar->hr, status, reply);
	adm_free(ar);
}

/* {"error", "message", "field"} as everywhere, plus "rule" when a domain rule refused. */
void adm_fail(struct adm_req *ar, const struct ra_err *e)
{
	int is_rule = e->field[0] == 'R' && e->field[1] >= '0' && e->field[1] <= '9';
	json_t *o;

	if (!is_rule) {
		http_reply_error(ar->hr, e);
		adm_free(ar);
		return;
	}
	o = json_pack("{s:s, s:s, s:s, s:s}", "error", ra_errname(e->code), "message", e->msg, "field", "",
		      "rule", e->field);
	log_info("admin.refused", "rid", ar->hr->rid, "actor", ar->actor, "route", ar->hr->route, "rule",
		 e->field, "message", e->msg, NULL);
	http_reply_json(ar->hr, http_status_for(e->code), o);
	adm_free(ar);
}

int adm_refuse(struct ra_err *e, int code, const char *rule, const char *fmt, ...)
{
	char msg[sizeof(e->msg)];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	return ra_err_set(e, code, rule, "%s: %s", rule, msg);
}

int adm_not_self(const struct adm_req *ar, const char *user_id, struct ra_err *e)
{
	if (ar->who.user_id[0] && user_id && strcmp(ar->who.user_id, user_id) == 0)
		return adm_refuse(e, RA_E_RULE, "R19",
				  "support user '%s' may not act on their own account %s", ar->who.name,
				  user_id);
	return 0;
}

/* ---- request helpers ------------------------------------------------------------------- */

static int hexval(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

/* Percent-decodes n bytes of in ('+' as space when form) into out; -1 if it does not fit. */
static int pct_decode(const char *in, size_t n, char *out, size_t cap, int form)
{
	size_t o = 0;

	for (size_t i = 0; i < n; i++) {
		char c = in[i];
		if (c == '%' && i + 2 < n && hexval(in[i + 1]) >= 0 && hexval(in[i + 2]) >= 0) {
			c = (char)(hexval(in[i + 1]) * 16 + hexval(in[i + 2]));
			i += 2;
		} else if (c == '+' && form) {
			c = ' ';
		}
		if (o + 1 >= cap || c == '\0')
			return -1;
		out[o++] = c;
	}
	out[o] = '\0';
	return 0;
}

const char *adm_query(struct adm_req *ar, const char *key, char *buf, size_t cap)
{
	h2o_req_t *req = ar->hr->req;
	const char *q, *end;
	size_t klen = strlen(key);

	if (req == NULL || req->query_at == SIZE_MAX)
		return NULL;
	q = req->path.base + req->query_at + 1;
	end = req->path.base + req->path.len;
	while (q < end) {
		const char *amp = memchr(q, '&', (size_t)(end - q));
		const char *stop = amp ? amp : end;
		if ((size_t)(stop - q) > klen && memcmp(q, key, klen) == 0 && q[klen] == '=') {
			if (pct_decode(q + klen + 1, (size_t)(stop - q - (ptrdiff_t)klen - 1), buf, cap, 1) !=
			    0)
				return NULL;
			return buf;
		}
		q = stop + 1;
	}
	return NULL;
}

int adm_page(struct adm_req *ar, char *limit, size_t lcap, char *after, size_t acap, const char **after_out,
	     struct ra_err *e)
{
	char buf[32];
	const char *l = adm_query(ar, "limit", buf, sizeof(buf));
	long n = ADM_LIMIT_DEFAULT;

	if (l != NULL) {
		char *end;
		n = strtol(l, &end, 10);
		if (*l == '\0' || *end != '\0' || n < 1 || n > ADM_LIMIT_MAX)
			return ra_err_set(e, RA_E_RULE, "limit", "limit must be a number from 1 to %d",
					  ADM_LIMIT_MAX);
	}
	snprintf(limit, lcap, "%ld", n);
	*after_out = adm_query(ar, "after", after, acap);
	if (*after_out != NULL && (**after_out == '\0' || strlen(*after_out) >= acap - 1))
		return ra_err_set(e, RA_E_RULE, "after",
				  "after must be the \"next\" value of the previous page");
	return 0;
}

int adm_cursor_id(const char *after, struct ra_err *e)
{
	if (after && (strspn(after, "0123456789") != strlen(after) || strlen(after) > 18))
		return ra_err_set(e, RA_E_RULE, "after",
				  "after must be the \"next\" value of the previous page");
	return 0;
}

static int in_choices(const char *choices, const char *v)
{
	size_t n = strlen(v);

	for (const char *p = choices; *p;) {
		size_t len = strcspn(p, "|");
		if (len == n && strncmp(p, v, n) == 0)
			return 1;
		p += len;
		if (*p == '|')
			p++;
	}
	return 0;
}

const char *adm_choice(struct adm_req *ar, const char *key, const char *choices, char *buf, size_t cap,
		       struct ra_err *e, int *bad)
{
	const char *v = adm_query(ar, key, buf, cap);

	if (v != NULL && !in_choices(choices, v)) {
		ra_err_set(e, RA_E_RULE, key, "%s must be one of %s", key, choices);
		*bad = 1;
	}
	return v;
}

const char *adm_str(const struct adm_req *ar, const char *key)
{
	const char *s = json_string_value(json_object_get(ar->body, key));
	return s && *s ? s : NULL;
}

int adm_bool(const struct adm_req *ar, const char *key)
{
	return json_is_true(json_object_get(ar->body, key));
}

void adm_new_cert_id(char *out, size_t cap)
{
	unsigned char r[16];
	char hex[33];

	if (RAND_bytes(r, sizeof(r)) != 1)
		abort(); /* no randomness: nothing safe to do */
	for (size_t i = 0; i < sizeof(r); i++)
		snprintf(hex + 2 * i, 3, "%02x", r[i]);
	snprintf(out, cap, "crt-%s", hex);
}

/* ---- routing --------------------------------------------------------------------------- */

/* Matches path against a template; the {id} segment (decoded) goes to id. */
static int match(const char *tpl, const char *path, char *id, size_t cap)
{
	while (*tpl && *path) {
		if (strncmp(tpl, "{id}", 4) == 0) {
			size_t n = strcspn(path, "/");
			if (n == 0 || pct_decode(path, n, id, cap, 0) != 0)
				return 0;
			tpl += 4;
			path += n;
			continue;
		}
		if (*tpl != *path)
			return 0;
		tpl++;
		path++;
	}
	return *tpl == '\0' && *path == '\0';
}

/* Issue #20: every text an operator sends (reason, comment, organisation, function, ...) ends
 * up in the audit trail and on other operators' terminals: printable text only, 422 naming
 * the field otherwise, before anything is read or changed. */
static int check_text(json_t *body, struct ra_err *e)
{
	const char *k;
	json_t *v;
	char why[96];

	json_object_foreach (body, k, v) {
		if (json_is_string(v) && safetext_check_field(json_string_value(v), why, sizeof(why)) != 0)
			return ra_err_set(e, RA_E_RULE, k, "%.60s holds %s: text must be printable", k, why);
	}
	return 0;
}

/* Nothing is allocated before the token is checked: a refused caller costs no request state. */
static void authorized(struct http_req *hr, const struct admin_user *who, void *data)
{
	const struct adm_route *r = hr->route_data;
	struct adm_req *ar = calloc(1, sizeof(*ar));
	struct ra_err e = {0};

	(void)data;
	if (ar == NULL) {
		http_reply_errorf(hr, RA_E_NOMEM, "", "out of memory");
		return;
	}
	ar->hr = hr;
	match(r->path, hr->path, ar->id, sizeof(ar->id));
	ar->who = *who;
	snprintf(ar->actor, sizeof(ar->actor), "support:%s", who->name);
	if (strcmp(r->method, "POST") == 0) {
		ar->body = http_body_json(hr, &e);
		if (ar->body == NULL)
			goto fail;
		if (json_object_get(ar->body, "dry_run") &&
		    !json_is_boolean(json_object_get(ar->body, "dry_run"))) {
			ra_err_set(&e, RA_E_INVALID, "dry_run", "dry_run must be true or false");
			goto fail;
		}
		if (check_text(ar->body, &e) != 0)
			goto fail;
		ar->dry_run = adm_bool(ar, "dry_run");
		ar->reason = adm_str(ar, "reason");
		if (ar->reason == NULL || strlen(ar->reason) > ADM_REASON_MAX) {
			/* R16: the audit says who and why; a change without a reason is not taken */
			ra_err_set(&e, RA_E_INVALID, "reason",
				   "a reason (1 to %d characters) is required for every change",
				   ADM_REASON_MAX);
			goto fail;
		}
	}
	r->fn(ar);
	return;
fail:
	adm_fail(ar, &e);
}

static void dispatch(struct http_req *hr)
{
	const char *method = hr->route_data; /* the prefix route's method */
	char id[160] = "", allow[32] = "";

	for (size_t t = 0; t < sizeof(tables) / sizeof(tables[0]); t++)
		for (const struct adm_route *r = tables[t]; r->method; r++) {
			if (!match(r->path, hr->path, id, sizeof(id)))
				continue;
			if (strstr(allow, r->method) == NULL) /* for Allow: the methods this path has */
				snprintf(allow + strlen(allow), sizeof(allow) - strlen(allow), "%s%s",
					 allow[0] ? ", " : "", r->method);
			if (strcmp(r->method, method) == 0) {
				hr->route = r->name;
				hr->route_data = (void *)r;
				admin_authorize(hr, r->role, authorized, NULL);
				return;
			}
		}
	if (allow[0])
		http_reply_method_not_allowed(hr, allow);
	else
		http_reply_errorf(hr, RA_E_NOTFOUND, "", "no such endpoint");
}

int routes_admin_init(struct app *app, struct ra_err *err)
{
	static const char *const methods[] = {"GET", "POST"};

	/* the phone change's identification calls the provider: its lane (docs/jobs.md) */
	jobs_lane(app->jobs, PHONE_JOB_IDENT, JOBS_LANE_IDENT);
	jobs_lane(app->jobs, PHONE_JOB_IDENT_RESULT, JOBS_LANE_IDENT);
	/* before the prefix route, which would shadow /v1/admin/identifications/ */
	adm_ident_routes(app);
	for (size_t i = 0; i < sizeof(methods) / sizeof(methods[0]); i++)
		http_route(app->http, methods[i], ADM_PREFIX, 1, "admin", dispatch, (void *)methods[i]);
	/* the same start-up route list as http_route's, for the templates behind the prefix */
	for (size_t t = 0; t < sizeof(tables) / sizeof(tables[0]); t++)
		for (const struct adm_route *r = tables[t]; r->method; r++)
			log_info("http.route", "method", r->method, "path", r->path, "prefix", "0", "name",
				 r->name, "role", r->role, NULL);
	return audit_watch_start(app, err);
}
