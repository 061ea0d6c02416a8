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

#endif
