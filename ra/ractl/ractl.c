/*
 * ractl.c - the support desk's command-line tool (issue #7; docs/ractl.md).  It only talks
 * to the admin API of `ra serve` (RACTL_URL, RACTL_TOKEN or ~/.config/ractl/config); it never
 * touches the database, so everything it does is authenticated, checked by the server's
 * rules and audited there with the support user's name and the --reason given.
 *
 * Each command is one row of `cmds`: its words, how many positional arguments, the options it
 * takes, and the request it makes.  --json prints the server's answer as JSON; otherwise a
 * readable table.  Exit codes: ractl_http.h.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <curl/curl.h>

#include "ra/ractl/ractl_http.h"
#include "ra/ractl/ractl_out.h"

#define MAX_OPTS 12

struct args {
	const char *pos[4];
	int npos;
	const char *opt_name[MAX_OPTS];
	const char *opt_val[MAX_OPTS]; /* "1" for flags */
	int nopt;
	int json;
};

struct cmd;
typedef int (*cmd_fn)(const struct cmd *cmd, const struct args *a, const struct rctl_conf *conf);

struct cmd {
	const char *group, *name;
	int npos;
	/* options: "name=" takes a value, "name=!" is required, "name" is a flag */
	const char *opts;
	const char *method;
	const char *path; /* "%s" is the first positional argument, escaped */
	cmd_fn fn;        /* NULL: the generic request */
	const char *help;
};

static const char *opt(const struct args *a, const char *name)
{
	for (int i = 0; i < a->nopt; i++)
		if (strcmp(a->opt_name[i], name) == 0)
			return a->opt_val[i];
	return NULL;
}

/* Which kind the option spec gives name: 0 unknown, 1 flag, 2 value, 3 required value. */
static int opt_kind(const char *spec, const char *name)
{
	size_t n = strlen(name);
	const char *p = spec;

	while (p && *p) {
		size_t len = strcspn(p, " ");
		if (len >= n && strncmp(p, name, n) == 0 && (len == n || p[n] == '=')) {
			if (len == n)
				return 1;
			return len > n + 1 && p[n + 1] == '!' ? 3 : 2;
		}
		p += len;
		while (*p == ' ')
			p++;
	}
	return 0;
}

static void usage_of(const struct cmd *c, FILE *f);

static int parse(const struct cmd *c, int argc, char **argv, struct args *a)
{
	for (int i = 0; i < argc; i++) {
		const char *s = argv[i];
		int kind;
		if (strcmp(s, "--json") == 0) {
			a->json = 1;
			continue;
		}
		if (strncmp(s, "--", 2) != 0) {
			if (a->npos == 4)
				goto bad;
			a->pos[a->npos++] = s;
			continue;
		}
		kind = opt_kind(c->opts, s + 2);
		if (kind == 0 || a->nopt == MAX_OPTS) {
			fprintf(stderr, "ractl %s %s: unknown option %s\n", c->group, c->name, s);
			goto bad;
		}
		a->opt_name[a->nopt] = s + 2;
		if (kind == 1) {
			a->opt_val[a->nopt++] = "1";
		} else {
			if (i + 1 >= argc) {
				fprintf(stderr, "ractl %s %s: %s needs a value\n", c->group, c->name, s);
				goto bad;
			}
			a->opt_val[a->nopt++] = argv[++i];
		}
	}
	if (a->npos != c->npos)
		goto bad;
	/* required options */
	for (const char *p = c->opts; p && *p;) {
		size_t len = strcspn(p, " ");
		if (len > 2 && p[len - 1] == '!' && p[len - 2] == '=') {
			char name[64];
			snprintf(name, sizeof(name), "%.*s", (int)(len - 2), p);
			if (opt(a, name) == NULL) {
				fprintf(stderr, "ractl %s %s: --%s is required\n", c->group, c->name, name);
				goto bad;
			}
		}
		p += len;
		while (*p == ' ')
			p++;
	}
	return 0;
bad:
	usage_of(c, stderr);
	return RCTL_USAGE;
}

/* ---- requests and answers ------------------------------------------------------------- */

