/* admin.c - bearer-token authentication for the admin API; see admin.h. */
#include "ra/flows/admin/admin.h"

#include <libpq-fe.h>
#include <openssl/crypto.h>
#include <stdlib.h>
#include <string.h>

#include "ra/db/db.h"
#include "ra/base/secret.h"

static const char *sql_lookup =
	"SELECT t.id, t.name, t.role, s.user_id FROM support_tokens t LEFT JOIN support_staff s ON s.name = t.name"
	" WHERE t.token_hash = $1 AND t.revoked_at IS NULL AND (t.expires_at IS NULL OR t.expires_at > now())";
/* The token and (with --user-id) the R19 link commit together; without --user-id an existing
 * link stays: a new token must not make a support user forget who they are. */
static const char *sql_create =
	"WITH t AS (INSERT INTO support_tokens (name, role, token_hash, expires_at) VALUES ($1, $2, $3,"
	"  CASE WHEN $5::int > 0 THEN now() + make_interval(days => $5::int) END) RETURNING id),"
	" s AS (INSERT INTO support_staff (name, user_id) SELECT $1, $4 WHERE $4::text IS NOT NULL"
	"  ON CONFLICT (name) DO UPDATE SET user_id = EXCLUDED.user_id, updated_at = now() RETURNING name)"
	" SELECT id FROM t";

struct auth {
	struct http_req *hr;
	char need[16];
	admin_auth_cb cb;
	void *data;
};

/* admin includes support.  signing is a role of its own both ways: a signing token reaches
 * only the signing service's routes, and those routes take no support or admin token, so a
 * leaked signing token cannot revoke and a support desk cannot activate (issue #13). */
static int role_covers(const char *have, const char *need)
{
	if (strcmp(have, need) == 0)
		return 1;
	return strcmp(have, "admin") == 0 && strcmp(need, "support") == 0;
}

static void on_lookup(PGresult *res, const struct ra_err *err, void *data)
{
	struct auth *a = data;
	struct admin_user who;
	struct ra_err e;

	if (err) {
		a->cb(a->hr, NULL, err, a->data);
		goto out;
	}
	if (PQntuples(res) != 1) {
		ra_err_set(&e, RA_E_AUTH, "Authorization", "unknown, revoked or expired token");
		a->cb(a->hr, NULL, &e, a->data);
		goto out;
	}
	memset(&who, 0, sizeof(who));
	who.token_id = strtoll(PQgetvalue(res, 0, 0), NULL, 10);
	snprintf(who.name, sizeof(who.name), "%s", PQgetvalue(res, 0, 1));
	snprintf(who.role, sizeof(who.role), "%s", PQgetvalue(res, 0, 2));
	snprintf(who.user_id, sizeof(who.user_id), "%s", PQgetvalue(res, 0, 3));
	if (!role_covers(who.role, a->need)) {
		ra_err_set(&e, RA_E_FORBIDDEN, "", "role '%s' may not do this (needs '%s')", who.role,
			   a->need);
		a->cb(a->hr, NULL, &e, a->data);
		goto out;
	}
	a->cb(a->hr, &who, NULL, a->data);
out:
	free(a);
}

void admin_authenticate(struct http_req *hr, const char *need_role, admin_auth_cb cb, void *data)
{
	size_t len = 0;
	const char *h = http_header(hr, "authorization", &len);
	char token[256], hash[SECRET_HASH_HEX_MAX];
	const char *params[1] = {hash};
	struct ra_err e;
	struct auth *a;

	if (h == NULL || len < 8 || strncasecmp(h, "Bearer ", 7) != 0 || len - 7 >= sizeof(token)) {
		ra_err_set(&e, RA_E_AUTH, "Authorization", "a bearer token is required");
		cb(hr, NULL, &e, data);
		return;
	}
	memcpy(token, h + 7, len - 7);
	token[len - 7] = '\0';
	if (secret_token_hash(token, hash, sizeof(hash)) != 0) {
		OPENSSL_cleanse(token, sizeof(token));
		ra_err_set(&e, RA_E_AUTH, "Authorization", "malformed token");
		cb(hr, NULL, &e, data);
		return;
	}
	OPENSSL_cleanse(token, sizeof(token));
	a = calloc(1, sizeof(*a));
	if (a == NULL) {
		ra_err_set(&e, RA_E_NOMEM, "", "out of memory");
		cb(hr, NULL, &e, data);
		return;
	}
	a->hr = hr;
	snprintf(a->need, sizeof(a->need), "%s", need_role);
	a->cb = cb;
	a->data = data;
	db_query(hr->app->db, sql_lookup, 1, params, on_lookup, a);
}

/* admin_authorize in terms of admin_authenticate: refusals answered in the API's format. */
struct plain {
	admin_cb cb;
	void *data;
};

static void on_plain(struct http_req *hr, const struct admin_user *who, const struct ra_err *err, void *data)
{
	struct plain p = *(struct plain *)data;

	free(data);
	if (who == NULL)
		http_reply_error(hr, err);
	else
		p.cb(hr, who, p.data);
}

void admin_authorize(struct http_req *hr, const char *need_role, admin_cb cb, void *data)
{
	struct plain *p = calloc(1, sizeof(*p));

	if (p == NULL) {
		http_reply_errorf(hr, RA_E_NOMEM, "", "out of memory");
		return;
	}
	p->cb = cb;
	p->data = data;
	admin_authenticate(hr, need_role, on_plain, p);
}

int admin_token_create(const char *conninfo, const char *name, const char *role, const char *user_id,
		       int expires_days, char *token_out, size_t cap, struct ra_err *err)
{
	char hash[SECRET_HASH_HEX_MAX], days[16];
	const char *params[5] = {name, role, hash, user_id, days};
	PGconn *c;
	PGresult *r;
	int rc = 0;

	if (strcmp(role, "support") != 0 && strcmp(role, "admin") != 0 && strcmp(role, "signing") != 0)
		return ra_err_set(err, RA_E_INVALID, "role", "role must be 'support', 'admin' or 'signing'");
	/* the signing service is a machine, never anybody's own customer account (R19 link) */
	if (strcmp(role, "signing") == 0 && user_id != NULL)
		return ra_err_set(err, RA_E_INVALID, "user_id",
				  "a signing token has no customer account: use "
				  "--no-customer-account");
	if (expires_days < 0 || expires_days > 3650)
		return ra_err_set(err, RA_E_INVALID, "expires_in_days",
				  "--expires-in-days must be from 1 to 3650");
	snprintf(days, sizeof(days), "%d", expires_days);
	if (secret_random_token(token_out, cap) != 0 || secret_token_hash(token_out, hash, sizeof(hash)) != 0)
		return ra_err_set(err, RA_E_INTERNAL, "", "cannot make a random token");
	c = PQconnectdb(conninfo);
	if (PQstatus(c) != CONNECTION_OK) {
		rc = ra_err_set(err, RA_E_UNAVAILABLE, "database_url", "%s", PQerrorMessage(c));
		goto out;
	}
	r = PQexecParams(c, sql_create, 5, NULL, params, NULL, NULL, 0);
	if (PQresultStatus(r) != PGRES_TUPLES_OK) {
		rc = db_result_err(r, err);
		if (strstr(err->field, "user_id") || strstr(err->msg, "user_id"))
			snprintf(err->field, sizeof(err->field), "user_id");
		else if (strstr(err->field, "name") || strstr(err->msg, "name"))
			snprintf(err->field, sizeof(err->field), "name");
	}
	PQclear(r);
out:
	PQfinish(c);
	if (rc)
		OPENSSL_cleanse(token_out, cap);
	return rc;
}
