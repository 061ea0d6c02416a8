/*
 * audit_verify.c - `ra audit verify`: walks the audit chain in seq order in one read-only
 * snapshot, recomputes every hash with OpenSSL and reports the first record that does not
 * fit.  Blocking libpq with a cursor (batches of FETCH_N rows): a CLI command, never the loop.
 */
#include "ra/flows/admin/audit_verify.h"

#include <inttypes.h>
#include <libpq-fe.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "ra/db/dbsync.h"

#define FETCH_N "1000"

/* `at` leaves the database as integer microseconds and is formatted here, so the check
 * does not lean on the database's own formatting (the trigger uses to_char). */
static const char *sql_cursor =
	"DECLARE audit_walk NO SCROLL CURSOR FOR"
	" SELECT seq::text, (extract(epoch FROM at) * 1000000)::bigint::text, actor, action,"
	"  object_type, object_id, reason, details::text, prev_hash, hash"
	" FROM audit_log a ORDER BY a.seq"; /* the column, not the text output named seq */

static int exec(PGconn *c, const char *sql, PGresult **out, struct ra_err *err)
{
	PGresult *r = PQexec(c, sql);
	ExecStatusType st = PQresultStatus(r);

	if (st != PGRES_COMMAND_OK && st != PGRES_TUPLES_OK) {
		ra_err_set(err, RA_E_UNAVAILABLE, "", "%s", PQresultErrorMessage(r));
		PQclear(r);
		return RA_E_UNAVAILABLE;
	}
	if (out)
		*out = r;
	else
		PQclear(r);
	return 0;
}

static int at_text(const char *usec, char *buf, size_t cap)
{
	long long us = strtoll(usec, NULL, 10);
	time_t secs = (time_t)(us / 1000000);
	struct tm tm;
	size_t n;

	if (us < 0 || gmtime_r(&secs, &tm) == NULL)
		return -1;
	n = strftime(buf, cap, "%Y-%m-%dT%H:%M:%S", &tm);
	if (n == 0)
		return -1;
	snprintf(buf + n, cap - n, ".%06lldZ", us % 1000000);
	return 0;
}

/* Checks one row against its predecessor; fills rep and returns 1 when it is broken. */
static int check_row(const PGresult *res, int i, struct audit_report *rep)
{
	char at[64], hash[65];
	const char *stored = db_val(res, i, 9);
	struct audit_row row = {
		.seq = db_val(res, i, 0), .at = at, .actor = db_val(res, i, 2), .action = db_val(res, i, 3),
		.object_type = db_val(res, i, 4), .object_id = db_val(res, i, 5), .reason = db_val(res, i, 6),
		.details = db_val(res, i, 7), .prev_hash = db_val(res, i, 8),
	};
	long long seq = strtoll(row.seq, NULL, 10), want = rep->head_seq + 1;

	if (seq != want) {
		rep->bad_seq = want;
		snprintf(rep->why, sizeof(rep->why), "record %lld is missing (the next one is %lld)", want, seq);
		return 1;
	}
	rep->bad_seq = seq;
	if ((row.prev_hash == NULL) != (seq == 1) ||
	    (row.prev_hash && strcmp(row.prev_hash, rep->head_hash) != 0)) {
		snprintf(rep->why, sizeof(rep->why), "prev_hash does not match the hash of record %lld", seq - 1);
		return 1;
	}
	if (at_text(db_val(res, i, 1), at, sizeof(at)) != 0 || audit_hash(&row, hash) != 0 ||
	    stored == NULL || strcmp(hash, stored) != 0) {
		snprintf(rep->why, sizeof(rep->why), "hash does not match the record's content (stored %.16s..., computed %.16s...)",
			 stored ? stored : "NULL", hash);
		return 1;
	}
	rep->bad_seq = 0;
	rep->count++;
	rep->head_seq = seq;
	snprintf(rep->head_hash, sizeof(rep->head_hash), "%s", stored);
	return 0;
}

static int walk(PGconn *c, struct audit_report *rep, struct ra_err *err)
{
	PGresult *r = NULL;
	int rc, n;

	do {
		if ((rc = exec(c, "FETCH " FETCH_N " FROM audit_walk", &r, err)) != 0)
			return rc;
		n = PQntuples(r);
		for (int i = 0; i < n; i++) {
			if (check_row(r, i, rep)) {
				PQclear(r);
				return ra_err_set(err, RA_E_RULE, "", "audit chain broken at seq %lld: %s", rep->bad_seq,
						  rep->why);
			}
		}
		PQclear(r);
	} while (n > 0);
	return 0;
}

int audit_verify(const char *conninfo, struct audit_report *rep, struct ra_err *err)
{
	PGconn *c = db_connect_sync(conninfo, 0); /* a long chain may take long: no statement limit */
	int rc;

	memset(rep, 0, sizeof(*rep));
	if (PQstatus(c) != CONNECTION_OK) {
		rc = ra_err_set(err, RA_E_UNAVAILABLE, "database_url", "cannot connect to the database: %s",
				PQerrorMessage(c));
		goto out;
	}
	/* The hash is over UTF-8 bytes, as the trigger's convert_to(..., 'UTF8'). */
	if (PQsetClientEncoding(c, "UTF8") != 0) {
		rc = ra_err_set(err, RA_E_INTERNAL, "", "cannot set client encoding UTF8");
		goto out;
	}
	/* One snapshot for the whole walk: appends during it neither break nor extend it. */
	if ((rc = exec(c, "BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY", NULL, err)) != 0 ||
	    (rc = exec(c, sql_cursor, NULL, err)) != 0)
		goto out;
	rc = walk(c, rep, err);
	PQclear(PQexec(c, "ROLLBACK"));
out:
	PQfinish(c);
	return rc;
}

int audit_cmd(struct config *cfg, int argc, char **argv)
{
	struct audit_report rep;
	struct ra_err err = {0};
	int rc;

	if (argc != 1 || strcmp(argv[0], "verify") != 0) {
		fputs("usage: ra audit verify\n", stderr);
		return 2;
	}
	rc = audit_verify(cfg_str(cfg, "database_url"), &rep, &err);
	if (rc == 0) {
		printf("audit log OK: %lld records", rep.count);
		if (rep.count > 0)
			printf(", head seq %lld hash %s", rep.head_seq, rep.head_hash);
		printf("\n");
		return 0;
	}
	if (rc == RA_E_RULE) {
		printf("audit log BROKEN at seq %lld: %s (%lld records before it are intact)\n", rep.bad_seq, rep.why,
		       rep.count);
		return 1;
	}
	fprintf(stderr, "ra audit verify: %s\n", err.msg);
	return 2;
}
