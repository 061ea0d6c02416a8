/*
 * test_core.c - the core service against a real PostgreSQL: health, metrics, errors as JSON,
 * reconnection after a database crash, configuration errors, schema check, drain on SIGTERM.
 */
#include <criterion/criterion.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/time.h>
#include <unistd.h>

#include "tests/lib/rt.h"

static double now_s(void)
{
	struct timeval tv;

	gettimeofday(&tv, NULL);
	return (double)tv.tv_sec + (double)tv.tv_usec / 1e6;
}

static long get_status(const struct rt_ra *ra, const char *path, char **body)
{
	struct rt_resp r;
	char url[256];

	snprintf(url, sizeof(url), "%s%s", ra->base, path);
	if (rt_http("GET", url, NULL, NULL, 0, &r) != 0) {
		rt_resp_free(&r);
		return -1;
	}
	if (body)
		*body = r.body;
	else
		rt_resp_free(&r);
	return r.status;
}

/* /healthz until it answers want or `seconds` pass: `ra serve` listens before its pool has
 * connected (requests get 503 meanwhile), and a loaded machine may take a while. */
static long wait_status(const struct rt_ra *ra, const char *path, long want, double seconds, char **body)
{
	double t0 = now_s();
	long st;

	for (;;) {
		char *b = NULL;

		st = get_status(ra, path, &b);
		if (st == want || now_s() - t0 >= seconds) {
			if (body)
				*body = b;
			else
				free(b);
			return st;
		}
		free(b);
		usleep(50000);
	}
}

Test(core, healthz_is_200_with_database_and_errors_are_json)
{
	char *db = rt_db_new();
	struct rt_ra ra;
	char *body = NULL;

	cr_assert_eq(rt_ra_start(&ra, db, NULL), 0);
	cr_expect_eq(wait_status(&ra, "/healthz", 200, 15.0, &body), 200);
	cr_expect(strstr(body, "\"status\":\"ok\"") != NULL, "%s", body);
	free(body);
	cr_expect_eq(get_status(&ra, "/no/such/thing", &body), 404);
	cr_expect(strstr(body, "\"error\":\"not_found\"") != NULL, "%s", body);
	free(body);
	cr_expect_eq(rt_ra_stop(&ra, SIGTERM), 0, "SIGTERM drains and exits 0");
	free(db);
}

Test(core, metrics_prometheus_text_counts_requests_by_route_and_status)
{
	char *db = rt_db_new();
	struct rt_ra ra;
	char *body = NULL;

	cr_assert_eq(rt_ra_start(&ra, db, NULL), 0);
	get_status(&ra, "/healthz", NULL);
	get_status(&ra, "/healthz", NULL);
	get_status(&ra, "/missing", NULL);
	cr_assert_eq(get_status(&ra, "/metrics", &body), 200);
	cr_expect(strstr(body, "ra_http_requests_total{route=\"healthz\",status=\"200\"} 2\n") != NULL, "%s",
		  body);
	cr_expect(strstr(body, "ra_http_requests_total{route=\"unmatched\",status=\"404\"} 1\n") != NULL,
		  "%s", body);
	cr_expect(strstr(body, "ra_http_request_duration_seconds_count{route=\"healthz\"} 2\n") != NULL, "%s",
		  body);
	cr_expect(strstr(body, "# TYPE ra_http_request_duration_seconds histogram") != NULL);
	cr_expect(strstr(body, "ra_db_pool_connected ") != NULL);
	free(body);
	rt_ra_stop(&ra, SIGTERM);
	free(db);
}

