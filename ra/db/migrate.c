/* migrate.c - apply and check schema migrations; see migrate.h. */
#include "ra/db/migrate.h"

#include <libpq-fe.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ra/base/log.h"
#include "ra/base/names.h"

#define MIGRATE_LOCK "7310001" /* advisory lock key for migrations */

static const char *sql_create =
	"CREATE TABLE IF NOT EXISTS schema_migrations ("
	" version integer PRIMARY KEY, name text NOT NULL,"
	" applied_at timestamptz NOT NULL DEFAULT now())";
static const char *sql_lock = "SELECT pg_advisory_lock($1::bigint)";
static const char *sql_unlock = "SELECT pg_advisory_unlock($1::bigint)";
static const char *sql_has = "SELECT 1 FROM schema_migrations WHERE version = $1::int";
static const char *sql_record = "INSERT INTO schema_migrations (version, name) VALUES ($1::int, $2)";
static const char *sql_max = "SELECT coalesce(max(version), 0) FROM schema_migrations";
static const char *sql_exists = "SELECT to_regclass('schema_migrations') IS NOT NULL";
/* $1 every version this ra has (int[]): the first one the database lacks, or NULL */
static const char *sql_missing =
	"SELECT min(v) FROM unnest($1::int[]) AS v WHERE v NOT IN (SELECT version FROM schema_migrations)";

int migrate_latest(void)
{
	int v = 0;

	for (int i = 0; i < migrations_count; i++)
		if (migrations[i].version > v)
			v = migrations[i].version;
	return v;
}

static int exec_ok(PGconn *c, const char *sql, int n, const char *const *p, struct ra_err *err,
		   PGresult **out)
{
	PGresult *r = PQexecParams(c, sql, n, NULL, p, NULL, NULL, 0);
	ExecStatusType st = PQresultStatus(r);

	if (st != PGRES_COMMAND_OK && st != PGRES_TUPLES_OK) {
		ra_err_set(err, RA_E_INTERNAL, "", "%s", PQresultErrorMessage(r));
		PQclear(r);
		return RA_E_INTERNAL;
	}
	if (out)
		*out = r;
	else
		PQclear(r);
	return 0;
}

static PGconn *connect_db(const char *conninfo, struct ra_err *err)
{
	PGconn *c = PQconnectdb(conninfo);

	if (PQstatus(c) != CONNECTION_OK) {
		ra_err_set(err, RA_E_UNAVAILABLE, "database_url", "cannot connect to the database: %s",
			   PQerrorMessage(c));
		PQfinish(c);
		return NULL;
	}
	return c;
}

static int apply_one(PGconn *c, const struct migration *m, struct ra_err *err)
{
	char ver[16];
	const char *p[2] = {ver, m->name};
	PGresult *r;
	int rc;

	snprintf(ver, sizeof(ver), "%d", m->version);
	if ((rc = exec_ok(c, sql_has, 1, p, err, &r)) != 0)
		return rc;
	if (PQntuples(r) == 1) {
		PQclear(r);
		return 1; /* already there */
	}
	PQclear(r);
	if ((rc = exec_ok(c, "BEGIN", 0, NULL, err, NULL)) != 0)
		return rc;
	/* A migration file may hold several statements: PQexec, not PQexecParams.  Its text is
	 * our own, compiled into the binary; no input reaches it. */
	r = PQexec(c, m->sql);
	if (PQresultStatus(r) != PGRES_COMMAND_OK && PQresultStatus(r) != PGRES_TUPLES_OK) {
		ra_err_set(err, RA_E_INTERNAL, m->name, "migration %s failed: %s", m->name,
			   PQresultErrorMessage(r));
		PQclear(r);
		PQclear(PQexec(c, "ROLLBACK"));
		return RA_E_INTERNAL;
	}
	PQclear(r);
	if ((rc = exec_ok(c, sql_record, 2, p, err, NULL)) != 0 ||
	    (rc = exec_ok(c, "COMMIT", 0, NULL, err, NULL)) != 0) {
		PQclear(PQexec(c, "ROLLBACK"));
		return rc;
	}
	log_info("migrate.applied", "migration", m->name, NULL);
	return 0;
}

/* ---- what SQL cannot compute ----------------------------------------------------------- */

/* users.name_fold (0014) is libunistring's folding: rows written before the migration, or
 * by another system, are filled here in batches.  An unfoldable name gets '' so it is not
 * read again. */
static const char *sql_fold_batch =
	"SELECT id, first_name || ' ' || last_name FROM users WHERE name_fold IS NULL ORDER BY id LIMIT 500";
static const char *sql_fold_set =
	"UPDATE users SET name_fold = $2 WHERE id = $1::bigint AND name_fold IS NULL";

