/*
 * config.c - configuration schema, loading, environment overrides and masked printing.
 * The schema table is the one place that lists every key; docs/configuration.md mirrors it.
 */
#include "ra/base/config.h"

#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <openssl/crypto.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

enum ctype { C_STR, C_INT, C_BOOL, C_JSON };

struct key {
	const char *path;
	enum ctype type;
	const char *def; /* default as text (JSON text for C_JSON), NULL = none */
	int required;
	int secret;
	long long min, max; /* C_INT: the accepted range (checked at load) */
};

/* Mozilla's "intermediate" TLS 1.2 list: ECDHE/DHE key exchange (forward secrecy) and AEAD
 * ciphers only; no static-RSA key exchange, no CBC, no SHA-1 MACs.  TLS 1.3 suites are
 * OpenSSL's (all AEAD and forward-secret). */
#define TLS_INTERMEDIATE                                                                           \
	"ECDHE-ECDSA-AES128-GCM-SHA256:ECDHE-RSA-AES128-GCM-SHA256:ECDHE-ECDSA-AES256-GCM-SHA384:" \
	"ECDHE-RSA-AES256-GCM-SHA384:ECDHE-ECDSA-CHACHA20-POLY1305:ECDHE-RSA-CHACHA20-POLY1305:"   \
	"DHE-RSA-AES128-GCM-SHA256:DHE-RSA-AES256-GCM-SHA384:DHE-RSA-CHACHA20-POLY1305"

#define I32 2147483647LL

