/*
 * config.c - configuration schema, loading, environment overrides and masked printing.
 * The schema table is the one place that lists every key; docs/configuration.md mirrors it.
 */
#include "ra/base/config.h"

#include <ctype.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

enum ctype { C_STR, C_INT, C_BOOL, C_JSON };

struct key {
	const char *path;
	enum ctype type;
	const char *def; /* default as text (JSON text for C_JSON), NULL = none */
	int required;
	int secret;
};

static const struct key schema[] = {
	{"listen", C_STR, "127.0.0.1:8080", 1, 0},
	{"tls.cert", C_STR, NULL, 0, 0},
	{"tls.key", C_STR, NULL, 0, 0},
	{"database_url", C_STR, NULL, 1, 1},
	{"db.pool_size", C_INT, "4", 0, 0},
	{"db.connect_timeout_ms", C_INT, "2000", 0, 0},
	{"http.max_body", C_INT, "1048576", 0, 0},
	{"http.drain_timeout_ms", C_INT, "10000", 0, 0},
	{"log.format", C_STR, "logfmt", 0, 0},
	{"log.level", C_STR, "info", 0, 0},
	{"shop.woocommerce_secret", C_STR, NULL, 0, 1},
	{"ident.base_url", C_STR, NULL, 0, 0},
	{"ident.company_id", C_STR, NULL, 0, 0},
	{"ident.api_key", C_STR, NULL, 0, 1},
	{"ident.callback_secret", C_STR, NULL, 0, 1},
	{"ident.callback_allow", C_STR, NULL, 0, 0},
	{"ident.max_attempts", C_INT, "3", 0, 0},
	{"ident.reuse_days", C_INT, "90", 0, 0},
	{"ident.link_base", C_STR, "https://go.test.idnow.de", 0, 0},
	{"smtp.url", C_STR, NULL, 0, 0},
	{"smtp.from", C_STR, "ra@localhost", 0, 0},
	{"smtp.user", C_STR, NULL, 0, 0},
	{"smtp.password", C_STR, NULL, 0, 1},
	{"sms.url", C_STR, NULL, 0, 0},
	{"sms.token", C_STR, NULL, 0, 1},
	{"ca.backend", C_STR, "local", 0, 0},
	{"ca.dir", C_STR, "var/ca", 0, 0},
	{"ca.policy_oid", C_STR, "1.3.6.1.4.1.99999.1.1", 0, 0},
	{"ca.pds_url", C_STR, "https://ra.example/pds_en.pdf", 0, 0},
	{"ca.pds_lang", C_STR, "en", 0, 0},
	{"ca.crl_url", C_STR, "http://127.0.0.1:8080/v1/ca/crl", 0, 0},
	{"ca.key_alg", C_STR, "ec-p256", 0, 0},
	{"ca.subject", C_STR, "C=AT,O=RA Development,CN=RA Development Issuing CA", 0, 0},
	{"ca.advanced_ncp", C_BOOL, "false", 0, 0},
	{"ca.advanced_digital_signature", C_BOOL, "false", 0, 0},
	{"ca.crl_hours", C_INT, "24", 0, 0},
	{"cmp.url", C_STR, NULL, 0, 0},
	{"cmp.secret", C_STR, NULL, 0, 1},
	{"cmp.trusted", C_STR, NULL, 0, 0},
	{"cmp.reference", C_STR, NULL, 0, 0},
	{"cmp.client_cert", C_STR, NULL, 0, 0},
	{"cmp.client_key", C_STR, NULL, 0, 0},
	{"cmp.crl_url", C_STR, NULL, 0, 0},
	{"cmp.timeout_s", C_INT, "30", 0, 0},
	{"pkcs11.module", C_STR, "/usr/lib/softhsm/libsofthsm2.so", 0, 0},
	{"pkcs11.token", C_STR, "ra", 0, 0},
	{"pkcs11.pin", C_STR, NULL, 0, 1},
	{"products", C_JSON, "{}", 0, 0},
	{"default_country", C_STR, "AT", 0, 0},
	{"evidence.key", C_STR, NULL, 0, 1},
	{"retention.years_after_expiry", C_INT, "30", 0, 0},
	{"jobs.workers", C_INT, "8", 0, 0},
	{"jobs.lease_ms", C_INT, "30000", 0, 0},
	{"jobs.poll_ms", C_INT, "1000", 0, 0},
	{"jobs.backoff_ms", C_INT, "1000", 0, 0},
	{"jobs.backoff_max_ms", C_INT, "3600000", 0, 0},
	{"jobs.test_kinds", C_BOOL, "false", 0, 0},
};

