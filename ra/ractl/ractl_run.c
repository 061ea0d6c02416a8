/*
 * ractl_run.c - requests, answers, errors and confirmations; see ractl_run.h.
 */
#include "ra/ractl/ractl_run.h"

#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "ra/base/safetext.h"

/* ---- errors ---------------------------------------------------------------------------- */

static void put_error(struct ractl_ctx *x, int code, const char *kind, const char *msg, const char *field,
		      const char *rule, long status)
{
	char *m = safetext_escape(msg ? msg : "", msg ? strlen(msg) : 0);

	if (x->view.fmt == RACTL_FMT_JSON) {
		json_t *o =
			json_pack("{s:s, s:s, s:i}", "error", kind, "message", msg ? msg : "", "exit", code);
		if (field && *field)
			json_object_set_new(o, "field", json_string(field));
		if (rule)
			json_object_set_new(o, "rule", json_string(rule));
		if (status)
			json_object_set_new(o, "status", json_integer(status));
		ractl_print_json(x->err, o);
		json_decref(o);
	} else if (rule) {
		char *r = safetext_escape(rule, strlen(rule));
		const char *text = m;
		/* the server's message starts with the rule already ("R14: ...") */
		if (strncmp(text, r, strlen(r)) == 0 && strncmp(text + strlen(r), ": ", 2) == 0)
			text += strlen(r) + 2;
		fprintf(x->err, "ractl: refused by rule %s: %s\n", r, text);
		free(r);
	} else if (field && *field) {
		char *f = safetext_escape(field, strlen(field));
		fprintf(x->err, "ractl: %s [%s]\n", m, f);
		free(f);
	} else {
		fprintf(x->err, "ractl: %s\n", m);
	}
	free(m);
}

int ractl_error(struct ractl_ctx *x, int code, const char *kind, const char *msg)
{
	put_error(x, code, kind, msg, NULL, NULL, 0);
	return code;
}

int ractl_usage_error(struct ractl_ctx *x, const char *msg)
{
	return ractl_error(x, RACTL_USAGE, "usage", msg);
}

/* The server's error answer, or why it could not be reached. */
static int resp_error(struct ractl_ctx *x, const struct ractl_resp *r)
{
	const json_t *b = r->body;
	const char *msg = json_string_value(json_object_get(b, "message"));
	const char *kind = json_string_value(json_object_get(b, "error"));
	int code = ractl_exit_for(r);
	char text[1200];

	if (r->status == 0) {
		snprintf(text, sizeof(text), "server unreachable: %s", r->error);
		put_error(x, code, "unreachable", text, NULL, NULL, 0);
		return code;
	}
	snprintf(text, sizeof(text), "%s (HTTP %ld)", msg ? msg : (r->raw && *r->raw ? r->raw : "no answer"),
		 r->status);
	put_error(x, code, kind ? kind : "http", x->view.fmt == RACTL_FMT_JSON && msg ? msg : text,
		  json_string_value(json_object_get(b, "field")),
		  json_string_value(json_object_get(b, "rule")), r->status);
	return code;
}

/* ---- building the request -------------------------------------------------------------- */

static char *path_of(const struct ractl_cmd *c, const struct ractl_args *a, const char *query)
{
	char *out = NULL;
	size_t n = 0;
	FILE *f = open_memstream(&out, &n);

	if (f == NULL)
		abort();
	for (const char *p = c->path; *p; p++) {
		if (p[0] == '{' && p[1] >= '1' && p[1] <= '9' && p[2] == '}') {
			int i = p[1] - '1';
			char *e = i < a->npos ? ractl_escape(a->pos[i]) : NULL;
			fputs(e ? e : "", f);
			free(e);
			p += 2;
			continue;
		}
		fputc(*p, f);
	}
	if (query && *query)
		fprintf(f, "?%s", query);
	fclose(f);
	return out;
}