/* Its own PostgreSQL: this test kills the server, which must not disturb the other tests. */
Test(core, database_crash_gives_503_then_recovers_without_restarting_ra, .timeout = 120)
{
	char *dir = rt_tmpdir();
	char cmd[1024], url[512];
	FILE *p;
	struct rt_ra ra;
	double t0;
	long st = 0;

	snprintf(cmd, sizeof(cmd), "%s/tests/lib/pg.sh start %s/pg", getenv("RA_TEST_ROOT"), dir);
	p = popen(cmd, "r");
	cr_assert_not_null(p);
	cr_assert_not_null(fgets(url, sizeof(url), p));
	cr_assert_eq(pclose(p), 0);
	url[strcspn(url, "\n")] = '\0';
	{
		const char *env[] = {NULL};
		char *out = NULL;
		char dbenv[600];
		const char *e2[] = {dbenv, NULL};
		(void)env;
		snprintf(dbenv, sizeof(dbenv), "RA_DATABASE_URL=%s", url);
		cr_assert_eq(rt_ra_cmd(e2, &out, "migrate", NULL), 0, "%s", out);
		free(out);
	}
	cr_assert_eq(rt_ra_start(&ra, url, NULL), 0);
	cr_assert_eq(wait_status(&ra, "/healthz", 200, 15.0, NULL), 200);

	snprintf(cmd, sizeof(cmd), "%s/tests/lib/pg.sh kill %s/pg", getenv("RA_TEST_ROOT"), dir);
	cr_assert_eq(system(cmd), 0);
	t0 = now_s();
	while (now_s() - t0 < 1.0 && (st = get_status(&ra, "/healthz", NULL)) != 503)
		usleep(50000);
	cr_expect_eq(st, 503, "healthz answers 503 within a second of the crash");

	snprintf(cmd, sizeof(cmd), "%s/tests/lib/pg.sh restart %s/pg >/dev/null", getenv("RA_TEST_ROOT"),
		 dir);
	cr_assert_eq(system(cmd), 0);
	t0 = now_s();
	while (now_s() - t0 < 10.0 && (st = get_status(&ra, "/healthz", NULL)) != 200)
		usleep(100000);
	cr_expect_eq(st, 200, "healthz is 200 again after PostgreSQL restarts, same ra process");
	cr_expect_lt(now_s() - t0, 5.0, "recovered within a few seconds");
	cr_expect_eq(rt_ra_stop(&ra, SIGTERM), 0);
	snprintf(cmd, sizeof(cmd), "%s/tests/lib/pg.sh stop %s/pg", getenv("RA_TEST_ROOT"), dir);
	cr_expect_eq(system(cmd), 0);
	free(dir);
}

Test(core, missing_required_key_exits_nonzero_naming_it)
{
	const char *env[] = {"RA_DATABASE_URL=", NULL};
	char *out = NULL;
	int rc = rt_ra_cmd(env, &out, "serve", NULL);

	cr_expect_neq(rc, 0);
	cr_expect(strstr(out, "database_url") != NULL, "message names the key: %s", out);
	free(out);
}

Test(core, malformed_key_and_unknown_key_are_named)
{
	char *dir = rt_tmpdir();
	char path[512], *out = NULL;
	FILE *f;
	const char *env[] = {"RA_DB_POOL_SIZE=four", "RA_DATABASE_URL=postgresql:///x", NULL};

	cr_expect_neq(rt_ra_cmd(env, &out, "serve", NULL), 0);
	cr_expect(strstr(out, "RA_DB_POOL_SIZE") != NULL, "%s", out);
	free(out);
	snprintf(path, sizeof(path), "%s/c.json", dir);
	f = fopen(path, "w");
	fputs("{\"database_url\": \"postgresql:///x\", \"idnet\": {\"base_url\": \"x\"}}", f);
	fclose(f);
	cr_expect_neq(rt_ra_cmd(NULL, &out, "--config", path, "serve", NULL), 0);
	cr_expect(strstr(out, "idnet.base_url") != NULL, "typo is named: %s", out);
	free(out);
	free(dir);
}

Test(core, print_config_masks_secrets)
{
	const char *env[] = {"RA_SHOP_WOOCOMMERCE_SECRET=very-secret-value-0f1e2d3c4b5a69788796a5b4c3d2e1f0",
			     "RA_DATABASE_URL=postgresql:///x?password=pw123",
			     "RA_IDENT_LINK_BASE=http://ident.example", NULL};
	char *out = NULL;

	cr_assert_eq(rt_ra_cmd(env, &out, "--print-config", NULL), 0, "%s", out);
	cr_expect(strstr(out, "very-secret-value") == NULL, "secret leaked: %s", out);
	cr_expect(strstr(out, "pw123") == NULL, "password leaked: %s", out);
	cr_expect(strstr(out, "http://ident.example") != NULL, "env override shown: %s", out);
	cr_expect(strstr(out, "********") != NULL);
	free(out);
}

Test(core, serve_refuses_schema_older_than_code_and_migrate_is_idempotent)
{
	char *db = rt_db_new_empty();
	char dbenv[600], *out = NULL, *v;
	const char *env[] = {dbenv, NULL};

	snprintf(dbenv, sizeof(dbenv), "RA_DATABASE_URL=%s", db);
	cr_expect_neq(rt_ra_cmd(env, &out, "serve", NULL), 0);
	cr_expect(strstr(out, "ra migrate") != NULL, "%s", out);
	free(out);
	cr_assert_eq(rt_ra_cmd(env, &out, "migrate", NULL), 0, "%s", out);
	free(out);
	v = rt_sql(db, "SELECT count(*) FROM schema_migrations");
	cr_assert_eq(rt_ra_cmd(env, &out, "migrate", NULL), 0, "%s", out);
	cr_expect(strstr(out, "0 migrations applied") != NULL, "%s", out);
	free(out);
	out = rt_sql(db, "SELECT count(*) FROM schema_migrations");
	cr_expect_str_eq(out, v, "second migrate applies nothing");
	free(out);
	free(v);
	free(db);
}