#define NKEYS (sizeof(schema) / sizeof(schema[0]))

static const struct key *find_key(const char *path)
{
	for (size_t i = 0; i < NKEYS; i++)
		if (strcmp(schema[i].path, path) == 0)
			return &schema[i];
	return NULL;
}

void config_env_name(const char *path, char *buf, size_t cap)
{
	size_t o = 0;

	if (cap < 4)
		return;
	memcpy(buf, "RA_", 3);
	o = 3;
	for (; *path && o + 1 < cap; path++)
		buf[o++] = (*path == '.') ? '_' : (char)toupper((unsigned char)*path);
	buf[o] = '\0';
}

/* Returns the object that holds the last segment of path, creating objects on the way. */
static json_t *parent_of(json_t *root, const char *path, const char **leaf, int create)
{
	char seg[128];
	const char *dot;
	json_t *cur = root;

	while ((dot = strchr(path, '.')) != NULL) {
		size_t n = (size_t)(dot - path);
		json_t *next;
		if (n >= sizeof(seg))
			return NULL;
		memcpy(seg, path, n);
		seg[n] = '\0';
		next = json_object_get(cur, seg);
		if (next == NULL && create) {
			next = json_object();
			json_object_set_new(cur, seg, next);
		}
		if (!json_is_object(next))
			return NULL;
		cur = next;
		path = dot + 1;
	}
	*leaf = path;
	return cur;
}

static json_t *get_path(json_t *root, const char *path)
{
	const char *leaf;
	json_t *p = parent_of(root, path, &leaf, 0);
	return p ? json_object_get(p, leaf) : NULL;
}

static void set_path(json_t *root, const char *path, json_t *v)
{
	const char *leaf;
	json_t *p = parent_of(root, path, &leaf, 1);
	if (p)
		json_object_set_new(p, leaf, v);
	else
		json_decref(v);
}

/* Parses text as a value of the key's type; NULL when malformed. */
static json_t *parse_value(const struct key *k, const char *text)
{
	char *end;
	long long n;

	switch (k->type) {
	case C_STR:
		return json_string(text);
	case C_INT:
		errno = 0;
		n = strtoll(text, &end, 10);
		if (errno || end == text || *end)
			return NULL;
		return json_integer(n);
	case C_BOOL:
		if (!strcmp(text, "true") || !strcmp(text, "1"))
			return json_true();
		if (!strcmp(text, "false") || !strcmp(text, "0"))
			return json_false();
		return NULL;
	case C_JSON:
		return json_loads(text, JSON_DECODE_ANY, NULL);
	}
	return NULL;
}

static int type_ok(const struct key *k, const json_t *v)
{
	switch (k->type) {
	case C_STR:
		return json_is_string(v);
	case C_INT:
		return json_is_integer(v);
	case C_BOOL:
		return json_is_boolean(v);
	case C_JSON:
		return v != NULL;
	}
	return 0;
}

static const char *type_name(enum ctype t)
{
	static const char *n[] = {"a string", "an integer", "a boolean", "a JSON value"};
	return n[t];
}

/* Every leaf in the file must be a schema key: a typo must not pass silently. */
static int check_unknown(json_t *obj, const char *prefix, struct ra_err *err)
{
	const char *name;
	json_t *v;
	char path[256];

	json_object_foreach(obj, name, v) {
		const struct key *k;
		snprintf(path, sizeof(path), "%s%s%s", prefix, *prefix ? "." : "", name);
		k = find_key(path);
		if (k != NULL)
			continue;
		if (json_is_object(v)) {
			int rc = check_unknown(v, path, err);
			if (rc)
				return rc;
			continue;
		}
		return ra_err_set(err, RA_E_CONFIG, path, "unknown configuration key '%s'", path);
	}
	return 0;
}

