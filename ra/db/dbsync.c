/* dbsync.c - bounded blocking connections; see dbsync.h. */
#include "ra/db/dbsync.h"

#include <stdio.h>

PGconn *db_connect_sync(const char *conninfo, int statement_ms)
{
	char options[64];
	/* expand_dbname = 1: "dbname" carries the whole conninfo; the later keys override */
	const char *keys[] = {"dbname", "connect_timeout", "options", NULL};
	const char *vals[] = {conninfo, "5", options, NULL};

	snprintf(options, sizeof(options), "-c statement_timeout=%d", statement_ms > 0 ? statement_ms : 0);
	return PQconnectdbParams(keys, vals, 1);
}