static int fill_folds(PGconn *c, int *filled, struct ra_err *err)
{
	int rc = 0, n;

	do {
		PGresult *r;
		if ((rc = exec_ok(c, sql_fold_batch, 0, NULL, err, &r)) != 0)
			return rc;
		n = PQntuples(r);
		for (int i = 0; i < n && rc == 0; i++) {
			char *fold = name_fold(PQgetvalue(r, i, 1));
			const char *p[2] = {PQgetvalue(r, i, 0), fold ? fold : ""};
			rc = exec_ok(c, sql_fold_set, 2, p, err, NULL);
			free(fold);
			(*filled)++;
		}
		PQclear(r);
	} while (rc == 0 && n > 0);
	return rc;
}

int migrate_fill(const char *conninfo, int *filled, struct ra_err *err)
{
	PGconn *c = connect_db(conninfo, err);
	int rc;

	*filled = 0;
	if (c == NULL)
		return RA_E_UNAVAILABLE;
	rc = fill_folds(c, filled, err);
	PQfinish(c);
	if (rc == 0 && *filled > 0) {
		char n[16];
		snprintf(n, sizeof(n), "%d", *filled);
		log_info("migrate.filled", "column", "users.name_fold", "rows", n, NULL);
	}
	return rc;
}

int migrate_apply(const char *conninfo, int *applied, struct ra_err *err)
{
	const char *lock[1] = {MIGRATE_LOCK};
	PGconn *c = connect_db(conninfo, err);
	int rc = 0;

	*applied = 0;
	if (c == NULL)
		return RA_E_UNAVAILABLE;
	PQclear(PQexec(c, "SET client_min_messages = warning"));
	if ((rc = exec_ok(c, sql_lock, 1, lock, err, NULL)) != 0)
		goto out;
	if ((rc = exec_ok(c, sql_create, 0, NULL, err, NULL)) != 0)
		goto unlock;
	for (int i = 0; i < migrations_count; i++) {
		rc = apply_one(c, &migrations[i], err);
		if (rc < 0)
			goto unlock;
		if (rc == 0)
			(*applied)++;
		rc = 0;
	}
	{
		int filled = 0;
		rc = fill_folds(c, &filled, err);
	}
unlock:
	PQclear(PQexecParams(c, sql_unlock, 1, NULL, lock, NULL, NULL, 0));
out:
	PQfinish(c);
	return rc;
}

/* The newest version alone does not say a migration numbered below it was applied (one that
 * landed after a higher one, as 0016 did after 0018 and 0019): every version must be there. */
static int check_none_missing(PGconn *c, PGresult **r, struct ra_err *err)
{
	char list[16 * 64] = "{";
	size_t n = 1;
	const char *p[1] = {list};
	int rc;

	for (int i = 0; i < migrations_count && n < sizeof(list) - 16; i++)
		n += (size_t)snprintf(list + n, sizeof(list) - n, "%s%d", i ? "," : "",
				      migrations[i].version);
	snprintf(list + n, sizeof(list) - n, "}");
	PQclear(*r);
	*r = NULL;
	if ((rc = exec_ok(c, sql_missing, 1, p, err, r)) != 0)
		return rc;
	if (!PQgetisnull(*r, 0, 0))
		return ra_err_set(
			err, RA_E_CONFLICT, "",
			"database schema lacks migration %04d (applied: up to %d): run 'ra migrate'",
			atoi(PQgetvalue(*r, 0, 0)), migrate_latest());
	return 0;
}

int migrate_check(const char *conninfo, int *db_version, struct ra_err *err)
{
	PGconn *c = connect_db(conninfo, err);
	PGresult *r = NULL;
	int rc, want = migrate_latest();

	*db_version = 0;
	if (c == NULL)
		return RA_E_UNAVAILABLE;
	if ((rc = exec_ok(c, sql_exists, 0, NULL, err, &r)) != 0)
		goto out;
	if (strcmp(PQgetvalue(r, 0, 0), "t") == 0) {
		PQclear(r);
		if ((rc = exec_ok(c, sql_max, 0, NULL, err, &r)) != 0)
			goto out;
		*db_version = atoi(PQgetvalue(r, 0, 0));
	}
	if (*db_version < want)
		rc = ra_err_set(err, RA_E_CONFLICT, "",
				"database schema is at version %d, this ra needs %d: run 'ra migrate'",
				*db_version, want);
	else if (*db_version > want)
		rc = ra_err_set(err, RA_E_CONFLICT, "",
				"database schema version %d is newer than this ra (%d): upgrade ra",
				*db_version, want);
	else
		rc = check_none_missing(c, &r, err);
out:
	PQclear(r);
	PQfinish(c);
	return rc;
}