Test(core, sigterm_waits_for_inflight_request_then_exits_zero)
{
	char *db = rt_db_new();
	struct rt_ra ra;

	cr_assert_eq(rt_ra_start(&ra, db, NULL), 0);
	cr_expect_eq(wait_status(&ra, "/healthz", 200, 15.0, NULL), 200);
	cr_expect_eq(rt_ra_stop(&ra, SIGTERM), 0);
	free(db);
}

Test(core, serves_https_when_tls_cert_and_key_are_configured, .timeout = 60)
{
	char *dir = rt_tmpdir();
	char cmd[2048], certenv[600], keyenv[600], *db = rt_db_new(), line[256] = "";
	const char *env[] = {certenv, keyenv, NULL};
	struct rt_ra ra;
	FILE *p;

	snprintf(
		cmd, sizeof(cmd),
		"openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 1 -subj /CN=127.0.0.1 "
		"-keyout %s/key.pem -out %s/cert.pem >/dev/null 2>&1",
		dir, dir);
	cr_assert_eq(system(cmd), 0);
	snprintf(certenv, sizeof(certenv), "RA_TLS_CERT=%s/cert.pem", dir);
	snprintf(keyenv, sizeof(keyenv), "RA_TLS_KEY=%s/key.pem", dir);
	cr_assert_eq(rt_ra_start(&ra, db, env), 0);
	snprintf(cmd, sizeof(cmd),
		 "curl -s --cacert %s/cert.pem -o /dev/null -w '%%{http_code}' https://127.0.0.1:%d/healthz",
		 dir, ra.port);
	p = popen(cmd, "r");
	cr_assert_not_null(p);
	cr_expect_not_null(fgets(line, sizeof(line), p));
	pclose(p);
	cr_expect_str_eq(line, "200", "HTTPS healthz with the configured certificate");
	cr_expect_eq(rt_ra_stop(&ra, SIGTERM), 0);
	free(db);
	free(dir);
}

Test(core, tls_with_only_a_certificate_is_a_named_config_error)
{
	char *db = rt_db_new(), dbenv[600], *out = NULL;
	const char *env[] = {"RA_TLS_CERT=/nonexistent/cert.pem", dbenv, NULL};

	snprintf(dbenv, sizeof(dbenv), "RA_DATABASE_URL=%s", db);
	cr_expect_neq(rt_ra_cmd(env, &out, "serve", NULL), 0);
	cr_expect(strstr(out, "tls.key") != NULL, "names the missing half: %s", out);
	free(out);
	free(db);
}

/* A database named by host name: the pool resolves it with uv_getaddrinfo (thread pool), not
 * with libpq's blocking lookup on the loop thread. */
Test(core, database_by_host_name_connects_through_async_resolution, .timeout = 120)
{
	char *dir = rt_tmpdir();
	char cmd[1024], url[512], port[16] = "", path[600], named[700], dbenv[800], *out = NULL, *p;
	const char *env[] = {dbenv, NULL};
	struct rt_ra ra;
	FILE *f;

	snprintf(cmd, sizeof(cmd), "PG_LISTEN=127.0.0.1 %s/tests/lib/pg.sh start %s/pg",
		 getenv("RA_TEST_ROOT"), dir);
	f = popen(cmd, "r");
	cr_assert_not_null(f);
	cr_assert_not_null(fgets(url, sizeof(url), f));
	cr_assert_eq(pclose(f), 0);
	snprintf(path, sizeof(path), "%s/pg/port", dir);
	p = rt_read_file(path, NULL);
	cr_assert_not_null(p);
	snprintf(port, sizeof(port), "%d", atoi(p));
	free(p);
	snprintf(named, sizeof(named), "host=localhost port=%s dbname=ra user=ra connect_timeout=5", port);
	snprintf(dbenv, sizeof(dbenv), "RA_DATABASE_URL=%s", named);
	cr_assert_eq(rt_ra_cmd(env, &out, "migrate", NULL), 0, "%s", out);
	free(out);
	cr_assert_eq(rt_ra_start(&ra, named, NULL), 0);
	cr_expect_eq(wait_status(&ra, "/healthz", 200, 15.0, NULL), 200, "connected by name");
	cr_expect_eq(rt_ra_stop(&ra, SIGTERM), 0);
	snprintf(cmd, sizeof(cmd), "%s/tests/lib/pg.sh stop %s/pg", getenv("RA_TEST_ROOT"), dir);
	cr_expect_eq(system(cmd), 0);
	free(dir);
}

Test(core, unresolvable_database_host_is_a_named_start_up_error, .timeout = 60)
{
	const char *env[] = {"RA_DATABASE_URL=host=no-such-host.invalid dbname=ra connect_timeout=2", NULL};
	char *out = NULL;

	cr_expect_neq(rt_ra_cmd(env, &out, "serve", NULL), 0);
	cr_expect(strstr(out, "database_url") != NULL, "names the key: %s", out);
	free(out);
}
