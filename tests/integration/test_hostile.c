/*
 * test_hostile.c - what a hostile client or a careless operator tried in issue #20's probe:
 * TLS 1.2 with static-RSA/CBC ciphers, configuration keys with a literal dot, numbers out of
 * range, %00 in a path, database error text in answers.  Each against the real `ra serve`
 * (or `ra --print-config`) and the run's PostgreSQL.
 */
#include <criterion/criterion.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tests/lib/rt.h"

/* A self-signed RSA certificate: with an EC one the static-RSA suites could never be chosen
 * anyway, and the test would prove nothing. */
static void rsa_cert(const char *dir)
{
	char cmd[1024];

	snprintf(cmd, sizeof(cmd),
		 "openssl req -x509 -newkey rsa:2048 -nodes -days 1 -subj /CN=127.0.0.1 -keyout %s/key.pem "
		 "-out %s/cert.pem >/dev/null 2>&1",
		 dir, dir);
	cr_assert_eq(system(cmd), 0);
}

/* openssl s_client -tls1_2 -cipher LIST: 1 when the handshake completed with that list. */
static int tls12_connects(int port, const char *cipher)
{
	char cmd[512];

	snprintf(cmd, sizeof(cmd),
		 "openssl s_client -connect 127.0.0.1:%d -tls1_2 -cipher %s </dev/null >/dev/null 2>&1", port,
		 cipher);
	return system(cmd) == 0;
}

Test(hostile, tls12_refuses_static_rsa_and_cbc_and_speaks_ecdhe_gcm, .timeout = 90)
{
	char *dir = rt_tmpdir(), *db = rt_db_new(), certenv[600], keyenv[600];
	const char *env[] = {certenv, keyenv, NULL};
	struct rt_ra ra;

	rsa_cert(dir);
	snprintf(certenv, sizeof(certenv), "RA_TLS_CERT=%s/cert.pem", dir);
	snprintf(keyenv, sizeof(keyenv), "RA_TLS_KEY=%s/key.pem", dir);
	cr_assert_eq(rt_ra_start(&ra, db, env), 0);
	cr_expect_not(tls12_connects(ra.port, "AES128-SHA"), "static RSA + CBC-SHA1 accepted");
	cr_expect_not(tls12_connects(ra.port, "AES256-GCM-SHA384"), "static RSA key exchange accepted");
	cr_expect_not(tls12_connects(ra.port, "ECDHE-RSA-AES128-SHA"), "CBC accepted");
	cr_expect(tls12_connects(ra.port, "ECDHE-RSA-AES128-GCM-SHA256"),
		  "the intermediate list's first RSA suite");
	cr_expect(tls12_connects(ra.port, "DHE-RSA-AES256-GCM-SHA384"),
		  "DHE with OpenSSL's automatic groups");
	cr_expect_eq(rt_ra_stop(&ra, SIGTERM), 0);
	free(db);
	free(dir);
}

Test(hostile, tls_ciphers_are_configurable_and_a_list_of_nothing_is_refused, .timeout = 90)
{
	char *dir = rt_tmpdir(), *db = rt_db_new(), certenv[600], keyenv[600], dbenv[600], *out = NULL;
	const char *env[] = {certenv, keyenv, "RA_TLS_CIPHERS=ECDHE-RSA-AES256-GCM-SHA384", NULL};
	const char *bad[] = {certenv, keyenv, dbenv, "RA_TLS_CIPHERS=NO-SUCH-CIPHER", NULL};
	struct rt_ra ra;

	rsa_cert(dir);
	snprintf(certenv, sizeof(certenv), "RA_TLS_CERT=%s/cert.pem", dir);
	snprintf(keyenv, sizeof(keyenv), "RA_TLS_KEY=%s/key.pem", dir);
	snprintf(dbenv, sizeof(dbenv), "RA_DATABASE_URL=%s", db);
	cr_assert_eq(rt_ra_start(&ra, db, env), 0);
	cr_expect(tls12_connects(ra.port, "ECDHE-RSA-AES256-GCM-SHA384"), "the configured suite");
	cr_expect_not(tls12_connects(ra.port, "ECDHE-RSA-AES128-GCM-SHA256"), "a suite not in tls.ciphers");
	cr_expect_eq(rt_ra_stop(&ra, SIGTERM), 0);
	cr_expect_neq(rt_ra_cmd(bad, &out, "serve", NULL), 0);
	cr_expect(strstr(out, "tls.ciphers") != NULL, "names the key: %s", out);
	free(out);
	free(db);
	free(dir);
}

