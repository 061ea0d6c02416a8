/*
 * dbtx.h - a few statements as one transaction on a leased connection: BEGIN, each statement
 * in order, COMMIT.  For state changes whose statements are all known up front (their
 * parameters do not depend on earlier results; later statements read earlier effects through
 * SQL).  A statement marked need_rows that returns or touches no row rolls everything back
 * with RA_E_CONFLICT: the guard a state change is conditioned on ("WHERE state = ...") did not
 * hold, because someone else got there first.
 */
#ifndef RA_DBTX_H
#define RA_DBTX_H

#include "ra/db/db.h"

#define DBTX_MAX_STMTS 8
#define DBTX_MAX_PARAMS 16

struct dbtx_stmt {
	const char *sql; /* static (conventions.md rule 8) */
	int n;
	const char *params[DBTX_MAX_PARAMS]; /* copied by dbtx_run; NULL = SQL NULL */
	int need_rows;
};

/* rows[i]: rows returned (or affected) by statement i.  err NULL on COMMIT. */
typedef void (*dbtx_cb)(const int *rows, const struct ra_err *err, void *data);

/* Runs stmts[0..n) in one transaction.  cb is called exactly once, from the loop. */
void dbtx_run(struct db_pool *pool, const struct dbtx_stmt *stmts, int n, dbtx_cb cb, void *data);

#endif