static int show_error(const struct rctl_resp *r, int json)
{
	const char *msg = json_string_value(json_object_get(r->body, "message"));
	const char *rule = json_string_value(json_object_get(r->body, "rule"));
	const char *field = json_string_value(json_object_get(r->body, "field"));
	int code = rctl_exit_for(r);

	if (json && r->body)
		rctl_print_json(stdout, r->body);
	if (r->status == 0)
		fprintf(stderr, "ractl: server unreachable: %s\n", r->error);
	else if (rule)
		fprintf(stderr, "ractl: refused by rule %s: %s\n", rule, msg ? msg : "");
	else
		fprintf(stderr, "ractl: %s%s%s%s (HTTP %ld)\n", msg ? msg : (r->raw ? r->raw : ""),
			field && *field ? " [" : "", field && *field ? field : "", field && *field ? "]" : "", r->status);
	return code;
}

static int request(const struct rctl_conf *conf, const char *method, const char *path, json_t *body, int json,
		   json_t **keep)
{
	struct rctl_resp r;
	int code;

	rctl_call(conf, method, path, body, &r);
	json_decref(body);
	code = rctl_exit_for(&r);
	if (code != RCTL_OK) {
		code = show_error(&r, json);
	} else if (keep) {
		*keep = json_incref(r.body);
	} else if (json) {
		rctl_print_json(stdout, r.body);
	} else {
		rctl_print_human(stdout, r.body);
	}
	rctl_resp_free(&r);
	return code;
}

/* The path with "%s" replaced by the first positional argument (escaped), and a query string. */
static char *make_path(const struct cmd *c, const struct args *a, const char *query)
{
	char *esc = a->npos ? rctl_escape(a->pos[0]) : NULL;
	const char *hole = strstr(c->path, "%s");
	char *p = NULL;
	int n;

	if (hole)
		n = asprintf(&p, "%.*s%s%s%s%s", (int)(hole - c->path), c->path, esc ? esc : "", hole + 2,
			     query && *query ? "?" : "", query ? query : "");
	else
		n = asprintf(&p, "%s%s%s", c->path, query && *query ? "?" : "", query ? query : "");
	free(esc);
	return n < 0 ? NULL : p;
}

/* Every option becomes a body member: flags true, --quota a number, dashes to underscores. */
static json_t *body_of(const struct cmd *c, const struct args *a)
{
	json_t *b = json_object();

	for (int i = 0; i < a->nopt; i++) {
		char key[64];
		snprintf(key, sizeof(key), "%s", a->opt_name[i]);
		for (char *k = key; *k; k++)
			if (*k == '-')
				*k = '_';
		if (strcmp(key, "org_id") == 0)
			snprintf(key, sizeof(key), "organisation_id");
		if (opt_kind(c->opts, a->opt_name[i]) == 1)
			json_object_set_new(b, key, json_true());
		else if (strcmp(key, "quota") == 0)
			json_object_set_new(b, key, json_integer(strtoll(a->opt_val[i], NULL, 10)));
		else
			json_object_set_new(b, key, json_string(a->opt_val[i]));
	}
	return b;
}

static int generic(const struct cmd *c, const struct args *a, const struct rctl_conf *conf)
{
	char *path = make_path(c, a, NULL);
	int rc;

	if (path == NULL)
		return RCTL_SERVER;
	rc = request(conf, c->method, path, strcmp(c->method, "POST") == 0 ? body_of(c, a) : NULL, a->json, NULL);
	free(path);
	return rc;
}

/* GET with options as the query string. */
static int query_get(const struct cmd *c, const struct args *a, const struct rctl_conf *conf, const char *key,
		     const char *val)
{
	char q[600] = "";
	char *path, *esc = val ? rctl_escape(val) : NULL;
	int rc;

	if (key && esc)
		snprintf(q, sizeof(q), "%s=%s", key, esc);
	free(esc);
	path = make_path(c, a, q);
	rc = path ? request(conf, "GET", path, NULL, a->json, NULL) : RCTL_SERVER;
	free(path);
	return rc;
}

static int cert_show(const struct cmd *c, const struct args *a, const struct rctl_conf *conf)
{
	json_t *j = NULL;
	char *path;
	int rc;

	if (!opt(a, "pem") || a->json)
		return query_get(c, a, conf, opt(a, "pem") ? "pem" : NULL, "1");
	/* --pem alone: the certificate itself, ready for openssl */
	path = make_path(c, a, "pem=1");
	rc = path ? request(conf, "GET", path, NULL, 0, &j) : RCTL_SERVER;
	free(path);
	if (rc == RCTL_OK) {
		const char *pem = json_string_value(json_object_get(j, "pem"));
		if (pem == NULL) {
			fputs("ractl: the certificate is not issued yet (no PEM)\n", stderr);
			rc = RCTL_NOTFOUND;
		} else {
			fputs(pem, stdout);
		}
	}
	json_decref(j);
	return rc;
}