/* {"pkcs11.pin": ...} was accepted, not applied, and printed unmasked by --print-config. */
Test(hostile, config_key_with_a_literal_dot_is_refused_and_never_printed)
{
	char *dir = rt_tmpdir(), path[600], *out = NULL;
	FILE *f;

	snprintf(path, sizeof(path), "%s/dot.json", dir);
	f = fopen(path, "w");
	cr_assert_not_null(f);
	fputs("{\"database_url\": \"postgresql:///x\", \"pkcs11.pin\": \"pin-in-the-clear-4711\"}", f);
	fclose(f);
	cr_expect_neq(rt_ra_cmd(NULL, &out, "--config", path, "--print-config", NULL), 0, "%s", out);
	cr_expect(strstr(out, "pkcs11.pin") != NULL, "names the key: %s", out);
	cr_expect(strstr(out, "pin-in-the-clear-4711") == NULL, "secret printed: %s", out);
	free(out);
	f = fopen(path, "w");
	fputs("{\"database_url\": \"postgresql:///x\", \"http\": {\"max.body\": 1}}", f);
	fclose(f);
	cr_expect_neq(rt_ra_cmd(NULL, &out, "--config", path, "--print-config", NULL), 0, "%s", out);
	cr_expect(strstr(out, "max.body") != NULL, "a dot deeper down too: %s", out);
	free(out);
	free(dir);
}

Test(hostile, numbers_out_of_range_are_refused_naming_the_key)
{
	static const char *cases[][2] = {
		{"RA_HTTP_MAX_BODY=-1", "http.max_body"},
		{"RA_DB_POOL_SIZE=0", "db.pool_size"},
		{"RA_JOBS_WORKERS=100000", "jobs.workers"},
		{"RA_HTTP_MAX_HEADER_BYTES=-5", "http.max_header_bytes"},
		{"RA_JOBS_LEASE_MS=-1000", "jobs.lease_ms"},
	};
	char *out = NULL;

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		const char *env[] = {"RA_DATABASE_URL=postgresql:///x", cases[i][0], NULL};
		cr_expect_neq(rt_ra_cmd(env, &out, "--print-config", NULL), 0, "%s accepted: %s", cases[i][0],
			      out);
		cr_expect(strstr(out, cases[i][1]) != NULL, "%s: names %s: %s", cases[i][0], cases[i][1],
			  out);
		free(out);
	}
	{
		const char *env[] = {"RA_DATABASE_URL=postgresql:///x", "RA_HTTP_MAX_BODY=4096", NULL};
		cr_expect_eq(rt_ra_cmd(env, &out, "--print-config", NULL), 0, "in range: %s", out);
		free(out);
	}
}

