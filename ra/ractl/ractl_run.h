/*
 * ractl_run.h - what a command does once its line is read: the request the table row
 * describes (ractl_run_request), how the answer or the error is shown, confirmation of what
 * cannot be undone, and the commands that need more than one request.
 *
 * Errors always go to stderr: "ractl: ..." lines, or with -o json one JSON object
 * {"error", "message", "field", "rule", "status", "exit"}.  The exit status is the table in
 * ractl_http.h.
 */
#ifndef RA_RACTL_RUN_H
#define RA_RACTL_RUN_H

#include <jansson.h>
#include <stdio.h>

#include "ra/ractl/ractl_args.h"
#include "ra/ractl/ractl_cmd.h"
#include "ra/ractl/ractl_http.h"
#include "ra/ractl/ractl_out.h"

struct ractl_ctx {
	struct ractl_args a;
	struct ractl_conf conf;
	struct ractl_view view;
	FILE *out, *err;
	int stdin_tty; /* confirmations are asked only on a terminal */
};

/* The generic command: the row's method and path, options as body or query, the answer
 * shown with the row's resource; confirmation first for RACTL_CMD_CONFIRM. */
int ractl_run_request(const struct ractl_cmd *c, struct ractl_ctx *x);

/* Prints a usage error (and returns RACTL_USAGE). */
int ractl_usage_error(struct ractl_ctx *x, const char *msg);
/* Prints an error of ractl's own with its exit code (returns code). */
int ractl_error(struct ractl_ctx *x, int code, const char *kind, const char *msg);

/* Commands with their own logic (rows of ractl_table.c). */
int ractl_run_cert_show(const struct ractl_cmd *c, struct ractl_ctx *x);
int ractl_run_audit_verify(const struct ractl_cmd *c, struct ractl_ctx *x);
/* cert revoke: one certificate (the generic request) or, with --contract|--org|--user, a bulk
 * revocation: the count first (a dry run), confirmation, then the jobs followed to the end. */
int ractl_run_cert_revoke(const struct ractl_cmd *c, struct ractl_ctx *x);
int ractl_run_bulk_watch(const struct ractl_cmd *c, struct ractl_ctx *x);

/* Local commands (ractl_doc.c): help, the man page and shell completion. */
int ractl_run_completion(const struct ractl_cmd *c, struct ractl_ctx *x);
int ractl_run_man(const struct ractl_cmd *c, struct ractl_ctx *x);
/* -h: the command's help, a group's, or the overview when both are NULL. */
void ractl_help(FILE *f, const struct ractl_cmd *c, const char *group);
/* The version line (from the build). */
void ractl_version(FILE *f);

#endif
