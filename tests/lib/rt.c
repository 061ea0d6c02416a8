/* rt.c - test support; see rt.h. */
#include "tests/lib/rt.h"

#include <criterion/criterion.h>
#include <curl/curl.h>
#include <errno.h>
#include <fcntl.h>
#include <libpq-fe.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "ra/base/err.h"
#include "ra/db/migrate.h"

static const char *admin_url(void)
{
	const char *u = getenv("RA_TEST_PG_URL");

	if (u == NULL)
		cr_assert_fail("RA_TEST_PG_URL is not set: run the tests through tests/run.sh (make test)");
	return u;
}

const char *rt_bin(const char *name)
{
	static __thread char path[512];
	const char *b = getenv("RA_TEST_BIN");

	snprintf(path, sizeof(path), "%s/%s", b ? b : "build", name);
	return path;
}

char *rt_tmpdir(void)
{
	const char *root = getenv("RA_TEST_TMP");
	char tmpl[512];
	char *d;

	snprintf(tmpl, sizeof(tmpl), "%s/t-XXXXXX", root ? root : "/tmp");
	d = mkdtemp(tmpl);
	cr_assert_not_null(d, "mkdtemp: %s", strerror(errno));
	return strdup(d);
}

/* Replaces the dbname in the admin URL (postgresql:///ra?host=...) with name. */
static char *url_for(const char *name)
{
	const char *u = admin_url();
	const char *q = strchr(u, '?');
	char *out = NULL;

	cr_assert(asprintf(&out, "postgresql:///%s%s", name, q ? q : "") > 0);
	return out;
}

char *rt_db_new_empty(void)
{
	static int n;
	char name[64], sql[128], err[256];

	snprintf(name, sizeof(name), "t_%d_%d_%ld", (int)getpid(), n++, (long)time(NULL) % 100000);
	snprintf(sql, sizeof(sql), "CREATE DATABASE %s", name);
	cr_assert_eq(rt_exec(admin_url(), sql, err, sizeof(err)), 0, "%s", err);
	return url_for(name);
}

char *rt_db_new(void)
{
	char *url = rt_db_new_empty();
	struct ra_err e = {0};
	int applied = 0;

	cr_assert_eq(migrate_apply(url, &applied, &e), 0, "migrate: %s", e.msg);
	return url;
}

int rt_exec(const char *db_url, const char *sql, char *errbuf, size_t cap)
{
	PGconn *c = PQconnectdb(db_url);
	PGresult *r;
	int rc = 0;

	if (PQstatus(c) != CONNECTION_OK) {
		snprintf(errbuf, cap, "%s", PQerrorMessage(c));
		PQfinish(c);
		return -1;
	}
	r = PQexec(c, sql);
	if (PQresultStatus(r) != PGRES_COMMAND_OK && PQresultStatus(r) != PGRES_TUPLES_OK) {
		snprintf(errbuf, cap, "%s", PQresultErrorMessage(r));
		rc = -1;
	}
	PQclear(r);
	PQfinish(c);
	return rc;
}

int rt_exec_refused(const char *db_url, const char *sql, const char *want, char *errbuf, size_t cap)
{
	if (rt_exec(db_url, sql, errbuf, cap) == 0) {
		snprintf(errbuf, cap, "ran: %s", sql);
		return 0;
	}
	return strstr(errbuf, want) != NULL;
}

char *rt_sql(const char *db_url, const char *sql)
{
	PGconn *c = PQconnectdb(db_url);
	PGresult *r;
	char *out = NULL;

	cr_assert_eq(PQstatus(c), CONNECTION_OK, "connect: %s", PQerrorMessage(c));
	r = PQexec(c, sql);
	cr_assert(PQresultStatus(r) == PGRES_TUPLES_OK || PQresultStatus(r) == PGRES_COMMAND_OK, "%s: %s",
		  sql, PQresultErrorMessage(r));
	if (PQresultStatus(r) == PGRES_TUPLES_OK && PQntuples(r) > 0 && !PQgetisnull(r, 0, 0))
		out = strdup(PQgetvalue(r, 0, 0));
	PQclear(r);
	PQfinish(c);
	return out;
}

char *rt_read_file(const char *path, size_t *len)
{
	FILE *f = fopen(path, "rb");
	char *buf = NULL;
	size_t cap = 0, n = 0, got;

	if (f == NULL)
		return NULL;
	do {
		if (n + 4096 + 1 > cap) {
			cap = (cap + 4096) * 2;
			buf = realloc(buf, cap);
			cr_assert_not_null(buf);
		}
		got = fread(buf + n, 1, cap - n - 1, f);
		n += got;
	} while (got > 0);
	fclose(f);
	buf[n] = '\0';
	if (len)
		*len = n;
	return buf;
}