Test(hostile, smtp_tls_takes_three_values_and_credentials_need_it)
{
	static const char *cases[][4] = {
		{"RA_SMTP_TLS=sometimes", NULL, NULL, NULL},
		{"RA_SMTP_TLS=opportunistic", "RA_SMTP_USER=ra", "RA_SMTP_PASSWORD=pw-of-the-relay", NULL},
		{"RA_SMTP_TLS=none", "RA_SMTP_URL=smtps://mail.example:465", NULL, NULL},
	};
	char *out = NULL;

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		const char *env[] = {"RA_DATABASE_URL=postgresql:///x", cases[i][0], cases[i][1], cases[i][2],
				     NULL};
		cr_expect_neq(rt_ra_cmd(env, &out, "--print-config", NULL), 0, "%s accepted: %s", cases[i][0],
			      out);
		cr_expect(strstr(out, "smtp.tls") != NULL, "%s: %s", cases[i][0], out);
		cr_expect(strstr(out, "pw-of-the-relay") == NULL, "%s", out);
		free(out);
	}
	{
		const char *env[] = {"RA_DATABASE_URL=postgresql:///x", "RA_SMTP_TLS=opportunistic", NULL};
		cr_expect_eq(rt_ra_cmd(env, &out, "--print-config", NULL), 0, "%s", out);
		cr_expect(strstr(out, "\"opportunistic\"") != NULL, "%s", out);
		free(out);
	}
}

static long get(const struct rt_ra *ra, const char *path, char **body)
{
	char url[512];
	struct rt_resp r;

	snprintf(url, sizeof(url), "%s%s", ra->base, path);
	cr_assert_eq(rt_http("GET", url, NULL, NULL, 0, &r), 0);
	*body = r.body;
	return r.status;
}

/* /healthz%00junk was served as /healthz: the C string ended at the NUL */
Test(hostile, nul_in_the_path_is_400_json_naming_the_path, .timeout = 60)
{
	char *db = rt_db_new(), *body = NULL;
	struct rt_ra ra;

	cr_assert_eq(rt_ra_start(&ra, db, NULL), 0);
	cr_expect_eq(get(&ra, "/healthz%00junk", &body), 400, "%s", body);
	cr_expect(strstr(body, "\"field\":\"path\"") != NULL, "%s", body);
	free(body);
	cr_expect_eq(get(&ra, "/v1/admin/whoami%00", &body), 400, "%s", body);
	free(body);
	cr_expect_eq(get(&ra, "/healthz", &body), 200, "%s", body);
	free(body);
	cr_expect_eq(rt_ra_stop(&ra, SIGTERM), 0);
	free(db);
}

/* POST /v1/admin/orders/abc/approve reached `$1::bigint` and answered with PostgreSQL's
 * "invalid input syntax for type bigint: "abc"". */
Test(hostile, database_error_text_never_reaches_the_client, .timeout = 60)
{
	char *db = rt_db_new(), dbenv[600], *tok = NULL, url[256], auth[256];
	const char *env[] = {dbenv, NULL};
	const char *h[] = {auth, "Content-Type: application/json", NULL};
	const char *body = "{\"reason\": \"probe of issue 20\"}";
	struct rt_ra ra;
	struct rt_resp r;

	snprintf(dbenv, sizeof(dbenv), "RA_DATABASE_URL=%s", db);
	cr_assert_eq(rt_ra_cmd(env, &tok, "token", "create", "--name", "probe", "--role", "admin",
			       "--no-customer-account", NULL),
		     0, "%s", tok);
	tok[strcspn(tok, "\n")] = '\0';
	snprintf(auth, sizeof(auth), "Authorization: Bearer %s", tok);
	cr_assert_eq(rt_ra_start(&ra, db, NULL), 0);
	snprintf(url, sizeof(url), "%s/v1/admin/orders/abc/approve", ra.base);
	cr_assert_eq(rt_http("POST", url, h, body, strlen(body), &r), 0);
	cr_expect(r.status >= 400 && r.status < 500, "a client error, not %ld: %s", r.status, r.body);
	cr_expect(strstr(r.body, "invalid input syntax") == NULL, "database text: %s", r.body);
	cr_expect(strstr(r.body, "bigint") == NULL, "database text: %s", r.body);
	cr_expect(strstr(r.body, "\"field\"") != NULL, "%s", r.body);
	rt_resp_free(&r);
	cr_expect_eq(rt_ra_stop(&ra, SIGTERM), 0);
	free(tok);
	free(db);
}
