/*
 * ident_callback.c - POST /v1/ident/idnow.  IDnow signs nothing, so the caller is
 * authenticated by the configured secret (HTTP Basic password or X-Callback-Token, compared
 * in constant time) and an optional source allowlist, and the body is only a trigger: the
 * ident_result job fetches the provider's own record before anything is decided.
 */
#include <arpa/inet.h>
#include <ctype.h>
#include <openssl/crypto.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ra/base/config.h"
#include "ra/db/db.h"
#include "ra/db/outbox.h"
#include "ra/net/http.h"
#include "ra/flows/ident/ident.h"
#include "ra/base/log.h"
#include "ra/flows/ident/invite.h"
#include "ra/jobs/jobs.h"
#include "ra/base/seal.h"
#include "ra/base/secret.h"

/* The order waiting for this transaction number, if any, whether an earlier attempt with it
 * was decided already, and the phone change (R3, issue #17) whose own number it is. */
static const char *sql_order =
	"SELECT (SELECT id FROM orders WHERE ident_tx = $1), EXISTS (SELECT 1 FROM identifications WHERE tx = $1),"
	" (SELECT id::text FROM phone_changes WHERE ident_tx = $1)";

/* the job the admin flow runs for a phone change's identification (ra/flows/admin/phone_jobs.h) */
#define PHONE_IDENT_RESULT_KIND "phone_ident_result"

/* ---- source allowlist ------------------------------------------------------------------- */

static int prefix_match(const unsigned char *a, const unsigned char *b, int bits)
{
	int full = bits / 8, rest = bits % 8;

	if (memcmp(a, b, (size_t)full) != 0)
		return 0;
	return rest == 0 || ((a[full] ^ b[full]) & (0xff << (8 - rest))) == 0;
}

static int entry_match(const char *entry, const char *addr)
{
	char net[64];
	const char *slash = strchr(entry, '/');
	unsigned char a[16], n[16];
	int fam = strchr(addr, ':') ? AF_INET6 : AF_INET, max = fam == AF_INET6 ? 128 : 32, bits = max;
	size_t len = slash ? (size_t)(slash - entry) : strlen(entry);

	if (len == 0 || len >= sizeof(net))
		return 0;
	memcpy(net, entry, len);
	net[len] = '\0';
	if (slash) {
		char *end;
		long b = strtol(slash + 1, &end, 10);
		if (*end != '\0' || end == slash + 1 || b < 0 || b > max)
			return 0;
		bits = (int)b;
	}
	if (inet_pton(fam, addr, a) != 1 || inet_pton(fam, net, n) != 1)
		return 0;
	return prefix_match(a, n, bits);
}

int ident_addr_allowed(const char *list, const char *addr)
{
	char entry[96];
	size_t n;

	if (list == NULL || addr == NULL || *addr == '\0')
		return 0;
	while (*list) {
		n = strcspn(list, ", \t");
		if (n > 0 && n < sizeof(entry)) {
			memcpy(entry, list, n);
			entry[n] = '\0';
			if (entry_match(entry, addr))
				return 1;
		}
		list += n;
		list += strspn(list, ", \t");
	}
	return 0;
}

/* ---- authentication --------------------------------------------------------------------- */

/* The password of an HTTP Basic header, into out (wiped by the caller). */
static int basic_password(const char *h, size_t len, char *out, size_t cap)
{
	uint8_t dec[512];
	size_t n = 0;
	char b64[700];
	const uint8_t *colon;

	if (len < 7 || strncasecmp(h, "Basic ", 6) != 0 || len - 6 >= sizeof(b64))
		return -1;
	memcpy(b64, h + 6, len - 6);
	b64[len - 6] = '\0';
	if (secret_b64_decode(b64, dec, sizeof(dec) - 1, &n) != 0)
		return -1;
	colon = memchr(dec, ':', n);
	if (colon == NULL || (size_t)(dec + n - colon - 1) >= cap) {
		OPENSSL_cleanse(dec, sizeof(dec));
		return -1;
	}
	n = (size_t)(dec + n - colon - 1);
	memcpy(out, colon + 1, n);
	out[n] = '\0';
	OPENSSL_cleanse(dec, sizeof(dec));
	return (int)n;
}