/* In the child of parent: a test that fails its assertion ends its process without stopping
 * the ra it started; the ra is told (SIGTERM) instead of running on after the test. */
static void exec_ra(const char *log, const char *const *env, char *const argv[], pid_t parent)
{
	int fd;

	if (prctl(PR_SET_PDEATHSIG, SIGTERM) != 0 || getppid() != parent)
		_exit(127);
	fd = open(log, O_WRONLY | O_CREAT | O_APPEND, 0600);
	if (fd < 0)
		_exit(127);
	dup2(fd, 1);
	dup2(fd, 2);
	close(fd);
	for (int i = 0; env && env[i]; i++)
		putenv((char *)env[i]);
	execv(argv[0], argv);
	_exit(127);
}

static int sanitizer_report(const char *log)
{
	char *text = rt_read_file(log, NULL);
	int bad;

	if (text == NULL)
		return 0;
	bad = strstr(text, "ERROR: AddressSanitizer") || strstr(text, "runtime error:") ||
	      strstr(text, "ERROR: LeakSanitizer");
	if (bad)
		fprintf(stderr, "---- sanitizer report in %s ----\n%s\n", log, text);
	free(text);
	return bad;
}

int rt_ra_start(struct rt_ra *ra, const char *db_url, const char *const *env)
{
	char *dir = rt_tmpdir();
	char dbenv[1024];
	char *argv[] = {(char *)rt_bin("ra"), "serve", NULL};
	pid_t parent;

	memset(ra, 0, sizeof(*ra));
	snprintf(ra->dir, sizeof(ra->dir), "%s", dir);
	snprintf(ra->log, sizeof(ra->log), "%s/ra.log", dir);
	free(dir);
	snprintf(dbenv, sizeof(dbenv), "RA_DATABASE_URL=%s", db_url);
	parent = getpid();
	ra->pid = fork();
	cr_assert_neq(ra->pid, -1);
	if (ra->pid == 0) {
		putenv(dbenv);
		putenv("RA_LISTEN=127.0.0.1:0");
		exec_ra(ra->log, env, argv, parent);
	}
	for (int i = 0; i < 300; i++) { /* up to 30 s (sanitizer builds start slowly) */
		char *text = rt_read_file(ra->log, NULL);
		char *p = text ? strstr(text, "event=server.listening") : NULL;
		int status;

		if (p && (p = strstr(p, " port=")) != NULL) {
			ra->port = atoi(p + 6);
			snprintf(ra->base, sizeof(ra->base), "http://127.0.0.1:%d", ra->port);
			free(text);
			return 0;
		}
		free(text);
		if (waitpid(ra->pid, &status, WNOHANG) == ra->pid) {
			text = rt_read_file(ra->log, NULL);
			fprintf(stderr, "ra exited during start-up:\n%s\n", text ? text : "");
			free(text);
			ra->pid = 0;
			return -1;
		}
		usleep(100000);
	}
	return -1;
}

int rt_ra_stop(struct rt_ra *ra, int sig)
{
	int status = 0;

	if (ra->pid <= 0)
		return -1;
	kill(ra->pid, sig);
	waitpid(ra->pid, &status, 0);
	ra->pid = 0;
	cr_expect_not(sanitizer_report(ra->log), "ra wrote a sanitizer report (see stderr)");
	if (WIFEXITED(status))
		return WEXITSTATUS(status);
	return 128 + WTERMSIG(status);
}

int rt_ra_cmd(const char *const *env, char **out, const char *arg0, ...)
{
	char *argv[32];
	int argc = 0, status = 0;
	char *dir = rt_tmpdir();
	char log[512];
	va_list ap;
	pid_t pid, parent;

	argv[argc++] = (char *)rt_bin("ra");
	argv[argc++] = (char *)arg0;
	va_start(ap, arg0);
	while (argc < 31 && (argv[argc] = va_arg(ap, char *)) != NULL)
		argc++;
	va_end(ap);
	argv[argc] = NULL;
	snprintf(log, sizeof(log), "%s/cmd.log", dir);
	free(dir);
	parent = getpid();
	pid = fork();
	cr_assert_neq(pid, -1);
	if (pid == 0)
		exec_ra(log, env, argv, parent);
	waitpid(pid, &status, 0);
	if (out)
		*out = rt_read_file(log, NULL);
	cr_expect_not(sanitizer_report(log), "ra command wrote a sanitizer report");
	return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}

