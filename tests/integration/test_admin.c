/* test_admin.c - admin API authentication: tokens stored as hashes, 401 and 403 (issue #7). */
#include <criterion/criterion.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tests/lib/rt.h"

static char *make_token(const char *db, const char *name, const char *role)
{
	char dbenv[600], *out = NULL;
	const char *env[] = {dbenv, NULL};

	snprintf(dbenv, sizeof(dbenv), "RA_DATABASE_URL=%s", db);
	cr_assert_eq(rt_ra_cmd(env, &out, "token", "create", "--name", name, "--role", role,
			       "--no-customer-account", NULL),
		     0, "%s", out);
	out[strcspn(out, "\n")] = '\0';
	return out;
}

static long whoami(const struct rt_ra *ra, const char *token, char **body)
{
	char url[256], auth[256];
	const char *h[] = {auth, NULL};
	struct rt_resp r;

	snprintf(url, sizeof(url), "%s/v1/admin/whoami", ra->base);
	snprintf(auth, sizeof(auth), "Authorization: Bearer %s", token);
	cr_assert_eq(rt_http("GET", url, token ? h : NULL, NULL, 0, &r), 0);
	if (body)
		*body = r.body;
	else
		rt_resp_free(&r);
	return r.status;
}

Test(admin, token_is_printed_once_and_stored_only_as_hash)
{
	char *db = rt_db_new();
	char *tok = make_token(db, "alice", "support");
	char sql[256], *n;
	struct rt_ra ra;
	char *body = NULL;

	cr_expect_geq(strlen(tok), 32);
	snprintf(sql, sizeof(sql), "SELECT count(*) FROM support_tokens WHERE token_hash LIKE '%%%s%%'", tok);
	n = rt_sql(db, sql);
	cr_expect_str_eq(n, "0", "the token itself is not in the database");
	free(n);
	cr_assert_eq(rt_ra_start(&ra, db, NULL), 0);
	cr_expect_eq(whoami(&ra, tok, &body), 200);
	cr_expect(strstr(body, "\"name\":\"alice\"") && strstr(body, "\"role\":\"support\""), "%s", body);
	free(body);
	rt_ra_stop(&ra, SIGTERM);
	free(tok);
	free(db);
}

Test(admin, missing_wrong_or_revoked_token_gets_401)
{
	char *db = rt_db_new();
	char *tok = make_token(db, "bob", "admin");
	struct rt_ra ra;
	char *body = NULL;

	cr_assert_eq(rt_ra_start(&ra, db, NULL), 0);
	cr_expect_eq(whoami(&ra, NULL, NULL), 401);
	cr_expect_eq(whoami(&ra, "not-a-real-token", &body), 401);
	cr_expect(strstr(body, "\"error\":\"unauthorized\"") != NULL, "%s", body);
	free(body);
	cr_expect_eq(whoami(&ra, tok, NULL), 200);
	{
		/* revoked through the admin API by another admin, as `ractl token revoke` does */
		char url[256], auth[256], *ada = make_token(db, "ada", "admin");
		char *id = rt_sql(db, "SELECT id FROM support_tokens WHERE name = 'bob'");
		const char *h[] = {auth, "Content-Type: application/json", NULL};
		const char *rb = "{\"reason\": \"laptop lost\"}";
		struct rt_resp r;

		snprintf(url, sizeof(url), "%s/v1/admin/tokens/%s/revoke", ra.base, id);
		snprintf(auth, sizeof(auth), "Authorization: Bearer %s", ada);
		cr_assert_eq(rt_http("POST", url, h, rb, strlen(rb), &r), 0);
		cr_expect_eq(r.status, 200, "token revoke: %ld %s", r.status, r.body ? r.body : "");
		rt_resp_free(&r);
		free(ada);
		free(id);
	}
	cr_expect_eq(whoami(&ra, tok, NULL), 401, "a revoked token no longer works");
	rt_ra_stop(&ra, SIGTERM);
	free(tok);
	free(db);
}

Test(admin, token_create_refuses_unknown_role_and_bad_name)
{
	char *db = rt_db_new();
	char dbenv[600], *out = NULL;
	const char *env[] = {dbenv, NULL};

	snprintf(dbenv, sizeof(dbenv), "RA_DATABASE_URL=%s", db);
	cr_expect_neq(rt_ra_cmd(env, &out, "token", "create", "--name", "eve", "--role", "root",
				"--no-customer-account", NULL),
		      0);
	cr_expect(strstr(out, "role") != NULL, "%s", out);
	free(out);
	cr_expect_neq(rt_ra_cmd(env, &out, "token", "create", "--name", "bad name;drop", "--role", "support",
				"--no-customer-account", NULL),
		      0);
	free(out);
	out = rt_sql(db, "SELECT count(*) FROM support_tokens");
	cr_expect_str_eq(out, "0", "nothing written by refused commands");
	free(out);
	free(db);
}

Test(admin, r19_token_must_declare_the_support_users_own_account)
{
	char *db = rt_db_new();
	char dbenv[600], *out = NULL;
	const char *env[] = {dbenv, NULL};

	snprintf(dbenv, sizeof(dbenv), "RA_DATABASE_URL=%s", db);
	cr_expect_eq(rt_ra_cmd(env, &out, "token", "create", "--name", "carl", "--role", "support", NULL), 2);
	cr_expect(strstr(out, "R19") != NULL, "names the rule: %s", out);
	free(out);
	cr_expect_eq(rt_ra_cmd(env, &out, "token", "create", "--name", "carl", "--role", "support",
			       "--user-id", "AAAA-AAAA-AAAA-AAAA", "--no-customer-account", NULL),
		     2, "not both");
	free(out);
	out = rt_sql(db, "SELECT count(*) FROM support_tokens");
	cr_expect_str_eq(out, "0", "no token made");
	free(out);
	free(db);
}