static int cert_list(const struct cmd *c, const struct args *a, const struct rctl_conf *conf)
{
	return query_get(c, a, conf, "user", opt(a, "user"));
}

static int contract_list(const struct cmd *c, const struct args *a, const struct rctl_conf *conf)
{
	return query_get(c, a, conf, "status", opt(a, "status"));
}

static int jobs_list(const struct cmd *c, const struct args *a, const struct rctl_conf *conf)
{
	return query_get(c, a, conf, opt(a, "dead") ? "state" : opt(a, "state") ? "state" : NULL,
			 opt(a, "dead") ? "dead" : opt(a, "state"));
}

static int audit_show(const struct cmd *c, const struct args *a, const struct rctl_conf *conf)
{
	char q[600];
	char *o = rctl_escape(opt(a, "object")), *t = opt(a, "type") ? rctl_escape(opt(a, "type")) : NULL;
	char *path;
	int rc;

	snprintf(q, sizeof(q), "object=%s%s%s", o ? o : "", t ? "&type=" : "", t ? t : "");
	free(o);
	free(t);
	path = make_path(c, a, q);
	rc = path ? request(conf, "GET", path, NULL, a->json, NULL) : RCTL_SERVER;
	free(path);
	return rc;
}

/* The chain is whole: exit 0; broken: the first bad record is named and the exit is 1. */
static int audit_verify(const struct cmd *c, const struct args *a, const struct rctl_conf *conf)
{
	json_t *j = NULL;
	int rc = request(conf, "GET", c->path, NULL, a->json, &j);

	if (rc != RCTL_OK)
		return rc;
	if (a->json)
		rctl_print_json(stdout, j);
	else
		rctl_print_human(stdout, j);
	rc = json_is_true(json_object_get(j, "whole")) ? RCTL_OK : RCTL_REFUSED;
	if (rc != RCTL_OK)
		fprintf(stderr, "ractl: R16: the audit chain is broken at record %lld\n",
			(long long)json_integer_value(json_object_get(j, "bad_seq")));
	json_decref(j);
	return rc;
}

static int user_factor(const struct cmd *c, const struct args *a, const struct rctl_conf *conf)
{
	char *path = make_path(c, a, NULL);
	json_t *b = body_of(c, a);
	int rc;

	if (strcmp(a->pos[1], "sms") != 0 && strcmp(a->pos[1], "app") != 0) {
		json_decref(b);
		free(path);
		fputs("ractl user factor: the factor is 'sms' or 'app'\n", stderr);
		return RCTL_USAGE;
	}
	json_object_set_new(b, "factor", json_string(a->pos[1]));
	rc = path ? request(conf, "POST", path, b, a->json, NULL) : RCTL_SERVER;
	free(path);
	return rc;
}

