/*
 * dbtx.c - BEGIN, statements, COMMIT on one leased connection; see dbtx.h.
 */
#include "ra/db/dbtx.h"

#include <stdlib.h>
#include <string.h>

struct dbtx {
	struct db_conn *conn;
	struct dbtx_stmt st[DBTX_MAX_STMTS];
	char *copy[DBTX_MAX_STMTS][DBTX_MAX_PARAMS];
	int rows[DBTX_MAX_STMTS];
	int n, next; /* next: statement to run; -1 BEGIN, n COMMIT */
	dbtx_cb cb;
	void *data;
};

static void tx_free(struct dbtx *t)
{
	for (int i = 0; i < t->n; i++)
		for (int k = 0; k < t->st[i].n; k++)
			free(t->copy[i][k]);
	free(t);
}

static void finish(struct dbtx *t, const struct ra_err *err)
{
	if (t->conn)
		db_release(t->conn); /* rolls back when the transaction is still open */
	t->cb(t->rows, err, t->data);
	tx_free(t);
}

static void on_res(PGresult *res, const struct ra_err *err, void *data);

static void run_next(struct dbtx *t)
{
	if (t->next == t->n) {
		db_conn_query(t->conn, "COMMIT", 0, NULL, on_res, t);
		return;
	}
	db_conn_query(t->conn, t->st[t->next].sql, t->st[t->next].n, (const char *const *)t->copy[t->next],
		      on_res, t);
}

static void on_res(PGresult *res, const struct ra_err *err, void *data)
{
	struct dbtx *t = data;
	struct ra_err e;

	if (err != NULL) {
		finish(t, err);
		return;
	}
	if (t->next == t->n) { /* committed */
		db_release(t->conn);
		t->conn = NULL;
		finish(t, NULL);
		return;
	}
	if (t->next >= 0) {
		const char *aff = PQcmdTuples(res);
		int n = PQresultStatus(res) == PGRES_TUPLES_OK ? PQntuples(res)
							       : (aff && *aff ? atoi(aff) : 0);
		t->rows[t->next] = n;
		if (n == 0 && t->st[t->next].need_rows) {
			ra_err_set(&e, RA_E_CONFLICT, "state", "the state changed meanwhile (statement %d)",
				   t->next);
			finish(t, &e);
			return;
		}
	}
	t->next++;
	run_next(t);
}

static void on_conn(struct db_conn *conn, const struct ra_err *err, void *data)
{
	struct dbtx *t = data;

	if (err != NULL) {
		finish(t, err);
		return;
	}
	t->conn = conn;
	t->next = -1;
	db_conn_query(conn, "BEGIN", 0, NULL, on_res, t);
}

void dbtx_run(struct db_pool *pool, const struct dbtx_stmt *stmts, int n, dbtx_cb cb, void *data)
{
	struct dbtx *t = calloc(1, sizeof(*t));

	if (t == NULL || n < 1 || n > DBTX_MAX_STMTS)
		abort(); /* out of memory or a programming error */
	t->n = n;
	t->cb = cb;
	t->data = data;
	for (int i = 0; i < n; i++) {
		t->st[i] = stmts[i];
		for (int k = 0; k < stmts[i].n && k < DBTX_MAX_PARAMS; k++) {
			if (stmts[i].params[k] != NULL &&
			    (t->copy[i][k] = strdup(stmts[i].params[k])) == NULL)
				abort();
		}
	}
	db_acquire(pool, on_conn, t);
}