static int caller_ok(struct http_req *hr)
{
	const char *secret = cfg_str(hr->app->cfg, "ident.callback_secret");
	size_t slen = secret ? strlen(secret) : 0, len = 0;
	const char *tok = http_header(hr, "x-callback-token", &len);
	char pw[512];
	int n, ok = 0;

	if (tok != NULL)
		ok = secret_equal(secret, slen, tok, len);
	tok = http_header(hr, "authorization", &len);
	if (!ok && tok != NULL && (n = basic_password(tok, len, pw, sizeof(pw))) >= 0) {
		ok = secret_equal(secret, slen, pw, (size_t)n);
		OPENSSL_cleanse(pw, sizeof(pw));
	}
	return ok; /* an unset secret matches nothing (secret_equal) */
}

/* ---- the route -------------------------------------------------------------------------- */

struct cb {
	struct http_req *hr;
	char tx[101];
	char claimed[41];
};

static void on_queued(const int *rows, const struct ra_err *err, void *data)
{
	struct cb *c = data;

	if (err != NULL) {
		http_reply_error(c->hr, err);
	} else {
		log_info("ident.callback", "tx", c->tx, "queued", rows[0] ? "yes" : "repeat", NULL);
		http_reply_json(c->hr, 200,
				json_pack("{s:s, s:s}", "status", rows[0] ? "accepted" : "duplicate",
					  "transactionnumber", c->tx));
	}
	free(c);
}

/* The job for a waiting order (outbox).  The idempotency key includes the claimed result so
 * that REVIEW_PENDING and the later final result are two triggers, while a repeated delivery
 * of the same one is one. */
static void on_order(PGresult *res, const struct ra_err *err, void *data)
{
	struct cb *c = data;
	struct outbox ob = {0};
	const char *order;
	char key[192];

	if (err != NULL) {
		http_reply_error(c->hr, err);
		goto out;
	}
	order = db_val(res, 0, 0);
	if (order == NULL && db_val(res, 0, 2) != NULL) {
		/* a phone change's identification: the same trigger, its own job decides */
		snprintf(key, sizeof(key), "phone_ident_result:%s:%s", c->tx, c->claimed);
		ob_job(&ob, &(struct ob_job){.kind = PHONE_IDENT_RESULT_KIND,
					     .payload = json_pack("{s:s, s:s, s:s}", "phone_change_id",
								  db_val(res, 0, 2), "tx", c->tx, "claimed",
								  c->claimed),
					     .key = key});
		ob_commit(&ob, c->hr->app->db, on_queued, c);
		return;
	}
	if (order == NULL && PQgetvalue(res, 0, 1)[0] == 't') {
		/* a decided earlier attempt: nothing waits for it any more */
		http_reply_json(c->hr, 200,
				json_pack("{s:s, s:s}", "status", "ignored", "transactionnumber", c->tx));
		goto out;
	}
	if (order == NULL) {
		http_reply_errorf(c->hr, RA_E_NOTFOUND, "identificationprocess.transactionnumber",
				  "unknown transaction number");
		goto out;
	}
	snprintf(key, sizeof(key), "ident_result:%s:%s", c->tx, c->claimed);
	ob_job(&ob, &(struct ob_job){.kind = "ident_result",
				     .payload = json_pack("{s:I, s:s, s:s}", "order_id",
							  (json_int_t)strtoll(order, NULL, 10), "tx", c->tx,
							  "claimed", c->claimed),
				     .key = key});
	ob_commit(&ob, c->hr->app->db, on_queued, c);
	return;
out:
	free(c);
}