int config_load(struct config *cfg, const char *path, int need_required, struct ra_err *err)
{
	json_error_t jerr;
	json_t *root;
	int rc;

	cfg->root = NULL;
	if (path != NULL) {
		root = json_load_file(path, JSON_REJECT_DUPLICATES, &jerr);
		if (root == NULL)
			return ra_err_set(err, RA_E_CONFIG, "", "%s:%d: %s", path, jerr.line, jerr.text);
		if (!json_is_object(root)) {
			json_decref(root);
			return ra_err_set(err, RA_E_CONFIG, "", "%s: top level must be an object", path);
		}
		rc = check_unknown(root, "", err);
		if (rc) {
			json_decref(root);
			return rc;
		}
	} else {
		root = json_object();
	}
	for (size_t i = 0; i < NKEYS; i++) {
		const struct key *k = &schema[i];
		char env[128];
		const char *ev;
		json_t *v;

		config_env_name(k->path, env, sizeof(env));
		ev = getenv(env);
		if (ev != NULL) {
			v = parse_value(k, ev);
			if (v == NULL) {
				json_decref(root);
				return ra_err_set(err, RA_E_CONFIG, k->path, "%s: must be %s", env,
						  type_name(k->type));
			}
			set_path(root, k->path, v);
		}
		v = get_path(root, k->path);
		if (v != NULL && json_is_null(v))
			v = NULL;
		if (v == NULL && k->def != NULL) {
			v = parse_value(k, k->def);
			set_path(root, k->path, v);
		}
		if (v != NULL && !type_ok(k, v)) {
			json_decref(root);
			return ra_err_set(err, RA_E_CONFIG, k->path, "configuration key '%s' must be %s",
					  k->path, type_name(k->type));
		}
		if (v != NULL && k->required && k->type == C_STR && json_string_length(v) == 0)
			v = NULL; /* an empty required string is as good as missing */
		if (v == NULL && k->required && need_required) {
			json_decref(root);
			return ra_err_set(err, RA_E_CONFIG, k->path,
					  "missing required configuration key '%s' (or environment %s)",
					  k->path, env);
		}
	}
	cfg->root = root;
	return 0;
}

void config_free(struct config *cfg)
{
	if (cfg == NULL)
		return;
	json_decref(cfg->root);
	cfg->root = NULL;
}

static json_t *lookup(const struct config *cfg, const char *path, enum ctype t)
{
	const struct key *k = find_key(path);

	if (k == NULL || k->type != t) {
		fprintf(stderr, "config: '%s' is not a %s key of the schema\n", path, type_name(t));
		abort();
	}
	return get_path(cfg->root, path);
}

const char *cfg_str(const struct config *cfg, const char *path)
{
	json_t *v = lookup(cfg, path, C_STR);
	return json_is_string(v) ? json_string_value(v) : NULL;
}

long long cfg_int(const struct config *cfg, const char *path)
{
	return json_integer_value(lookup(cfg, path, C_INT));
}

int cfg_bool(const struct config *cfg, const char *path)
{
	return json_is_true(lookup(cfg, path, C_BOOL));
}

json_t *cfg_json(const struct config *cfg, const char *path)
{
	return lookup(cfg, path, C_JSON);
}

void config_print(const struct config *cfg, FILE *out)
{
	json_t *copy = json_deep_copy(cfg->root);
	char *text;

	for (size_t i = 0; i < NKEYS; i++) {
		json_t *v;
		if (!schema[i].secret)
			continue;
		v = get_path(copy, schema[i].path);
		if (v != NULL && !json_is_null(v))
			set_path(copy, schema[i].path, json_string("********"));
	}
	text = json_dumps(copy, JSON_INDENT(2) | JSON_SORT_KEYS);
	fprintf(out, "%s\n", text ? text : "{}");
	free(text);
	json_decref(copy);
}
