/*
 * tmpl.h - notification templates as files (issue #14; docs/lifecycle.md "Notifications").
 *
 * A template is a UTF-8 text file: the first line "Subject: ...", one empty line, then the
 * plain-text body.  {{name}} stands for a variable; every name a template uses must be in the
 * list of variables its caller provides, so a typo fails when the template is loaded (at
 * start-up), not when a mail is due.  Values are inserted as they are (plain text mails: no
 * escaping); a NULL value renders as "-".
 */
#ifndef RA_TMPL_H
#define RA_TMPL_H

#include <stddef.h>

#include "ra/base/config.h"
#include "ra/base/err.h"

struct tmpl {
	char *subject; /* variables not yet replaced */
	char *body;
};

/* Reads and checks path: the Subject line, the empty line, UTF-8, and that every {{name}} is in
 * vars (NULL-terminated).  err names the file and the problem.  Free with tmpl_free. */
int tmpl_load(struct tmpl *t, const char *path, const char *const *vars, struct ra_err *err);
void tmpl_free(struct tmpl *t);

/* Replaces every {{name}} in text with values[i] where names[i] == name (n pairs; a NULL value
 * renders as "-", a name not in the list as well).  Returns a new string (caller frees), NULL
 * when out of memory. */
char *tmpl_render(const char *text, const char *const *names, const char *const *values, size_t n);

/* The process's templates (the registry): each is loaded once, at start-up, from
 * notify.templates/<language>/<name>.txt in every language the product ships (de, en), and
 * used in notify.language.  tmpl_register fails naming the file (missing, not UTF-8, unknown
 * variable) or the configuration key (no folder, a language that is not de or en); a name
 * registered twice is loaded once (vars must then be the same list). */
int tmpl_register(const struct config *cfg, const char *name, const char *const *vars, struct ra_err *err);
/* The registered template name in notify.language; NULL if it was never registered. */
const struct tmpl *tmpl_get(const char *name);
/* How many templates are registered (for the start-up log). */
size_t tmpl_count(void);

#endif
