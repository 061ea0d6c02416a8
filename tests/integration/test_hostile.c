/*
 * test_hostile.c - what a hostile client or a careless operator tried in issue #20's probe:
 * TLS 1.2 with static-RSA/CBC ciphers, configuration keys with a literal dot, numbers out of
 * range, %00 in a path, database error text in answers.  Each against the real `ra serve`
 * (or `ra --print-config`) and the run's PostgreSQL.
 */
#include <criterion/criterion.h>
#include <curl/curl.h>
#include <libpq-fe.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "ra/base/err.h"
#include "ra/db/db.h"
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

/* A non-numeric order id on a review route (whose statements cast $1::bigint): a client error
 * with a field, no database text.  Today's route refuses it before a cast; the mapping itself
 * is proven by database_error_text_is_mapped_to_a_class_not_passed_on below. */
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

/* ---- connection caps (item 1) ------------------------------------------------------------ */

static size_t sink(char *p, size_t size, size_t n, void *data)
{
	(void)p;
	(void)data;
	return size * n;
}

/* GET url with a deadline: the status, or 0 when no answer came in time (or the
 * connection was refused or reset). */
static long get_within(const char *url, long timeout_ms)
{
	CURL *c = curl_easy_init();
	long status = 0;

	cr_assert_not_null(c);
	curl_easy_setopt(c, CURLOPT_URL, url);
	curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, timeout_ms);
	curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, sink);
	if (curl_easy_perform(c) == CURLE_OK)
		curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &status);
	curl_easy_cleanup(c);
	return status;
}

static int ops_port_of(const struct rt_ra *ra)
{
	char *log = rt_read_file(ra->log, NULL), *p;
	int port = 0;

	p = log ? strstr(log, "event=server.listening") : NULL;
	if (p != NULL && (p = strstr(p, " ops_port=")) != NULL)
		port = atoi(p + 10);
	free(log);
	return port;
}

/* The value of one sample of the ops listener's /metrics, -1 when it is not there. */
static double metric(int ops_port, const char *sample)
{
	char url[128];

	snprintf(url, sizeof(url), "http://127.0.0.1:%d/metrics", ops_port);
	return rt_metric(url, sample);
}

static int wait_metric(int ops_port, const char *sample, double lo, double hi, double secs)
{
	for (int i = 0; i < (int)(secs * 10); i++) {
		double v = metric(ops_port, sample);
		if (v >= lo && v <= hi)
			return 1;
		usleep(100000);
	}
	return 0;
}

static pid_t flood(int port, int count, int per_source, const char *ready)
{
	char p[16], n[16], ps[16], script[600];
	pid_t pid;

	snprintf(p, sizeof(p), "%d", port);
	snprintf(n, sizeof(n), "%d", count);
	snprintf(ps, sizeof(ps), "%d", per_source);
	snprintf(script, sizeof(script), "%s/tests/peers/flood.py", getenv("RA_TEST_ROOT"));
	pid = fork();
	cr_assert_neq(pid, -1);
	if (pid == 0) {
		execlp("python3", "python3", script, "--port", p, "--count", n, "--per-source", ps,
		       "--ready-file", ready, "--hold", "60", (char *)NULL);
		_exit(127);
	}
	return pid;
}

/*
 * Issue #20: 21,000 idle connections exhausted ra's descriptors and /healthz went unanswered
 * for seconds.  Now: 3,000 idle connections from a helper process (150 from each of 20
 * loopback addresses) against caps of 300 in all and 100 per address: the caps hold, the
 * rest is reset at accept and counted, /healthz on http.ops_listen answers within 100 ms
 * meanwhile, and once the flood is gone the main listener serves again.
 */