/* The member an option fills: its key, or its name with '-' as '_'. */
static void key_of(const struct ractl_opt *o, char *buf, size_t cap)
{
	snprintf(buf, cap, "%s", o->key ? o->key : o->name);
	for (char *k = buf; *k; k++)
		if (*k == '-')
			*k = '_';
}

/* key "state=dead": a flag that sends a fixed value */
static void split_fixed(char *key, const char **fixed)
{
	char *eq = strchr(key, '=');

	*fixed = NULL;
	if (eq) {
		*eq = '\0';
		*fixed = eq + 1;
	}
}

/* GET: options and keyed arguments as the query string. */
static char *query_of(const struct ractl_cmd *c, const struct ractl_args *a, const char *extra)
{
	char *out = NULL;
	size_t n = 0;
	FILE *f = open_memstream(&out, &n);
	int first = 1;

	if (f == NULL)
		abort();
	for (int i = 0; i < a->nv; i++) {
		const struct ractl_opt *o = a->v[i].opt;
		char key[64], *e;
		const char *fixed;
		if (o->flags & RACTL_OPT_LOCAL)
			continue;
		key_of(o, key, sizeof(key));
		split_fixed(key, &fixed);
		e = ractl_escape(fixed ? fixed : a->v[i].val);
		fprintf(f, "%s%s=%s", first ? "" : "&", key, e ? e : "");
		first = 0;
		free(e);
	}
	for (int p = 0; p < c->npos && p < a->npos; p++) {
		char *e;
		if (c->pos[p].key == NULL)
			continue;
		e = ractl_escape(a->pos[p]);
		fprintf(f, "%s%s=%s", first ? "" : "&", c->pos[p].key, e ? e : "");
		first = 0;
		free(e);
	}
	if (extra && *extra)
		fprintf(f, "%s%s", first ? "" : "&", extra);
	fclose(f);
	return out;
}

/* POST: flags true, numbers as numbers, the rest as strings; keyed arguments too. */
static json_t *body_of(const struct ractl_cmd *c, const struct ractl_args *a, int dry_run)
{
	json_t *b = json_object();

	for (int i = 0; i < a->nv; i++) {
		const struct ractl_opt *o = a->v[i].opt;
		char key[64];
		const char *fixed;
		if (o->flags & RACTL_OPT_LOCAL)
			continue;
		key_of(o, key, sizeof(key));
		split_fixed(key, &fixed);
		if (strcmp(key, "dry_run") == 0)
			continue;
		if (fixed)
			json_object_set_new(b, key, json_string(fixed));
		else if (o->metavar == NULL)
			json_object_set_new(b, key, json_true());
		else if (o->flags & RACTL_OPT_INT)
			json_object_set_new(b, key, json_integer(strtoll(a->v[i].val, NULL, 10)));
		else
			json_object_set_new(b, key, json_string(a->v[i].val));
	}
	for (int p = 0; p < c->npos && p < a->npos; p++)
		if (c->pos[p].key)
			json_object_set_new(b, c->pos[p].key, json_string(a->pos[p]));
	if (dry_run)
		json_object_set_new(b, "dry_run", json_true());
	return b;
}

/* One request (body, may be NULL, is stolen); the answer in *answer (caller decrefs) or the
 * error printed.  Exit status. */
static int call(struct ractl_ctx *x, const char *method, const char *path, json_t *body, json_t **answer)
{
	struct ractl_resp r;
	int code;

	ractl_call(&x->conf, method, path, body, &r);
	json_decref(body);
	code = ractl_exit_for(&r);
	if (code != RACTL_OK)
		code = resp_error(x, &r);
	else
		*answer = json_incref(r.body ? r.body : json_null());
	ractl_resp_free(&r);
	return code;
}

