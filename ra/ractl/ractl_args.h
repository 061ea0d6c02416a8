/*
 * ractl_args.h - reading ractl's command line with getopt_long: global options anywhere
 * (`ractl -o json whoami`, `ractl whoami -o json`), `--flag=value` and `--flag value`,
 * `--` before arguments that start with a dash, `-h`/`--help` anywhere (it always wins: a
 * command with -h shows its help and does nothing), and every check the command table
 * allows before anything is sent: the command, its options, required options, allowed
 * values and the number of arguments.
 */
#ifndef RA_RACTL_ARGS_H
#define RA_RACTL_ARGS_H

#include <stddef.h>

#include "ra/ractl/ractl_cmd.h"

#define RACTL_MAX_POS 8
#define RACTL_MAX_VALS 48

struct ractl_val {
	const struct ractl_opt *opt; /* the command's (or the global) definition */
	const char *val; /* "1" for flags */
};

struct ractl_args {
	const struct ractl_cmd *cmd; /* NULL: no command (top-level -h/--version) or a group's -h */
	const char *group; /* the group named, for `ractl cert -h` */
	const char *pos[RACTL_MAX_POS];
	int npos;
	struct ractl_val v[RACTL_MAX_VALS];
	int nv;
	int help, version;
	int fmt; /* enum ractl_fmt */
	int no_headers;
	const char *server;
};

/* Fills a from argv.  0, or RACTL_USAGE with the reason in why.  With a->help set the
 * command's own checks are skipped (help is always possible). */
int ractl_parse(int argc, char **argv, struct ractl_args *a, char *why, size_t cap);

/* The last value given for option name ("1" for a flag), or NULL. */
const char *ractl_arg(const struct ractl_args *a, const char *name);

#endif