Test(hostile, connection_flood_cannot_stop_healthz_on_the_ops_listener, .timeout = 180)
{
	char *db = rt_db_new(), *dir = rt_tmpdir(), ready[600], url[128], main_url[128];
	const char *env[] = {"RA_HTTP_MAX_CONNECTIONS=300", "RA_HTTP_MAX_CONNECTIONS_PER_ADDRESS=100",
			     "RA_HTTP_OPS_LISTEN=127.0.0.1:0", NULL};
	struct rt_ra ra;
	int ops, fast = 0, status;
	pid_t fl;

	cr_assert_eq(rt_ra_start(&ra, db, env), 0);
	ops = ops_port_of(&ra);
	cr_assert_gt(ops, 0, "no ops listener in the log");
	snprintf(url, sizeof(url), "http://127.0.0.1:%d/healthz", ops);
	snprintf(main_url, sizeof(main_url), "%s/healthz", ra.base);
	cr_assert_eq(get_within(url, 10000), 200, "ops /healthz before the flood");
	cr_expect_eq(get_within(main_url, 10000), 200);
	{
		char nf[160];
		snprintf(nf, sizeof(nf), "http://127.0.0.1:%d/v1/shop/woocommerce", ops);
		cr_expect_eq(get_within(nf, 10000), 404, "the ops listener serves ops routes only");
	}

	snprintf(ready, sizeof(ready), "%s/flood.ready", dir);
	fl = flood(ra.port, 3000, 150, ready);
	for (int i = 0; i < 600 && access(ready, F_OK) != 0; i++)
		usleep(100000);
	cr_assert_eq(access(ready, F_OK), 0, "the flood did not finish opening");
	cr_expect(wait_metric(ops, "ra_http_connections{listener=\"main\"}", 250, 300, 30),
		  "the main listener holds up to its cap: %g",
		  metric(ops, "ra_http_connections{listener=\"main\"}"));
	cr_expect_leq(metric(ops, "ra_http_connections{listener=\"main\"}"), 300);
	cr_expect_gt(metric(ops, "ra_http_connections_refused_total{listener=\"main\",reason=\"total\"}"), 0);
	cr_expect_gt(
		metric(ops, "ra_http_connections_refused_total{listener=\"main\",reason=\"per_address\"}"),
		0);
	cr_expect_eq(metric(ops, "ra_http_connections_max{listener=\"main\"}"), 300);
	/* the flood holds its sockets: /healthz on the ops listener within 100 ms (a loaded
	 * CI machine, with half its CPU stolen, misses some deadlines; a starved server misses
	 * all of them) */
	for (int i = 0; i < 20; i++) { /* spread over ~3 s: one burst of stolen CPU takes a few */
		fast += get_within(url, 100) == 200;
		usleep(50000);
	}
	cr_expect_geq(fast, 10, "/healthz within 100 ms in only %d of 20 tries during the flood", fast);
	cr_expect_neq(get_within(main_url, 2000), 200, "the main listener is at its cap");

	kill(fl, SIGKILL);
	waitpid(fl, &status, 0);
	cr_expect(wait_metric(ops, "ra_http_connections{listener=\"main\"}", 0, 0, 30),
		  "connections counted down: %g", metric(ops, "ra_http_connections{listener=\"main\"}"));
	cr_expect_eq(get_within(main_url, 10000), 200, "the main listener serves again");
	if (system("command -v promtool >/dev/null 2>&1") == 0) {
		char cmd[256];
		snprintf(cmd, sizeof(cmd),
			 "curl -s http://127.0.0.1:%d/metrics | promtool check metrics >/dev/null", ops);
		cr_expect_eq(system(cmd), 0, "promtool check metrics");
	}
	cr_expect_eq(rt_ra_stop(&ra, SIGTERM), 0);
	free(dir);
	free(db);
}

/* Issue #20, item 4 on the admin API: free text an operator sends (organisation, reason, ...)
 * is printable text or 422 naming the field, and nothing is stored. */
