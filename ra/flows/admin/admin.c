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
	" WHERE t.token_hash = $1 AND t.revoked_at IS NULL";
/* The token and (with --user-id) the R19 link commit together; without --user-id an existing
 * link stays: a new token must not make a support user forget who they are. */
static const char *sql_create =
	"WITH t AS (INSERT INTO support_tokens (name, role, token_hash) VALUES ($1, $2, $3) RETURNING id),"
	" s AS (INSERT INTO support_staff (name, user_id) SELECT $1, $4 WHERE $4::text IS NOT NULL"
	"  ON CONFLICT (name) DO UPDATE SET user_id = EXCLUDED.user_id, updated_at = now() RETURNING name)"
	" SELECT id FROM t";

struct auth {
	struct http_req *hr;
	char need[16];
	admin_cb cb;
	void *data;
};

static int role_covers(const char *have, const char *need)
{
	if (strcmp(have, "admin") == 0)
		return 1;
	return strcmp(have, need) == 0;
}

static void on_lookup(PGresult *res, const struct ra_err *err, void *data)
{
	struct auth *a = data;
	struct admin_user who;

	if (err) {
		http_reply_error(a->hr, err);
		goto out;
	}
	if (PQntuples(res) != 1) {
		http_reply_errorf(a->hr, RA_E_AUTH, "Authorization", "unknown or revoked token");
		goto out;
	}
	memset(&who, 0, sizeof(who));
	who.token_id = strtoll(PQgetvalue(res, 0, 0), NULL, 10);
	snprintf(who.name, sizeof(who.name), "%s", PQgetvalue(res, 0, 1));
	snprintf(who.role, sizeof(who.role), "%s", PQgetvalue(res, 0, 2));
	snprintf(who.user_id, sizeof(who.user_id), "%s", PQgetvalue(res, 0, 3));
	if (!role_covers(who.role, a->need)) {
		http_reply_errorf(a->hr, RA_E_FORBIDDEN, "", "role '%s' may not do this (needs '%s')", who.role, a->need);
		goto out;
	}
	a->cb(a->hr, &who, a->data);
out:
	free(a);
}

void admin_authorize(struct http_req *hr, const char *need_role, admin_cb cb, void *data)
{
	size_t len = 0;
	const char *h = http_header(hr, "authorization", &len);
	char token[256], hash[SECRET_HASH_HEX_MAX];
	const char *params[1] = {hash};
	struct auth *a;

	if (h == NULL || len < 8 || strncasecmp(h, "Bearer ", 7) != 0 || len - 7 >= sizeof(token)) {
		http_reply_errorf(hr, RA_E_AUTH, "Authorization", "a bearer token is required");
		return;
	}
	memcpy(token, h + 7, len - 7);
	token[len - 7] = '\0';
	if (secret_token_hash(token, hash, sizeof(hash)) != 0) {
		OPENSSL_cleanse(token, sizeof(token));
		http_reply_errorf(hr, RA_E_AUTH, "Authorization", "malformed token");
		return;
	}
	OPENSSL_cleanse(token, sizeof(token));
	a = calloc(1, sizeof(*a));
	if (a == NULL) {
		http_reply_errorf(hr, RA_E_NOMEM, "", "out of memory");
		return;
	}
	a->hr = hr;
	snprintf(a->need, sizeof(a->need), "%s", need_role);
	a->cb = cb;
	a->data = data;
	db_query(hr->app->db, sql_lookup, 1, params, on_lookup, a);
}

int admin_token_create(const char *conninfo, const char *name, const char *role, const char *user_id,
		       char *token_out, size_t cap, struct ra_err *err)
{
	char hash[SECRET_HASH_HEX_MAX];
	const char *params[4] = {name, role, hash, user_id};
	PGconn *c;
	PGresult *r;
	int rc = 0;

	if (strcmp(role, "support") != 0 && strcmp(role, "admin") != 0)
		return ra_err_set(err, RA_E_INVALID, "role", "role must be 'support' or 'admin'");
	if (secret_random_token(token_out, cap) != 0 || secret_token_hash(token_out, hash, sizeof(hash)) != 0)
		return ra_err_set(err, RA_E_INTERNAL, "", "cannot make a random token");
	c = PQconnectdb(conninfo);
	if (PQstatus(c) != CONNECTION_OK) {
		rc = ra_err_set(err, RA_E_UNAVAILABLE, "database_url", "%s", PQerrorMessage(c));
		goto out;
	}
	r = PQexecParams(c, sql_create, 4, NULL, params, NULL, NULL, 0);
	if (PQresultStatus(r) != PGRES_TUPLES_OK) {
		rc = db_result_err(r, err);
		if (strstr(err->field, "user_id") || strstr(err->msg, "user_id"))
			snprintf(err->field, sizeof(err->field), "user_id");
		else if (strstr(err->msg, "name"))
			snprintf(err->field, sizeof(err->field), "name");
	}
	PQclear(r);
out:
	PQfinish(c);
	if (rc)
		OPENSSL_cleanse(token_out, cap);
	return rc;
}
