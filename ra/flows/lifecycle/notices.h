/*
 * notices.h - which change mails whom (notices.c): the table from audit actions to templates
 * and recipients, and the templates themselves, loaded and checked at start-up from
 * notify.templates/<language>/<template>.txt (docs/lifecycle.md "Notifications").
 */
#ifndef RA_LIFECYCLE_NOTICES_H
#define RA_LIFECYCLE_NOTICES_H

#include "ra/base/config.h"
#include "ra/base/err.h"
#include "ra/base/tmpl.h"

/* One row of the table: an audit record with `action` (and, when set, details->>if_key equal
 * to if_val, and details without any of the keys in unless_key, "a|b") mails `to` with `tmpl`. */
struct notice {
	const char *action;
	const char *tmpl;
	const char *to; /* "user" or "support" */
	const char *if_key, *if_val;
	const char *unless_key;
};

/* The table, ended by a row with action NULL.  The template of a dead job (not an audit
 * record: the job runner parks jobs dead) is NOTICE_JOB_DEAD, to support. */
extern const struct notice notices[];
#define NOTICE_JOB_DEAD "support_job_dead"

/* The variables each recipient's templates may use (NULL-terminated). */
extern const char *const notice_user_vars[];
extern const char *const notice_support_vars[];

/* Loads every template of the table in every language (de, en) and checks its variables;
 * fails naming the file when one is missing or wrong, or when notify.language is not one of
 * them.  Once, at start-up (ra/base/tmpl.h: the registry; tmpl_get finds them). */
int notices_load(const struct config *cfg, struct ra_err *err);
/* 1 when support mails go anywhere (notify.support_address set). */
int notices_support_on(const struct config *cfg);

#endif