static int plain(const char *s, size_t max, int (*ok)(int))
{
	size_t n = 0;

	for (; s[n]; n++)
		if (!ok((unsigned char)s[n]) && s[n] != '-' && s[n] != '_' && s[n] != '.')
			return 0;
	return n > 0 && n <= max;
}

static int upper_ok(int c)
{
	return isupper(c);
}

static void route_idnow(struct http_req *hr)
{
	const char *allow = cfg_str(hr->app->cfg, "ident.callback_allow");
	char peer[64];
	struct ra_err err;
	json_t *body, *proc;
	const char *tx, *claimed;
	struct cb *c;

	if (!caller_ok(hr)) {
		http_peer(hr, peer, sizeof(peer));
		log_warn("ident.callback_refused", "peer", peer, "why", "secret", NULL);
		http_reply_errorf(hr, RA_E_AUTH, "Authorization",
				  "callback secret required (Basic or X-Callback-Token)");
		return;
	}
	http_peer(hr, peer, sizeof(peer));
	if (allow != NULL && *allow != '\0' && !ident_addr_allowed(allow, peer)) {
		log_warn("ident.callback_refused", "peer", peer, "why", "source", NULL);
		http_reply_errorf(hr, RA_E_FORBIDDEN, "", "source address not allowed");
		return;
	}
	if ((body = http_body_json(hr, &err)) == NULL) {
		http_reply_error(hr, &err);
		return;
	}
	proc = json_object_get(body, "identificationprocess");
	tx = json_string_value(json_object_get(proc, "transactionnumber"));
	claimed = json_string_value(json_object_get(proc, "result"));
	if (tx == NULL || !plain(tx, 100, isalnum)) {
		json_decref(body);
		http_reply_errorf(hr, RA_E_INVALID, "identificationprocess.transactionnumber",
				  "a transaction number is required");
		return;
	}
	c = calloc(1, sizeof(*c));
	if (c == NULL)
		abort();
	c->hr = hr;
	snprintf(c->tx, sizeof(c->tx), "%s", tx);
	snprintf(c->claimed, sizeof(c->claimed), "%s",
		 claimed && plain(claimed, 40, upper_ok) ? claimed : "unknown");
	{
		const char *p[] = {c->tx};
		db_query(hr->app->db, sql_order, 1, p, on_order, c);
	}
	json_decref(body);
}

int ident_init(struct app *app, struct ra_err *err)
{
	/* the provider's jobs in a lane sized to its call bound (docs/jobs.md) */
	jobs_lane(app->jobs, "ident_invite", JOBS_LANE_IDENT);
	jobs_lane(app->jobs, "ident_result", JOBS_LANE_IDENT);
	http_route(app->http, "POST", "/v1/ident/idnow", 0, "ident_idnow", route_idnow, NULL);
	if (cfg_str(app->cfg, "evidence.key") != NULL) {
		uint8_t key[SEAL_KEY_LEN];
		int rc = seal_key_parse(cfg_str(app->cfg, "evidence.key"), "evidence.key", key, err);
		OPENSSL_cleanse(key, sizeof(key));
		if (rc != 0)
			return rc; /* a malformed key stops start-up, naming the key, never its value */
	} else {
		log_warn("ident.no_evidence_key", "message",
			 "evidence.key unset: identification results wait (R18)", NULL);
	}
	if (cfg_str(app->cfg, "ident.callback_secret") == NULL)
		log_warn("ident.no_callback_secret", "message",
			 "ident.callback_secret unset: every callback gets 401", NULL);
	if (app->httpc == NULL) /* server.c creates it before the modules */
		return ra_err_set(err, RA_E_INTERNAL, "", "no HTTP/SMTP client for the ident provider");
	return 0;
}

const struct job_kind ident_job_kinds[] = {
	{"ident_invite", invite_run, INVITE_MAX_ATTEMPTS, NULL},
	{"ident_result", ident_result_run, IDENT_RESULT_MAX_ATTEMPTS, NULL},
	{NULL, NULL, 0, NULL},
};