static size_t on_data(char *p, size_t sz, size_t n, void *ud)
{
	struct rt_resp *r = ud;
	char *nb = realloc(r->body, r->len + sz * n + 1);

	if (nb == NULL)
		return 0;
	r->body = nb;
	memcpy(r->body + r->len, p, sz * n);
	r->len += sz * n;
	r->body[r->len] = '\0';
	return sz * n;
}

int rt_http(const char *method, const char *url, const char *const *headers, const char *body, size_t len,
	    struct rt_resp *out)
{
	CURL *c = curl_easy_init();
	struct curl_slist *h = NULL;
	CURLcode rc;

	memset(out, 0, sizeof(*out));
	out->body = calloc(1, 1);
	curl_easy_setopt(c, CURLOPT_URL, url);
	curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, method);
	curl_easy_setopt(c, CURLOPT_TIMEOUT, 30L);
	curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_data);
	curl_easy_setopt(c, CURLOPT_WRITEDATA, out);
	for (int i = 0; headers && headers[i]; i++)
		h = curl_slist_append(h, headers[i]);
	h = curl_slist_append(h, "Expect:");
	curl_easy_setopt(c, CURLOPT_HTTPHEADER, h);
	if (body) {
		curl_easy_setopt(c, CURLOPT_POSTFIELDS, body);
		curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE, (long)len);
	}
	rc = curl_easy_perform(c);
	if (rc == CURLE_OK)
		curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &out->status);
	curl_slist_free_all(h);
	curl_easy_cleanup(c);
	return rc == CURLE_OK ? 0 : -1;
}

void rt_resp_free(struct rt_resp *r)
{
	free(r->body);
	r->body = NULL;
}

int rt_wait_sql(const char *db_url, const char *sql, const char *want, double timeout_s)
{
	struct timespec t0, t;

	clock_gettime(CLOCK_MONOTONIC, &t0);
	for (;;) {
		char *v = rt_sql(db_url, sql);
		int ok = v && strcmp(v, want) == 0;
		free(v);
		if (ok)
			return 1;
		clock_gettime(CLOCK_MONOTONIC, &t);
		if ((double)(t.tv_sec - t0.tv_sec) + (double)(t.tv_nsec - t0.tv_nsec) / 1e9 > timeout_s)
			return 0;
		usleep(20000);
	}
}

char *rt_token(const char *db_url, const char *name, const char *role)
{
	char dbenv[800], *out = NULL;
	const char *env[] = {dbenv, NULL};

	snprintf(dbenv, sizeof(dbenv), "RA_DATABASE_URL=%s", db_url);
	cr_assert_eq(rt_ra_cmd(env, &out, "token", "create", "--name", name, "--role", role,
			       "--no-customer-account", NULL),
		     0, "%s", out);
	out[strcspn(out, "\n")] = '\0';
	return out;
}

long rt_admin_revoke_status(const struct rt_ra *ra, const char *token, const char *id, const char *reason)
{
	char url[256], auth[256], body[160];
	const char *h[] = {auth, "Content-Type: application/json", NULL};
	struct rt_resp r;
	long status;

	snprintf(url, sizeof(url), "%s/v1/admin/certs/%s/revoke", ra->base, id);
	snprintf(auth, sizeof(auth), "Authorization: Bearer %s", token);
	snprintf(body, sizeof(body), "{\"reason\": \"%s\", \"comment\": \"revoked by the test\"}", reason);
	if (rt_http("POST", url, h, body, strlen(body), &r) != 0)
		return 0;
	status = r.status;
	rt_resp_free(&r);
	return status;
}

void rt_admin_revoke(const struct rt_ra *ra, const char *token, const char *id, const char *reason)
{
	cr_assert_eq(rt_admin_revoke_status(ra, token, id, reason), 200, "the revocation of %s", id);
}

double rt_metric(const char *url, const char *sample)
{
	struct rt_resp r;
	double v = -1;
	const char *p;

	if (rt_http("GET", url, NULL, NULL, 0, &r) != 0)
		return -1;
	for (p = r.body; p && (p = strstr(p, sample)) != NULL; p += strlen(sample))
		if ((p == r.body || p[-1] == '\n') && p[strlen(sample)] == ' ') {
			v = atof(p + strlen(sample) + 1);
			break;
		}
	rt_resp_free(&r);
	return v;
}
