/*
 * rt.h - test support: fresh databases on the run's throwaway PostgreSQL (tests/run.sh starts
 * it and exports RA_TEST_PG_URL), the real `ra` started as a child process on a free port,
 * HTTP calls with libcurl and one-line SQL for assertions.
 */
#ifndef RA_TEST_RT_H
#define RA_TEST_RT_H

#include <stddef.h>
#include <sys/types.h>

/* Creates an empty database with all migrations applied; returns its URL (static buffer
 * per call site is not needed: caller frees). */
char *rt_db_new(void);
/* Same without migrations. */
char *rt_db_new_empty(void);

struct rt_ra {
	pid_t pid;
	int port;
	char base[64]; /* http://127.0.0.1:PORT */
	char dir[256]; /* temp dir holding config and log */
	char log[300];
};

/* Starts `ra serve` with RA_DATABASE_URL=db_url, listening on 127.0.0.1:0, plus extra
 * environment entries "KEY=VALUE" (NULL-terminated, may be NULL).  Waits until it listens.
 * Returns 0, or -1 with the log copied to stderr. */
int rt_ra_start(struct rt_ra *ra, const char *db_url, const char *const *env);
/* Sends sig (SIGTERM for a drain, SIGKILL for a crash), waits, returns the exit status
 * (WEXITSTATUS, or 128+signal).  Fails the test if the log holds a sanitizer report. */
int rt_ra_stop(struct rt_ra *ra, int sig);
/* Runs `ra ARGS...` (NULL-terminated) with the given extra env; returns exit status and
 * fills out (caller frees) with stdout+stderr. */
int rt_ra_cmd(const char *const *env, char **out, const char *arg0, ...) __attribute__((sentinel));

/* `ra token create --name NAME --role ROLE --no-customer-account` against db_url; the token
 * (caller frees).  Asserts that it worked. */
char *rt_token(const char *db_url, const char *name, const char *role);
/* Revokes certificate id through the admin API (POST /v1/admin/certs/ID/revoke, what ractl
 * cert revoke calls) with a support token and an R14 reason; asserts 200. */
void rt_admin_revoke(const struct rt_ra *ra, const char *token, const char *id, const char *reason);
/* The same without assertions (for a child process): the HTTP status, 0 when no answer came. */
long rt_admin_revoke_status(const struct rt_ra *ra, const char *token, const char *id, const char *reason);

struct rt_resp {
	long status;
	char *body; /* NUL-terminated; caller frees with rt_resp_free */
	size_t len;
};
/* headers: NULL-terminated "Name: value" strings or NULL. */
int rt_http(const char *method, const char *url, const char *const *headers, const char *body, size_t len,
	    struct rt_resp *out);
void rt_resp_free(struct rt_resp *r);

/* First column of the first row of a query as a string (caller frees); NULL on SQL NULL or
 * no row.  Aborts the test on an SQL error. */
char *rt_sql(const char *db_url, const char *sql);
/* Runs a statement, returns 0 or -1 (error text in errbuf). */
int rt_exec(const char *db_url, const char *sql, char *errbuf, size_t cap);
/* 1 when the database refuses sql with an error whose text holds want (the text in errbuf,
 * for the test's message); 0 when it ran, or failed for another reason. */
int rt_exec_refused(const char *db_url, const char *sql, const char *want, char *errbuf, size_t cap);

/* Reads a whole file (caller frees); NULL if missing. */
char *rt_read_file(const char *path, size_t *len);
/* A fresh temp directory (caller frees the string; the run's temp root removes it). */
char *rt_tmpdir(void);
/* Path to a built binary: $RA_TEST_BIN/name. */
const char *rt_bin(const char *name);
/* The value of one sample ("name{labels}") of the Prometheus text at url (a /metrics), -1 when
 * it is not there or the request failed. */
double rt_metric(const char *url, const char *sample);

#endif

#ifndef RA_TEST_RT_WAIT
#define RA_TEST_RT_WAIT
/* Polls a one-value query until it returns want (string compare); 1 when it did in time. */
int rt_wait_sql(const char *db_url, const char *sql, const char *want, double timeout_s);
#endif
