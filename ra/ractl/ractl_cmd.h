/*
 * ractl_cmd.h - the one command table of ractl.  Everything a person sees about a command
 * comes from its row: parsing (getopt_long over the row's options), validation (required
 * options, allowed values, argument count), the request it makes, how the answer is shown,
 * `-h`, the man page (`ractl man`) and the shell completion (`ractl completion bash|zsh`).
 * Adding a command is adding a row; nothing else lists commands.
 */
#ifndef RA_RACTL_CMD_H
#define RA_RACTL_CMD_H

#include <stddef.h>

/* Option flags. */
#define RACTL_OPT_REQ 1u /* must be given */
#define RACTL_OPT_INT 2u /* a whole number, sent as a JSON number */
#define RACTL_OPT_LOCAL 4u /* read by ractl itself, never sent to the server */

struct ractl_opt {
	const char *name; /* long name without the dashes; NULL ends a list */
	char shortname; /* 0: none */
	const char *metavar; /* NULL: a flag without a value */
	unsigned flags;
	const char *choices; /* "a|b|c": any other value is a usage error (exit 2) */
	const char *key; /* the body or query member; NULL: the name with '-' as '_' */
	const char *help;
};

/* A positional argument: key NULL goes into the path ("{1}", "{2}"), else into the body
 * (POST) or the query (GET) under key. */
struct ractl_pos {
	const char *metavar;
	const char *key;
	const char *choices;
};

/* Command flags. */
#define RACTL_CMD_CONFIRM 1u /* cannot be undone: confirmation on a terminal, --yes otherwise */
#define RACTL_CMD_LOCAL 2u /* answered by ractl itself: no server, no token */
#define RACTL_CMD_LIST 4u /* a paged list: --limit, --after; says when more exist */
#define RACTL_CMD_BULK 8u /* the argument may be left out for a scope option (cert revoke --contract) */
#define RACTL_LIMIT_MAX 500 /* the server's largest page (ADM_LIMIT_MAX) */

struct ractl_cmd;
struct ractl_ctx;
typedef int (*ractl_run_fn)(const struct ractl_cmd *c, struct ractl_ctx *x);

struct ractl_cmd {
	const char *group; /* "cert" */
	const char *name; /* "revoke"; "" for a one-word command */
	const struct ractl_pos *pos;
	int npos; /* exactly this many positional arguments */
	const struct ractl_opt *opts;
	const char *method, *path; /* "/v1/admin/certs/{1}/revoke" */
	const char *resource; /* how the answer is shown (ractl_res.h); NULL: as it comes */
	unsigned flags;
	ractl_run_fn run; /* NULL: the generic request */
	const char *confirm; /* CONFIRM: answer members, "serial|certificate_id", one typed back */
	const char *summary; /* one line, no full stop */
	const char *about; /* a paragraph, or NULL */
	const char *example; /* command lines, '\n'-separated */
};

struct ractl_group {
	const char *name;
	const char *summary;
};

extern const struct ractl_cmd ractl_cmds[];
extern const size_t ractl_ncmds;
extern const struct ractl_group ractl_groups[];
extern const size_t ractl_ngroups;
/* Accepted anywhere on the line, by every command. */
extern const struct ractl_opt ractl_global_opts[];

/* The exit codes, for -h and the man page. */
struct ractl_exit_doc {
	int code;
	const char *meaning;
};
extern const struct ractl_exit_doc ractl_exit_docs[];

const struct ractl_group *ractl_group_find(const char *name);
/* The command group/name ("" for one-word commands); NULL when there is none. */
const struct ractl_cmd *ractl_cmd_find(const char *group, const char *name);
/* 1 when group has subcommands (ractl cert ...), 0 for a one-word command or none. */
int ractl_group_has_subs(const char *group);
/* Number of options in a NULL-terminated list (0 for NULL). */
size_t ractl_opt_count(const struct ractl_opt *o);
/* 1 when value is one of choices ("a|b|c"). */
int ractl_choice_ok(const char *choices, const char *value);

#endif