Test(hostile, admin_free_text_with_controls_is_422_naming_the_field_and_stores_nothing, .timeout = 60)
{
	char *db = rt_db_new(), dbenv[600], *tok = NULL, url[256], auth[256], *n;
	const char *env[] = {dbenv, NULL};
	const char *h[] = {auth, "Content-Type: application/json", NULL};
	static const char *bodies[][2] = {
		{"{\"organisation\": \"Evil\\u001b]0;pwned\\u0007\\u001b[2J GmbH\", \"quota\": 1, \"reason\": \"new contract\"}",
		 "organisation"},
		{"{\"organisation\": \"Gruber Bau GmbH\", \"quota\": 1, \"reason\": \"ok\\r\\nfaked line\"}",
		 "reason"},
		{"{\"organisation\": \"Gruber Bau GmbH\", \"organisation_id\": \"FN\\u202e123\", \"quota\": 1, \"reason\": "
		 "\"x\"}",
		 "organisation_id"},
	};
	struct rt_ra ra;

	snprintf(dbenv, sizeof(dbenv), "RA_DATABASE_URL=%s", db);
	cr_assert_eq(rt_ra_cmd(env, &tok, "token", "create", "--name", "probe", "--role", "admin",
			       "--no-customer-account", NULL),
		     0, "%s", tok);
	tok[strcspn(tok, "\n")] = '\0';
	snprintf(auth, sizeof(auth), "Authorization: Bearer %s", tok);
	cr_assert_eq(rt_ra_start(&ra, db, NULL), 0);
	snprintf(url, sizeof(url), "%s/v1/admin/contracts", ra.base);
	for (size_t i = 0; i < sizeof(bodies) / sizeof(bodies[0]); i++) {
		struct rt_resp r;
		char want[80];
		cr_assert_eq(rt_http("POST", url, h, bodies[i][0], strlen(bodies[i][0]), &r), 0);
		snprintf(want, sizeof(want), "\"field\":\"%s\"", bodies[i][1]);
		cr_expect_eq(r.status, 422, "case %zu: %s", i, r.body);
		cr_expect(strstr(r.body, want) != NULL, "case %zu names %s: %s", i, bodies[i][1], r.body);
		rt_resp_free(&r);
	}
	n = rt_sql(db, "SELECT count(*) FROM contracts");
	cr_expect_str_eq(n, "0", "a refused contract was stored");
	free(n);
	n = rt_sql(db, "SELECT count(*) FROM audit_log WHERE action LIKE 'contract%'");
	cr_expect_str_eq(n, "0", "a refused change was audited");
	free(n);
	{
		const char *ok =
			"{\"organisation\": \"Gruber Bau GmbH\", \"quota\": 1, \"reason\": \"framework contract\"}";
		struct rt_resp r;
		cr_assert_eq(rt_http("POST", url, h, ok, strlen(ok), &r), 0);
		cr_expect(r.status == 200 || r.status == 201, "a clean contract is created: %ld %s", r.status,
			  r.body);
		rt_resp_free(&r);
	}
	cr_expect_eq(rt_ra_stop(&ra, SIGTERM), 0);
	free(tok);
	free(db);
}

/* db_result_err is where every failed statement becomes an answer: PostgreSQL's text (which
 * quotes the client's value and names types and columns) stays in the log, the client gets
 * the class of error.  Real results from the run's PostgreSQL. */
Test(hostile, database_error_text_is_mapped_to_a_class_not_passed_on)
{
	char *db = rt_db_new();
	PGconn *c = PQconnectdb(db);
	static const struct {
		const char *sql;
		int code;
	} cases[] = {
		{"SELECT 'abc'::bigint", RA_E_INVALID},
		{"SELECT 1/0", RA_E_INVALID},
		{"SELECT no_such_column FROM schema_migrations", RA_E_INTERNAL},
	};

	cr_assert_eq(PQstatus(c), CONNECTION_OK, "%s", PQerrorMessage(c));
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		PGresult *r = PQexec(c, cases[i].sql);
		struct ra_err e = {0};

		cr_assert_eq(PQresultStatus(r), PGRES_FATAL_ERROR);
		cr_expect_eq(db_result_err(r, &e), cases[i].code, "%s: %d %s", cases[i].sql, e.code, e.msg);
		cr_expect(strstr(e.msg, "invalid input syntax") == NULL && strstr(e.msg, "bigint") == NULL &&
				  strstr(e.msg, "abc") == NULL && strstr(e.msg, "no_such_column") == NULL &&
				  strstr(e.msg, "division") == NULL,
			  "%s: the database's text reached the message: %s", cases[i].sql, e.msg);
		cr_expect_neq(e.msg[0], '\0');
		PQclear(r);
	}
	PQfinish(c);
	free(db);
}
