/*
 * db.h - a small pool of asynchronous libpq connections driven by the libuv loop.
 *
 * Nothing here blocks: connections are opened with PQconnectStart/PQconnectPoll, queries
 * are sent with PQsendQueryParams and read when the socket is readable.  A connection that
 * breaks (PostgreSQL restarts) fails its queries with RA_E_UNAVAILABLE and reconnects by
 * itself with backoff.  While no connection is up, every request fails fast with
 * RA_E_UNAVAILABLE instead of waiting.
 *
 *   db_query(pool, SQL, n, params, cb, data)   one statement on any connection (autocommit)
 *   db_acquire(pool, cb, data)                 lease a connection for a transaction; then
 *   db_conn_query(conn, ...) ...; db_release(conn)   (an open transaction is rolled back)
 *
 * Statements queued from inside one callback of a connection (a result or the acquire) are
 * pipelined: sent together once the callback returns, one round trip; after a failure the
 * rest of that group is skipped and fails.  db_release drops the results still due and rolls
 * back what they leave open.
 *
 * Plans: a statement whose text begins with DB_PLAN_ONCE is prepared on a pooled session the
 * first time it is sent (its Prepare goes in the same segment, just before it) and run by name
 * afterwards: PostgreSQL parses and analyses it once per session and, after five runs, plans
 * it once when its generic plan costs no more than its custom ones (plan_cache_mode = auto).
 * Mark only statements whose plan cannot depend on their values (a row by its key, an insert).
 * Every other statement is sent as it is and planned for its values at every run (a skewed
 * value, a LIMIT, an optional filter, an array of kinds must not get one plan for all).  A
 * reconnect prepares again; a statement whose Prepare failed runs unprepared on that session.
 *
 * `sql` must stay valid until the callback (use static strings: conventions.md rule 8);
 * parameters are copied.  Parameters are text; NULL means SQL NULL.  The PGresult handed to
 * a callback is freed after the callback returns.
 */
#ifndef RA_DB_H
#define RA_DB_H

#include <libpq-fe.h>
#include <uv.h>

#include "ra/base/err.h"

struct db_pool;
struct db_conn;

/* Prefix of a statement planned once per session (see Plans above): DB_PLAN_ONCE "SELECT ...". */
#define DB_PLAN_ONCE "/* plan once */ "

/* err is NULL on success.  On failure res may still carry the server's error result. */
typedef void (*db_result_cb)(PGresult *res, const struct ra_err *err, void *data);
typedef void (*db_acquire_cb)(struct db_conn *conn, const struct ra_err *err, void *data);
typedef void (*db_notify_cb)(const char *channel, const char *payload, void *data);

struct db_stats {
	int size; /* configured connections */
	int connected; /* of which up */
	int leased; /* of which in use */
	int waiting; /* acquire requests queued */
	unsigned long long queries, errors, reconnects;
};

/* Starts connecting `size` connections; returns at once (caller frees with db_pool_close). */
struct db_pool *db_pool_new(uv_loop_t *loop, const char *conninfo, int size, int acquire_timeout_ms);
/* Closes every connection; `done` runs once all handles are closed. */
void db_pool_close(struct db_pool *pool, void (*done)(void *data), void *data);
/* Frees the pool's memory; only valid after db_pool_close's callback ran.  NULL is fine. */
void db_pool_free(struct db_pool *p);

void db_query(struct db_pool *pool, const char *sql, int nparams, const char *const *params, db_result_cb cb,
	      void *data);
void db_acquire(struct db_pool *pool, db_acquire_cb cb, void *data);
void db_conn_query(struct db_conn *conn, const char *sql, int nparams, const char *const *params,
		   db_result_cb cb, void *data);
void db_release(struct db_conn *conn);

/* LISTEN on a dedicated connection.  cb(channel, payload) per notification, and
 * cb(channel, NULL) after every (re)connect: notifications may have been missed. */
int db_listen(struct db_pool *pool, const char *channel, db_notify_cb cb, void *data);

/*
 * The after-commit wake-up (docs/jobs.md).  Every pooled session sets ra.jobs_wake, so the
 * jobs insert trigger does not NOTIFY inside its transaction (a NOTIFY holds PostgreSQL's
 * database-wide notify lock through the commit's WAL flush: notifying commits could never
 * share a flush).  Instead the outbox marks the connection when it queues a job
 * (db_conn_wake_due); once that transaction's COMMIT succeeded, the pool calls cb (this
 * process's runner claims at once) and sends one NOTIFY DB_WAKE_CHANNEL outside any order's
 * transaction, on the listening session when there is one (its echo is not delivered here):
 * one in flight, commits meanwhile coalesce into one more.  The job is durable in its table
 * at COMMIT; the wake-up is only latency (without it, jobs.poll_ms).
 */
#define DB_WAKE_CHANNEL "ra_jobs"
/* mask_of(kind, data) says which of the caller's runners (bits) a job of that kind is for; the
 * wake-up after the COMMIT passes the union of the transaction's kinds to cb, so only those
 * runners claim (a claim that can find nothing is a statement on the cores the commits need).
 * Without mask_of, or for a transaction that may not have committed, the mask is ~0u: all. */
void db_wake_set(struct db_pool *pool, void (*cb)(void *data, unsigned mask),
		 unsigned (*mask_of)(const char *kind, void *data), void *data);
void db_conn_wake_due(struct db_conn *conn, const char *kind);

void db_pool_stats(const struct db_pool *pool, struct db_stats *out);
int db_pool_up(const struct db_pool *pool); /* 1 when at least one connection is up */

/* Maps a failed result to an RA error: 23505 -> RA_E_CONFLICT (field = constraint), serialization
 * failures -> RA_E_CONFLICT, connection classes -> RA_E_UNAVAILABLE, else RA_E_INTERNAL. */
int db_result_err(const PGresult *res, struct ra_err *err);

/* Helpers for reading results. */
static inline const char *db_val(const PGresult *r, int row, int col)
{
	return PQgetisnull(r, row, col) ? NULL : PQgetvalue(r, row, col);
}

#endif
