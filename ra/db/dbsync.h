/*
 * dbsync.h - a blocking libpq connection with bounded waits, for CLI commands and for work
 * that runs on the thread pool (review decisions, audit verification).  Never call it on
 * the loop thread.
 */
#ifndef RA_DBSYNC_H
#define RA_DBSYNC_H

#include <libpq-fe.h>

/* conninfo plus connect_timeout (5 s) and statement_timeout (statement_ms, 0 = none), so a
 * database that does not answer cannot hold a pool thread for minutes.  Check PQstatus. */
PGconn *db_connect_sync(const char *conninfo, int statement_ms);

#endif