static const struct key schema[] = {
	{"listen", C_STR, "127.0.0.1:8080", 1, 0, 0, 0},
	{"tls.cert", C_STR, NULL, 0, 0, 0, 0},
	{"tls.key", C_STR, NULL, 0, 0, 0, 0},
	{"tls.ciphers", C_STR, TLS_INTERMEDIATE, 0, 0, 0, 0},
	{"database_url", C_STR, NULL, 1, 1, 0, 0},
	{"db.pool_size", C_INT, "4", 0, 0, 1, 256},
	{"db.connect_timeout_ms", C_INT, "2000", 0, 0, 1, 600000},
	{"http.max_body", C_INT, "1048576", 0, 0, 1, 1073741824},
	{"http.max_header_bytes", C_INT, "16384", 0, 0, 1024, 1048576},
	{"http.max_connections", C_INT, "1024", 0, 0, 1, 1000000},
	{"http.max_connections_per_address", C_INT, "256", 0, 0, 0, 1000000},
	{"http.ops_listen", C_STR, NULL, 0, 0, 0, 0},
	{"http.ops_max_connections", C_INT, "64", 0, 0, 1, 10000},
	{"http.drain_timeout_ms", C_INT, "10000", 0, 0, 0, 3600000},
	{"log.format", C_STR, "logfmt", 0, 0, 0, 0},
	{"log.level", C_STR, "info", 0, 0, 0, 0},
	{"shop.woocommerce_secret", C_STR, NULL, 0, 1, 0, 0},
	{"ident.base_url", C_STR, NULL, 0, 0, 0, 0},
	{"ident.company_id", C_STR, NULL, 0, 0, 0, 0},
	{"ident.api_key", C_STR, NULL, 0, 1, 0, 0},
	{"ident.callback_secret", C_STR, NULL, 0, 1, 0, 0},
	{"ident.callback_allow", C_STR, NULL, 0, 0, 0, 0},
	{"ident.max_attempts", C_INT, "3", 0, 0, 1, 100},
	{"ident.reuse_days", C_INT, "90", 0, 0, 0, 3650},
	{"ident.link_base", C_STR, "https://go.test.idnow.de", 0, 0, 0, 0},
	{"smtp.url", C_STR, NULL, 0, 0, 0, 0},
	{"smtp.from", C_STR, "ra@localhost", 0, 0, 0, 0},
	{"smtp.user", C_STR, NULL, 0, 0, 0, 0},
	{"smtp.password", C_STR, NULL, 0, 1, 0, 0},
	{"smtp.tls", C_STR, "required", 0, 0, 0, 0},
	{"sms.url", C_STR, NULL, 0, 0, 0, 0},
	{"sms.token", C_STR, NULL, 0, 1, 0, 0},
	{"ca.backend", C_STR, "local", 0, 0, 0, 0},
	{"ca.dir", C_STR, "var/ca", 0, 0, 0, 0},
	{"ca.policy_oid", C_STR, "1.3.6.1.4.1.99999.1.1", 0, 0, 0, 0},
	/* no defaults for what goes into every certificate: a placeholder there is worse than a
	 * refusal to start (config_check names the key) */
	{"ca.pds_url", C_STR, NULL, 0, 0, 0, 0},
	{"ca.pds_lang", C_STR, "en", 0, 0, 0, 0},
	{"ca.crl_url", C_STR, NULL, 0, 0, 0, 0},
	{"ca.key_alg", C_STR, "ec-p256", 0, 0, 0, 0},
	{"ca.subject", C_STR, "C=AT,O=RA Development,CN=RA Development Issuing CA", 0, 0, 0, 0},
	{"ca.advanced_ncp", C_BOOL, "false", 0, 0, 0, 0},
	{"ca.advanced_digital_signature", C_BOOL, "false", 0, 0, 0, 0},
	{"ca.crl_hours", C_INT, "24", 0, 0, 1, 240},
	{"ca.crl_check_s", C_INT, "60", 0, 0, 0, 86400},
	{"audit.verify_hours", C_INT, "24", 0, 0, 0, 8760},
	{"audit.sequencer_interval_ms", C_INT, "50", 0, 0, 1, 1000},
	{"audit.sequencer_batch", C_INT, "1000", 0, 0, 1, 100000},
	{"audit.sequencer_coalesce_ms", C_INT, "50", 0, 0, 0, 1000},
	{"audit.checkpoint_interval_s", C_INT, "300", 0, 0, 0, 86400},
	{"audit.checkpoint_records", C_INT, "10000", 0, 0, 0, 100000000},
	{"audit.key_id", C_STR, "ra-audit-log", 0, 0, 0, 0},
	{"audit.key_subject.country", C_STR, "AT", 0, 0, 0, 0},
	{"audit.key_subject.organization", C_STR, "RA Development", 0, 0, 0, 0},
	{"audit.key_subject.organization_identifier", C_STR, "NTRAT-RADEV", 0, 0, 0, 0},
	{"audit.key_subject.common_name", C_STR, "RA Development audit log", 0, 0, 0, 0},
	{"cmp.url", C_STR, NULL, 0, 0, 0, 0},
	{"cmp.secret", C_STR, NULL, 0, 1, 0, 0},
	{"cmp.trusted", C_STR, NULL, 0, 0, 0, 0},
	{"cmp.reference", C_STR, NULL, 0, 0, 0, 0},
	{"cmp.client_cert", C_STR, NULL, 0, 0, 0, 0},
	{"cmp.client_key", C_STR, NULL, 0, 0, 0, 0},
	{"cmp.crl_url", C_STR, NULL, 0, 0, 0, 0},
	{"cmp.timeout_s", C_INT, "30", 0, 0, 1, 3600},
	{"pkcs11.module", C_STR, "/usr/lib/softhsm/libsofthsm2.so", 0, 0, 0, 0},
	{"pkcs11.token", C_STR, "ra", 0, 0, 0, 0},
	{"pkcs11.pin", C_STR, NULL, 0, 1, 0, 0},
	{"pkcs11.key_storage", C_STR, "wrapped", 0, 0, 0, 0},
	{"pkcs11.kek_label", C_STR, "ra-kek", 0, 0, 0, 0},
	{"pkcs11.kek_create", C_BOOL, "true", 0, 0, 0, 0},
	{"pkcs11.sessions", C_INT, "8", 0, 0, 1, 256},
	{"keys.destroy_delay_hours", C_INT, "0", 0, 0, 0, 87600},
	{"pkcs11.rewrap_batch", C_INT, "100", 0, 0, 1, 10000},
	{"pkcs11.rewrap_pause_ms", C_INT, "1000", 0, 0, 0, 3600000},
	{"products", C_JSON, "{}", 0, 0, 0, 0},
	{"default_country", C_STR, "AT", 0, 0, 0, 0},
	{"evidence.key", C_STR, NULL, 0, 1, 0, 0},
	{"retention.years_after_expiry", C_INT, "30", 0, 0, 0, 200},
	{"signing.transport_pin_max_tries", C_INT, "5", 0, 0, 1, 20},
	{"signing.phone_code_max_tries", C_INT, "5", 0, 0, 1, 10},
	{"jobs.workers", C_INT, "8", 0, 0, 1, 1024},
	{"jobs.revoke_workers", C_INT, "2", 0, 0, 1, 1024},
	{"jobs.issue_workers", C_INT, "8", 0, 0, 1, 1024},
	{"jobs.ident_workers", C_INT, "4", 0, 0, 1, 1024},
	{"jobs.background_threads", C_INT, "0", 0, 0, 0, 64},
	{"jobs.busy_retry_ms", C_INT, "1000", 0, 0, 10, 3600000},
	{"peers.max_inflight", C_INT, "4", 0, 0, 1, 1000},
	{"peers.breaker_failures", C_INT, "5", 0, 0, 1, 1000000},
	{"peers.breaker_open_ms", C_INT, "30000", 0, 0, 10, 86400000},
	{"jobs.lease_ms", C_INT, "30000", 0, 0, 100, 86400000},
	{"jobs.poll_ms", C_INT, "1000", 0, 0, 10, 3600000},
	{"jobs.backoff_ms", C_INT, "1000", 0, 0, 1, 86400000},
	{"jobs.backoff_max_ms", C_INT, "3600000", 0, 0, 1, I32},
	{"jobs.test_kinds", C_BOOL, "false", 0, 0, 0, 0},
	{"sched.tick_ms", C_INT, "1000", 0, 0, 10, 3600000},
	{"sched.lease_ms", C_INT, "60000", 0, 0, 100, 86400000},
	{"sched.batch", C_INT, "200", 0, 0, 1, 100000},
	{"lifecycle.expiry_interval_s", C_INT, "60", 0, 0, 1, 86400},
	{"lifecycle.reminder_interval_s", C_INT, "300", 0, 0, 1, 86400},
	{"lifecycle.term_interval_s", C_INT, "300", 0, 0, 1, 86400},
	{"lifecycle.expiry_reminders", C_JSON, "[\"30d\", \"7d\"]", 0, 0, 0, 0},
	{"lifecycle.term_reminders", C_JSON, "[\"30d\", \"7d\"]", 0, 0, 0, 0},
	{"term.grace", C_STR, "14d", 0, 0, 0, 0},
	{"term.on_end", C_STR, "notify", 0, 0, 0, 0},
	{"notify.interval_s", C_INT, "5", 0, 0, 1, 86400},
	{"notify.templates", C_STR, "deploy/templates", 0, 0, 0, 0},
	{"notify.language", C_STR, "de", 0, 0, 0, 0},
	{"notify.support_address", C_STR, NULL, 0, 0, 0, 0},
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

	json_object_foreach (obj, name, v) {
		const struct key *k;
		/* {"pkcs11.pin": ...} would match the schema's "pkcs11.pin" here but never be found
		 * where the key lives ({"pkcs11": {"pin": ...}}): neither applied nor masked */
		if (strchr(name, '.') != NULL || *name == '\0')
			return ra_err_set(
				err, RA_E_CONFIG, name,
				"configuration key '%s%s%s' has a dot (or is empty) in one name: write "
				"nested objects ({\"a\": {\"b\": ...}}), not \"a.b\"",
				prefix, *prefix ? "." : "", name);
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

#define CRED_MAX 65536

/* Reads a credential file whole (at most CRED_MAX bytes, no NUL), trailing newlines cut.
 * Returns 1 with *out (caller frees with OPENSSL_clear_free via cred_free) when the file
 * exists, 0 when it does not, <0 (err names the key) when it cannot be used. */
static int cred_read(const char *file, const char *key, char **out, struct ra_err *err)
{
	int fd = open(file, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
	char *buf = NULL;
	size_t len = 0;
	ssize_t n;
	int rc = -1;

	*out = NULL;
	if (fd < 0 && errno == ENOENT)
		return 0;
	if (fd < 0)
		return ra_err_set(err, RA_E_CONFIG, key, "credential %s for '%s' cannot be read: %s", file,
				  key, strerror(errno));
	buf = malloc(CRED_MAX + 1);
	if (buf == NULL) {
		rc = ra_err_set(err, RA_E_NOMEM, key, "out of memory");
		goto out;
	}
	while (len < CRED_MAX + 1 && (n = read(fd, buf + len, CRED_MAX + 1 - len)) > 0)
		len += (size_t)n;
	if (len > CRED_MAX || memchr(buf, '\0', len) != NULL) {
		rc = ra_err_set(err, RA_E_CONFIG, key,
				"credential %s for '%s' is not a text of at most %d bytes", file, key,
				CRED_MAX);
		goto out;
	}
	while (len > 0 && (buf[len - 1] == '\n' || buf[len - 1] == '\r'))
		len--;
	buf[len] = '\0';
	*out = buf;
	buf = NULL;
	rc = 1;
out:
	if (buf != NULL)
		OPENSSL_clear_free(buf, CRED_MAX + 1);
	close(fd);
	return rc;
}

/*
 * systemd credentials (LoadCredential=): a secret key may come from the file
 * $CREDENTIALS_DIRECTORY/<key> (LoadCredential=evidence.key:/path) or
 * $CREDENTIALS_DIRECTORY/ra_<key> (LoadCredential=ra:/etc/ra/credentials, one file per key in
 * that directory).  It overrides the file; an RA_* variable overrides it.  Only secrets are
 * looked up, so a credential cannot change where the service listens or what it trusts.
 */
static int load_credential(json_t *root, const struct key *k, struct ra_err *err)
{
	const char *dir = getenv("CREDENTIALS_DIRECTORY");
	char file[2][4096];
	char *val[2] = {NULL, NULL};
	int found[2], rc = 0;

	if (!k->secret || dir == NULL || *dir == '\0')
		return 0;
	snprintf(file[0], sizeof(file[0]), "%s/%s", dir, k->path);
	snprintf(file[1], sizeof(file[1]), "%s/ra_%s", dir, k->path);
	for (int i = 0; i < 2; i++) {
		found[i] = cred_read(file[i], k->path, &val[i], err);
		if (found[i] < 0) {
			rc = found[i];
			goto out;
		}
	}
	if (found[0] && found[1]) {
		rc = ra_err_set(err, RA_E_CONFIG, k->path, "credentials %s and %s both give '%s': keep one",
				file[0], file[1], k->path);
		goto out;
	}
	for (int i = 0; i < 2; i++) {
		json_t *v;
		if (!found[i])
			continue;
		v = parse_value(k, val[i]);
		if (v == NULL) {
			rc = ra_err_set(err, RA_E_CONFIG, k->path, "credential %s: must be %s", file[i],
					type_name(k->type));
			goto out;
		}
		set_path(root, k->path, v);
	}
out:
	for (int i = 0; i < 2; i++)
		if (val[i] != NULL)
			OPENSSL_clear_free(val[i], CRED_MAX + 1);
	return rc;
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

		rc = load_credential(root, k, err);
		if (rc) {
			json_decref(root);
			return rc;
		}
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
		if (v != NULL && k->type == C_INT &&
		    (json_integer_value(v) < k->min || json_integer_value(v) > k->max)) {
			long long n = json_integer_value(v);
			json_decref(root);
			return ra_err_set(err, RA_E_CONFIG, k->path,
					  "configuration key '%s' must be %lld to %lld, got %lld", k->path,
					  k->min, k->max, n);
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

/* ---- what configured features need (config_check) ---------------------------------- */

/* A key that is set turns a feature on; the feature needs these other keys.  Checked at
 * start-up so a gap stops `ra serve` (and fails --print-config) with the key's name, instead
 * of failing every job later in a retry loop. */
static const struct need {
	const char *when, *need, *why;
} needs[] = {
	{"ident.base_url", "ident.company_id", "the provider's API path names the company"},
	{"ident.base_url", "ident.api_key", "the provider's login needs it"},
	{"ident.base_url", "ident.callback_secret", "without it every result callback is refused"},
	{"ident.base_url", "evidence.key", "R18: identification evidence is stored sealed with it"},
	{"sms.url", "sms.token", "the SMS gateway takes a bearer token"},
	{"smtp.user", "smtp.password", "SMTP authentication needs both"},
	{"smtp.password", "smtp.user", "SMTP authentication needs both"},
	{"tls.cert", "tls.key", "HTTPS needs the certificate and its key"},
	{"tls.key", "tls.cert", "HTTPS needs the certificate and its key"},
	{"cmp.secret", "cmp.reference", "PBM protection names the secret by its reference"},
	{"cmp.client_cert", "cmp.client_key", "signature protection needs the certificate and its key"},
	{"cmp.client_key", "cmp.client_cert", "signature protection needs the certificate and its key"},
};

static int is_set(const struct config *cfg, const char *path)
{
	json_t *v = get_path(cfg->root, path);

	return v != NULL && !json_is_null(v) && !(json_is_string(v) && json_string_length(v) == 0);
}

static int need_key(const struct config *cfg, const char *path, const char *because, struct ra_err *err)
{
	char env[128];

	if (is_set(cfg, path))
		return 0;
	config_env_name(path, env, sizeof(env));
	return ra_err_set(err, RA_E_CONFIG, path, "missing configuration key '%s' (or environment %s): %s",
			  path, env, because);
}

/* Does the catalogue sell a qualified certificate?  (The catalogue itself is checked by the
 * intake module; here only the class matters.) */
static int sells_qualified(const struct config *cfg)
{
	json_t *products = get_path(cfg->root, "products"), *p;
	const char *sku;

	json_object_foreach (products, sku, p) {
		const char *cls = json_string_value(json_object_get(p, "class"));
		if (cls != NULL && strcmp(cls, "qualified") == 0)
			return 1;
	}
	return 0;
}

/* The embedded CA writes ca.pds_url and ca.crl_url into every certificate it issues. */
static int check_local_ca(const struct config *cfg, struct ra_err *err)
{
	const char *backend = json_string_value(get_path(cfg->root, "ca.backend"));
	const char *pds = json_string_value(get_path(cfg->root, "ca.pds_url"));
	long long hours = json_integer_value(get_path(cfg->root, "ca.crl_hours"));
	int rc;

	if (backend == NULL || (strcmp(backend, "local") != 0 && strcmp(backend, "cmp") != 0))
		return ra_err_set(err, RA_E_CONFIG, "ca.backend", "ca.backend must be 'local' or 'cmp'");
	if (strcmp(backend, "cmp") == 0) {
		/* the CA puts its own profile (PDS, CRL) into certificates: only how to reach it here */
		if ((rc = need_key(cfg, "cmp.url", "ca.backend is cmp", err)) != 0)
			return rc;
		return need_key(cfg, "cmp.trusted",
				"ca.backend is cmp: the CA's answers are checked against it", err);
	}
	if (sells_qualified(cfg) &&
	    (rc = need_key(cfg, "ca.pds_url",
			   "a product of class qualified needs the PKI disclosure statement's "
			   "URL in its certificates (QcPDS, ETSI EN 319 412-5)",
			   err)) != 0)
		return rc;
	if (is_set(cfg, "pkcs11.pin")) {
		if ((rc = need_key(cfg, "ca.pds_url", "the local CA writes it into qualified certificates",
				   err)) != 0 ||
		    (rc = need_key(cfg, "ca.crl_url",
				   "the local CA writes it into every certificate (CRL "
				   "distribution point)",
				   err)) != 0)
			return rc;
	}
	if (pds != NULL && strncmp(pds, "https://", 8) != 0)
		return ra_err_set(err, RA_E_CONFIG, "ca.pds_url",
				  "ca.pds_url must be an https:// URL (ETSI EN 319 412-5)");
	if (hours < 1 || hours > 240)
		return ra_err_set(err, RA_E_CONFIG, "ca.crl_hours",
				  "ca.crl_hours must be 1..240 (CRL validity in hours)");
	return 0;
}

/* smtp.tls: required (the default: STARTTLS or smtps://, certificate verified), opportunistic
 * (STARTTLS when offered: strippable by anyone on the path), none (plain text).  Credentials
 * are never sent without TLS, whatever this says. */
static int check_smtp_tls(const struct config *cfg, struct ra_err *err)
{
	const char *t = json_string_value(get_path(cfg->root, "smtp.tls"));
	const char *url = json_string_value(get_path(cfg->root, "smtp.url"));

	if (t == NULL ||
	    (strcmp(t, "required") != 0 && strcmp(t, "opportunistic") != 0 && strcmp(t, "none") != 0))
		return ra_err_set(err, RA_E_CONFIG, "smtp.tls",
				  "smtp.tls must be required, opportunistic or none");
	if (strcmp(t, "required") != 0 && (is_set(cfg, "smtp.user") || is_set(cfg, "smtp.password")))
		return ra_err_set(err, RA_E_CONFIG, "smtp.tls",
				  "smtp.tls is %s but smtp.user/smtp.password are set: credentials need TLS "
				  "(smtp.tls required)",
				  t);
	if (strcmp(t, "none") == 0 && url != NULL && strncasecmp(url, "smtps://", 8) == 0)
		return ra_err_set(err, RA_E_CONFIG, "smtp.tls",
				  "smtp.tls none contradicts an smtps:// smtp.url");
	return 0;
}

/* ---- secrets that are placeholders or guessable (issue #20) ------------------------------ */

/* Texts seen in examples and templates: a service must not start with one of them. */
static int placeholder(const char *v)
{
	static const char *const words[] = {"set-me",      "setme",   "changeme", "change-me", "change_me",
					    "placeholder", "example", "your-",    "todo",      "xxx",
					    "dummy",       "secret",  "password"};
	char low[64];
	size_t n = strlen(v);

	if (n >= sizeof(low))
		n = sizeof(low) - 1;
	for (size_t i = 0; i < n; i++)
		low[i] = (char)tolower((unsigned char)v[i]);
	low[n] = '\0';
	for (size_t i = 0; i < sizeof(words) / sizeof(words[0]); i++) {
		size_t w = strlen(words[i]);
		/* the word itself, or a short text around it ("set-me-or-RA_...", "secret123") */
		if (strstr(low, words[i]) != NULL && (strlen(v) < 32 || strncmp(low, words[i], w) == 0))
			return 1;
	}
	return 0;
}

/* An estimate of the bits a text can hold: its length times log2 of the alphabet its
 * character classes span (hex alone counts 16).  A text of few distinct characters
 * ("aaaa...") counts as nothing. */
static double secret_bits(const char *v)
{
	int dig = 0, lo = 0, up = 0, other = 0, hexlo = 1, hexup = 1, seen[256] = {0}, distinct = 0;
	size_t n = strlen(v);
	double pool;

	for (const unsigned char *p = (const unsigned char *)v; *p; p++) {
		distinct += !seen[*p];
		seen[*p] = 1;
		if (isdigit(*p)) {
			dig = 1;
		} else if (islower(*p)) {
			lo = 1;
			hexlo &= *p <= 'f';
			hexup = 0;
		} else if (isupper(*p)) {
			up = 1;
			hexup &= *p <= 'F';
			hexlo = 0;
		} else {
			other = 1;
			hexlo = hexup = 0;
		}
	}
	if (distinct < 10)
		return 0;
	if (!other && (hexlo || hexup))
		pool = 16;
	else
		pool = 10 * dig + 26 * lo + 26 * up + 33 * other;
	return pool > 1 ? (double)n * log2(pool) : 0;
}

/* Secrets the operator generates (shared with the shop, the ident provider's callback, the
 * CA) need 32 bytes of entropy; every secret is refused when it is an example's placeholder.
 * evidence.key is checked as a key where it is used (64 hex digits). */
static const char *const generated_secrets[] = {"shop.woocommerce_secret", "ident.callback_secret",
						"cmp.secret"};

static int check_secrets(const struct config *cfg, struct ra_err *err)
{
	for (size_t i = 0; i < NKEYS; i++) {
		const char *v = json_string_value(get_path(cfg->root, schema[i].path));
		if (!schema[i].secret || v == NULL || *v == '\0' ||
		    strcmp(schema[i].path, "database_url") == 0)
			continue;
		if (placeholder(v))
			return ra_err_set(err, RA_E_CONFIG, schema[i].path,
					  "configuration key '%s' holds a placeholder, not a secret",
					  schema[i].path);
		for (size_t g = 0; g < sizeof(generated_secrets) / sizeof(generated_secrets[0]); g++)
			if (strcmp(schema[i].path, generated_secrets[g]) == 0 && secret_bits(v) < 256)
				return ra_err_set(
					err, RA_E_CONFIG, schema[i].path,
					"configuration key '%s' is too weak: at least 32 bytes of entropy "
					"(e.g. openssl rand -hex 32)",
					schema[i].path);
	}
	return 0;
}

int config_check(const struct config *cfg, struct ra_err *err)
{
	int rc;

	if ((rc = check_secrets(cfg, err)) != 0)
		return rc;

	for (size_t i = 0; i < NKEYS; i++) {
		if (schema[i].required && (rc = need_key(cfg, schema[i].path, "required", err)) != 0)
			return rc;
	}
	for (size_t i = 0; i < sizeof(needs) / sizeof(needs[0]); i++) {
		char because[192];
		if (!is_set(cfg, needs[i].when))
			continue;
		snprintf(because, sizeof(because), "%s is set, and %s", needs[i].when, needs[i].why);
		if ((rc = need_key(cfg, needs[i].need, because, err)) != 0)
			return rc;
	}
	if ((rc = check_smtp_tls(cfg, err)) != 0)
		return rc;
	return check_local_ca(cfg, err);
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
		json_t *v = get_path(copy, schema[i].path);
		/* every key of the schema is shown, unset ones as null: the output lists what exists */
		if (v == NULL)
			set_path(copy, schema[i].path, json_null());
		else if (schema[i].secret && !json_is_null(v))
			set_path(copy, schema[i].path, json_string("********"));
	}
	text = json_dumps(copy, JSON_INDENT(2) | JSON_SORT_KEYS);
	fprintf(out, "%s\n", text ? text : "{}");
	free(text);
	json_decref(copy);
}