/* A list answer names its next page: say so where a person reads it, and how to get it. */
static void more_hint(struct ractl_ctx *x, const struct ractl_cmd *c, const json_t *j)
{
	const char *next = json_string_value(json_object_get(j, "next"));

	if (next == NULL || x->view.fmt == RACTL_FMT_JSON || x->view.fmt == RACTL_FMT_YAML)
		return;
	char *e = safetext_escape(next, strlen(next));
	fprintf(x->err, "ractl: more exist than shown (%s %s): add --after %s\n", c->group, c->name, e);
	free(e);
}

/* ---- confirmation ---------------------------------------------------------------------- */

/* 1 when line is the answer member named by one of the alternatives in want ("a|b"). */
static int typed_back(const json_t *answer, const char *want, const char *line)
{
	char key[64];

	for (const char *p = want; *p;) {
		size_t len = strcspn(p, "|");
		snprintf(key, sizeof(key), "%.*s", (int)len, p);
		const char *v = json_string_value(json_object_get(answer, key));
		if (v && *v && strcasecmp(v, line) == 0)
			return 1;
		p += len;
		if (*p == '|')
			p++;
	}
	return 0;
}

/* Cannot be undone: the server checks and rolls back first (so a refusal comes before the
 * question), then the person types the serial/id/number back.  Without a terminal only
 * --yes lets it through.  0 to go ahead, else the exit status. */
static int confirm(const struct ractl_cmd *c, struct ractl_ctx *x, const char *path)
{
	json_t *would = NULL;
	char line[256], words[80], want[128];
	int rc;

	snprintf(words, sizeof(words), "%s %s", c->group, c->name);
	if (!x->stdin_tty) {
		snprintf(line, sizeof(line),
			 "%s cannot be undone and stdin is not a terminal: add --yes to do it, or "
			 "--dry-run to see what it would change; nothing was sent",
			 words);
		return ractl_error(x, RACTL_CANCELLED, "cancelled", line);
	}
	rc = call(x, c->method, path, body_of(c, &x->a, 1), &would);
	if (rc != RACTL_OK)
		return rc;
	fputs("The server accepted this; nothing is done yet.  It would change:\n", x->err);
	ractl_print(x->err, &(struct ractl_view){RACTL_FMT_TABLE, 0, x->view.width}, NULL, would);
	snprintf(want, sizeof(want), "%s", c->confirm);
	for (char *p = want; *p; p++)
		if (*p == '|')
			*p = '/';
	fprintf(x->err, "This cannot be undone.  Type the %s to confirm: ", want);
	fflush(x->err);
	if (fgets(line, sizeof(line), stdin) == NULL)
		line[0] = '\0';
	line[strcspn(line, "\r\n")] = '\0';
	rc = typed_back(would, c->confirm, line) ? 0 : RACTL_CANCELLED;
	json_decref(would);
	if (rc != 0)
		return ractl_error(x, RACTL_CANCELLED, "cancelled", "not confirmed: nothing changed");
	return 0;
}

/* ---- the generic command --------------------------------------------------------------- */

int ractl_run_request(const struct ractl_cmd *c, struct ractl_ctx *x)
{
	int post = strcmp(c->method, "POST") == 0;
	int dry = ractl_arg(&x->a, "dry-run") != NULL;
	char *query = post ? NULL : query_of(c, &x->a, NULL);
	char *path = path_of(c, &x->a, query);
	json_t *answer = NULL;
	int rc = 0;

	if (post && (c->flags & RACTL_CMD_CONFIRM) && !dry && !ractl_arg(&x->a, "yes"))
		rc = confirm(c, x, path);
	if (rc == 0)
		rc = call(x, c->method, path, post ? body_of(c, &x->a, dry) : NULL, &answer);
	if (rc == RACTL_OK) {
		ractl_print(x->out, &x->view, c->resource, answer);
		more_hint(x, c, answer);
	}
	json_decref(answer);
	free(path);
	free(query);
	return rc;
}

/* ---- commands with their own logic ----------------------------------------------------- */