static const struct cmd cmds[] = {
	{"whoami", "", 0, "", "GET", "/v1/admin/whoami", NULL, "who the token belongs to"},
	{"user", "show", 1, "", "GET", "/v1/admin/users/%s", NULL, "MOBILE|USER-ID"},
	{"user", "unlock", 1, "reason=! reset-pin", "POST", "/v1/admin/users/%s/unlock", NULL,
	 "MOBILE|USER-ID --reason TEXT   (R13: the ActivationPIN is kept)"},
	{"user", "transport-pin", 1, "reason=!", "POST", "/v1/admin/users/%s/transport-pin", NULL,
	 "MOBILE|USER-ID --reason TEXT   (R11: new TransportPIN by SMS)"},
	{"user", "factor", 2, "reason=! deregister-app", "POST", "/v1/admin/users/%s/factor", user_factor,
	 "MOBILE|USER-ID sms|app --reason TEXT [--deregister-app]   (R9)"},
	{"cert", "show", 1, "pem", "GET", "/v1/admin/certs/%s", cert_show, "ID|SERIAL [--pem]"},
	{"cert", "list", 0, "user=!", "GET", "/v1/admin/certs", cert_list, "--user MOBILE|USER-ID"},
	{"cert", "revoke", 1, "reason=! comment=!", "POST", "/v1/admin/certs/%s/revoke", NULL,
	 "ID|SERIAL --reason RFC5280-REASON --comment TEXT   (R14)"},
	{"cert", "rekey", 1, "reason=!", "POST", "/v1/admin/certs/%s/rekey", NULL,
	 "ID|SERIAL --reason TEXT   (R12, R15: new key; old revoked superseded once the new one is issued)"},
	{"cert", "modify", 1, "reason=! organisation= org-id= function= no-organisation given-name= surname=", "POST",
	 "/v1/admin/certs/%s/modify", NULL,
	 "ID|SERIAL (--organisation O [--org-id ID] --function F | --no-organisation) --reason TEXT   (R4, R15)"},
	{"cert", "single-factor", 1, "reason=! consent-ref=! deregister-app", "POST", "/v1/admin/certs/%s/single-factor",
	 NULL, "ID|SERIAL --consent-ref REF --reason TEXT   (R10: advanced/seal only)"},
	{"contract", "create", 0, "reason=! organisation=! org-id= quota=!", "POST", "/v1/admin/contracts", NULL,
	 "--organisation NAME [--org-id ID] --quota N --reason TEXT   (R6; role admin)"},
	{"contract", "show", 1, "", "GET", "/v1/admin/contracts/%s", NULL, "NUMBER"},
	{"contract", "list", 0, "status=", "GET", "/v1/admin/contracts", contract_list, "[--status open|closed]"},
	{"contract", "close", 1, "reason=!", "POST", "/v1/admin/contracts/%s/close", NULL,
	 "NUMBER --reason TEXT   (role admin)"},
	{"order", "show", 1, "", "GET", "/v1/admin/orders/%s", NULL, "ORDER-ID|SHOP-ORDER-ID"},
	{"order", "approve", 1, "reason=!", "POST", "/v1/admin/orders/%s/approve", NULL,
	 "ORDER-ID --reason TEXT   (R7 review; R19: not your own, not one you opened)"},
	{"order", "reject", 1, "reason=!", "POST", "/v1/admin/orders/%s/reject", NULL, "ORDER-ID --reason TEXT"},
	{"jobs", "list", 0, "dead state=", "GET", "/v1/admin/jobs", jobs_list, "[--dead | --state S]"},
	{"jobs", "retry", 1, "reason=!", "POST", "/v1/admin/jobs/%s/retry", NULL, "ID --reason TEXT"},
	{"audit", "show", 0, "object=! type=", "GET", "/v1/admin/audit", audit_show, "--object ID [--type TYPE]"},
	{"audit", "verify", 0, "", "GET", "/v1/admin/audit/verify", audit_verify, "(R16: exit 1 when broken)"},
};

static void line_of(const struct cmd *c, FILE *f)
{
	fprintf(f, "ractl %s%s%s %s [--json]\n", c->group, c->name[0] ? " " : "", c->name, c->help);
}

static void usage_of(const struct cmd *c, FILE *f)
{
	fputs("usage: ", f);
	line_of(c, f);
}

static void usage(FILE *f)
{
	fputs("usage: ractl COMMAND [ARGS] [--json]   (RACTL_URL, RACTL_TOKEN or ~/.config/ractl/config)\n", f);
	for (size_t i = 0; i < sizeof(cmds) / sizeof(cmds[0]); i++) {
		fputs("  ", f);
		line_of(&cmds[i], f);
	}
	fputs("exit: 0 ok, 1 refused by a rule, 2 usage, 3 not found, 4 server unreachable, 5 server error\n", f);
}

int main(int argc, char **argv)
{
	const struct cmd *c = NULL;
	struct args a;
	struct rctl_conf conf;
	int rc, skip;

	if (argc < 2 || strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "help") == 0) {
		usage(argc < 2 ? stderr : stdout);
		return argc < 2 ? RCTL_USAGE : RCTL_OK;
	}
	for (size_t i = 0; i < sizeof(cmds) / sizeof(cmds[0]) && c == NULL; i++) {
		if (strcmp(argv[1], cmds[i].group) != 0)
			continue;
		if (cmds[i].name[0] == '\0' || (argc > 2 && strcmp(argv[2], cmds[i].name) == 0))
			c = &cmds[i];
	}
	if (c == NULL) {
		fprintf(stderr, "ractl: unknown command '%s%s%s'\n", argv[1], argc > 2 ? " " : "", argc > 2 ? argv[2] : "");
		usage(stderr);
		return RCTL_USAGE;
	}
	memset(&a, 0, sizeof(a));
	skip = c->name[0] ? 3 : 2;
	rc = parse(c, argc - skip, argv + skip, &a);
	if (rc != 0)
		return rc;
	rc = rctl_conf_load(&conf);
	if (rc != 0)
		return rc;
	curl_global_init(CURL_GLOBAL_DEFAULT);
	rc = c->fn ? c->fn(c, &a, &conf) : generic(c, &a, &conf);
	curl_global_cleanup();
	return rc;
}
