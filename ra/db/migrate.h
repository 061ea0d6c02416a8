/*
 * migrate.h - schema migrations: migrations/NNNN_name.sql, embedded in the binary at build
 * time, applied in order, each once and in its own transaction, recorded in
 * schema_migrations.  `ra migrate` applies them; `ra serve` refuses a schema older than the
 * newest migration it carries.  Blocking libpq: used by the CLI and at start-up only,
 * never from the loop.
 */
#ifndef RA_MIGRATE_H
#define RA_MIGRATE_H

#include "ra/base/err.h"

struct migration {
	int version;
	const char *name;
	const char *sql;
};

extern const struct migration migrations[];
extern const int migrations_count;

/* Applies what is missing; *applied gets how many.  Serialised by an advisory lock so two
 * processes migrating at once do not collide. */
int migrate_apply(const char *conninfo, int *applied, struct ra_err *err);
/* 0 when the database is at the newest version; RA_E_CONFLICT (older or newer) otherwise. */
int migrate_check(const char *conninfo, int *db_version, struct ra_err *err);
int migrate_latest(void);
/* Fills the columns SQL cannot compute (users.name_fold: libunistring folding, issue #17)
 * where they are NULL; *filled gets how many rows.  migrate_apply does it too; `ra serve`
 * calls it at start for rows another system wrote meanwhile. */
int migrate_fill(const char *conninfo, int *filled, struct ra_err *err);

#endif