int ractl_run_cert_show(const struct ractl_cmd *c, struct ractl_ctx *x)
{
	int pem = ractl_arg(&x->a, "pem") != NULL;
	char *path = path_of(c, &x->a, pem ? "pem=1" : NULL);
	json_t *answer = NULL;
	int rc = call(x, "GET", path, NULL, &answer);

	free(path);
	if (rc != RACTL_OK)
		return rc;
	if (!pem || x->view.fmt == RACTL_FMT_JSON || x->view.fmt == RACTL_FMT_YAML) {
		ractl_print(x->out, &x->view, c->resource, answer);
	} else {
		/* --pem alone: the certificate itself, ready for openssl */
		const char *p = json_string_value(json_object_get(answer, "pem"));
		if (p == NULL) {
			rc = ractl_error(x, RACTL_NOTFOUND, "not_found",
					 "the certificate is not issued yet (no PEM)");
		} else {
			char *e = safetext_escape(p, strlen(p));
			/* a PEM is base64 lines: print it as lines, anything else escaped */
			for (char *s = e, *nl; s && *s; s = nl ? nl + 2 : NULL) {
				nl = strstr(s, "\\n");
				fprintf(x->out, "%.*s\n", nl ? (int)(nl - s) : (int)strlen(s), s);
			}
			free(e);
		}
	}
	json_decref(answer);
	return rc;
}

/* The chain is whole: exit 0; broken: the first bad record is named and the exit is 1. */
int ractl_run_audit_verify(const struct ractl_cmd *c, struct ractl_ctx *x)
{
	json_t *answer = NULL;
	int rc = call(x, "GET", c->path, NULL, &answer);

	if (rc != RACTL_OK)
		return rc;
	ractl_print(x->out, &x->view, c->resource, answer);
	if (!json_is_true(json_object_get(answer, "whole"))) {
		char msg[128];
		snprintf(msg, sizeof(msg), "R16: the audit chain is broken at record %lld",
			 (long long)json_integer_value(json_object_get(answer, "bad_seq")));
		rc = ractl_error(x, RACTL_REFUSED, "broken", msg);
	}
	json_decref(answer);
	return rc;
}

/* ---- bulk revocation (cert revoke --contract|--org|--user) -------------------------------- */

static const char *const bulk_scopes[][2] = {
	{"contract", "contract"}, {"org", "organisation"}, {"user", "user"}};

/* Polls the bulk revocation until no job is left queued, a progress line on stderr at each
 * change.  Exit 0 when every job is done, 1 when some died (ractl jobs list --dead). */
static int bulk_follow(struct ractl_ctx *x, const char *id)
{
	char path[128], last[160] = "";
	json_t *j = NULL;
	int rc;

	snprintf(path, sizeof(path), "/v1/admin/bulk-revocations/%s", id);
	for (;;) {
		char line[160];
		json_decref(j);
		j = NULL;
		rc = call(x, "GET", path, NULL, &j);
		if (rc != RACTL_OK)
			return rc;
		snprintf(line, sizeof(line),
			 "bulk revocation %s: %lld of %lld revoked, %lld on the CRL, %lld waiting, %lld dead",
			 id, (long long)json_integer_value(json_object_get(j, "revoked")),
			 (long long)json_integer_value(json_object_get(j, "total")),
			 (long long)json_integer_value(json_object_get(j, "on_crl")),
			 (long long)json_integer_value(json_object_get(j, "queued")),
			 (long long)json_integer_value(json_object_get(j, "dead")));
		if (strcmp(line, last) != 0) {
			fprintf(x->err, "ractl: %s\n", line);
			fflush(x->err);
			snprintf(last, sizeof(last), "%s", line);
		}
		if (json_is_true(json_object_get(j, "finished")))
			break;
		nanosleep(&(struct timespec){0, 500 * 1000 * 1000}, NULL);
	}
	ractl_print(x->out, &x->view, NULL, j);
	rc = json_integer_value(json_object_get(j, "dead")) > 0 ? RACTL_REFUSED : RACTL_OK;
	if (rc != RACTL_OK)
		ractl_error(x, rc, "dead", "some revocations failed for good: see ractl jobs list --dead");
	json_decref(j);
	return rc;
}

static json_t *bulk_body(struct ractl_ctx *x, const char *scope, const char *value, int dry)
{
	json_t *b = json_pack("{s:s, s:s, s:s, s:s}", "scope", scope, "value", value, "reason",
			      ractl_arg(&x->a, "reason"), "comment", ractl_arg(&x->a, "comment"));
	if (dry)
		json_object_set_new(b, "dry_run", json_true());
	return b;
}

static int bulk_revoke(struct ractl_ctx *x, const char *scope, const char *value)
{
	json_t *would = NULL, *done = NULL;
	char line[64], want[24];
	long long n;
	int rc;

	/* the count first: the server checks every certificate (R14, R19) and rolls back */
	rc = call(x, "POST", "/v1/admin/bulk-revocations", bulk_body(x, scope, value, 1), &would);
	if (rc != RACTL_OK)
		return rc;
	n = (long long)json_integer_value(json_object_get(would, "total"));
	if (ractl_arg(&x->a, "dry-run")) {
		fprintf(x->err, "ractl: dry run: would revoke %lld certificate%s of %s %s; nothing changed\n",
			n, n == 1 ? "" : "s", scope, value);
		ractl_print(x->out, &x->view, "cert", would);
		json_decref(would);
		return RACTL_OK;
	}
	json_decref(would);
	fprintf(x->err, "This revokes %lld certificate%s of %s %s (reason %s); it cannot be undone.\n", n,
		n == 1 ? "" : "s", scope, value, ractl_arg(&x->a, "reason"));
	if (!ractl_arg(&x->a, "yes")) {
		if (!x->stdin_tty)
			return ractl_error(
				x, RACTL_CANCELLED, "cancelled",
				"cert revoke cannot be undone and stdin is not a terminal: add --yes to do it, "
				"or --dry-run to see what it would change; nothing was sent");
		fprintf(x->err, "Type the number of certificates (%lld) to confirm: ", n);
		fflush(x->err);
		if (fgets(line, sizeof(line), stdin) == NULL)
			line[0] = '\0';
		line[strcspn(line, "\r\n")] = '\0';
		snprintf(want, sizeof(want), "%lld", n);
		if (strcmp(line, want) != 0)
			return ractl_error(x, RACTL_CANCELLED, "cancelled", "not confirmed: nothing changed");
	}
	rc = call(x, "POST", "/v1/admin/bulk-revocations", bulk_body(x, scope, value, 0), &done);
	if (rc != RACTL_OK)
		return rc;
	if (ractl_arg(&x->a, "no-wait")) {
		ractl_print(x->out, &x->view, NULL, done);
	} else {
		char id[32];
		snprintf(id, sizeof(id), "%s", json_string_value(json_object_get(done, "id")));
		rc = bulk_follow(x, id);
	}
	json_decref(done);
	return rc;
}

int ractl_run_cert_revoke(const struct ractl_cmd *c, struct ractl_ctx *x)
{
	const char *scope = NULL, *value = NULL;
	int given = 0;

	for (size_t i = 0; i < sizeof(bulk_scopes) / sizeof(bulk_scopes[0]); i++) {
		const char *v = ractl_arg(&x->a, bulk_scopes[i][0]);
		if (v) {
			scope = bulk_scopes[i][1];
			value = v;
			given++;
		}
	}
	if (x->a.npos == 1 && given == 0)
		return ractl_run_request(c, x);
	if (x->a.npos != 0 || given != 1)
		return ractl_usage_error(
			x,
			"cert revoke takes one certificate (ID|SERIAL) or one of --contract, --org, --user");
	return bulk_revoke(x, scope, value);
}

int ractl_run_bulk_watch(const struct ractl_cmd *c, struct ractl_ctx *x)
{
	(void)c;
	return bulk_follow(x, x->a.pos[0]);
}
