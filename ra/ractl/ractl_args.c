/*
 * ractl_args.c - the command line; see ractl_args.h.
 *
 * One getopt_long pass knows every option of every command (each name means the same kind
 * of option everywhere, which tests/unit/test_ractl_cli.c checks over the table), so the
 * command words can stand anywhere between the options.  Once the words name the command,
 * each option given is checked against that command's own list.
 */
#include "ra/ractl/ractl_args.h"

#include <getopt.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ra/ractl/ractl_http.h"
#include "ra/ractl/ractl_out.h"

#define MAX_DEFS 160
#define VAL_BASE 256

struct known {
	const struct ractl_opt *def[MAX_DEFS];
	struct option lo[MAX_DEFS + 1];
	char shorts[64];
	int n;
};

static int usage_err(char *why, size_t cap, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

static int usage_err(char *why, size_t cap, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(why, cap, fmt, ap);
	va_end(ap);
	return RACTL_USAGE;
}

static void add_known(struct known *k, const struct ractl_opt *o)
{
	for (int i = 0; i < k->n; i++)
		if (strcmp(k->def[i]->name, o->name) == 0)
			return;
	if (k->n == MAX_DEFS)
		abort(); /* the table outgrew MAX_DEFS: a build-time mistake */
	k->def[k->n] = o;
	k->lo[k->n] = (struct option){o->name, o->metavar ? required_argument : no_argument, NULL,
				      o->shortname ? o->shortname : VAL_BASE + k->n};
	if (o->shortname) {
		size_t l = strlen(k->shorts);
		k->shorts[l] = o->shortname;
		k->shorts[l + 1] = '\0';
		if (o->metavar)
			strcat(k->shorts, ":");
	}
	k->n++;
}

static void build_known(struct known *k)
{
	memset(k, 0, sizeof(*k));
	/* '-': arguments come back in order as option 1; ':': a missing value is ':' */
	strcpy(k->shorts, "-:");
	for (const struct ractl_opt *o = ractl_global_opts; o->name; o++)
		add_known(k, o);
	for (size_t c = 0; c < ractl_ncmds; c++)
		for (const struct ractl_opt *o = ractl_cmds[c].opts; o && o->name; o++)
			add_known(k, o);
}

static const struct ractl_opt *by_val(const struct known *k, int val)
{
	if (val >= VAL_BASE && val < VAL_BASE + k->n)
		return k->def[val - VAL_BASE];
	for (int i = 0; i < k->n; i++)
		if (k->def[i]->shortname == val)
			return k->def[i];
	return NULL;
}

static const struct ractl_opt *in_list(const struct ractl_opt *list, const char *name)
{
	for (const struct ractl_opt *o = list; o && o->name; o++)
		if (strcmp(o->name, name) == 0)
			return o;
	return NULL;
}

const char *ractl_arg(const struct ractl_args *a, const char *name)
{
	for (int i = a->nv - 1; i >= 0; i--)
		if (strcmp(a->v[i].opt->name, name) == 0)
			return a->v[i].val;
	return NULL;
}

static void cmd_words(const struct ractl_cmd *c, char *buf, size_t cap)
{
	snprintf(buf, cap, "%s%s%s", c->group, c->name[0] ? " " : "", c->name);
}

/* The options given are the command's own or global; values are what the table allows. */
static int check_options(struct ractl_args *a, char *why, size_t cap)
{
	const struct ractl_cmd *c = a->cmd;
	char words[96];

	cmd_words(c, words, sizeof(words));
	for (int i = 0; i < a->nv; i++) {
		const struct ractl_opt *own = in_list(c->opts, a->v[i].opt->name);
		const struct ractl_opt *o = own ? own : in_list(ractl_global_opts, a->v[i].opt->name);
		if (o == NULL)
			return usage_err(why, cap, "%s has no option --%s (see ractl %s -h)", words,
					 a->v[i].opt->name, words);
		a->v[i].opt = o;
		if (o->choices && !ractl_choice_ok(o->choices, a->v[i].val))
			return usage_err(why, cap, "--%s: '%s' is not one of %s", o->name, a->v[i].val,
					 o->choices);
		if (o->flags & RACTL_OPT_INT) {
			char *end;
			long long n = strtoll(a->v[i].val, &end, 10);
			if (*a->v[i].val == '\0' || *end != '\0' || n < 0)
				return usage_err(why, cap, "--%s: '%s' is not a whole number", o->name,
						 a->v[i].val);
			/* the server's page bounds (docs/api.yaml), so a bad one is never sent */
			if (strcmp(o->name, "limit") == 0 && (n < 1 || n > RACTL_LIMIT_MAX))
				return usage_err(why, cap, "--limit: '%s' is not from 1 to %d", a->v[i].val,
						 RACTL_LIMIT_MAX);
		}
	}
	for (const struct ractl_opt *o = c->opts; o && o->name; o++)
		if ((o->flags & RACTL_OPT_REQ) && ractl_arg(a, o->name) == NULL)
			return usage_err(why, cap, "%s needs --%s %s", words, o->name,
					 o->metavar ? o->metavar : "");
	if (a->npos != c->npos && !((c->flags & RACTL_CMD_BULK) && a->npos == 0)) {
		char want[128] = "";
		for (int p = 0; p < c->npos; p++)
			snprintf(want + strlen(want), sizeof(want) - strlen(want), " %s", c->pos[p].metavar);
		return usage_err(why, cap, "%s takes %d argument%s (%s%s), not %d", words, c->npos,
				 c->npos == 1 ? "" : "s", c->npos ? "" : "none", want + (c->npos ? 1 : 0),
				 a->npos);
	}
	for (int p = 0; p < c->npos; p++)
		if (c->pos[p].choices && !ractl_choice_ok(c->pos[p].choices, a->pos[p]))
			return usage_err(why, cap, "%s: '%s' is not one of %s", c->pos[p].metavar, a->pos[p],
					 c->pos[p].choices);
	return 0;
}

/* The command words: GROUP [NAME], taken off the front of the arguments. */
static int find_command(struct ractl_args *a, const char **args, int nargs, char *why, size_t cap)
{
	int used = 0;

	if (nargs > 0 && strcmp(args[0], "help") == 0) { /* ractl help [GROUP [NAME]] */
		a->help = 1;
		args++;
		nargs--;
	}
	if (nargs == 0) {
		if (a->help || a->version)
			return 0;
		return usage_err(why, cap, "no command given (ractl -h lists them)");
	}
	if (ractl_group_find(args[0]) == NULL)
		return usage_err(why, cap, "unknown command '%s' (ractl -h lists them)", args[0]);
	a->group = args[0];
	used = 1;
	if (ractl_group_has_subs(args[0])) {
		if (nargs < 2) {
			if (a->help)
				return 0; /* the group's help */
			return usage_err(why, cap, "%s: which one? (ractl %s -h lists them)", args[0],
					 args[0]);
		}
		a->cmd = ractl_cmd_find(args[0], args[1]);
		if (a->cmd == NULL)
			return usage_err(why, cap, "unknown command 'ractl %s %s' (ractl %s -h lists them)",
					 args[0], args[1], args[0]);
		used = 2;
		if (nargs > 2) { /* a command of three words (ractl user phone-change approve ID) */
			char three[96];
			const struct ractl_cmd *c3;
			snprintf(three, sizeof(three), "%s %s", args[1], args[2]);
			if ((c3 = ractl_cmd_find(args[0], three)) != NULL) {
				a->cmd = c3;
				used = 3;
			}
		}
	} else {
		a->cmd = ractl_cmd_find(args[0], "");
	}
	for (int i = used; i < nargs; i++) {
		if (a->npos == RACTL_MAX_POS)
			return usage_err(why, cap, "too many arguments");
		a->pos[a->npos++] = args[i];
	}
	return 0;
}

static int take(struct ractl_args *a, const struct ractl_opt *o, const char *val, char *why, size_t cap)
{
	if (strcmp(o->name, "help") == 0) {
		a->help = 1;
	} else if (strcmp(o->name, "version") == 0) {
		a->version = 1;
	} else if (strcmp(o->name, "output") == 0 || strcmp(o->name, "json") == 0) {
		a->fmt = ractl_fmt_parse(o->metavar ? val : "json");
		if (a->fmt < 0)
			return usage_err(why, cap, "-o: '%s' is not one of %s", val, RACTL_FORMATS);
	} else if (strcmp(o->name, "no-headers") == 0) {
		a->no_headers = 1;
	} else if (strcmp(o->name, "server") == 0) {
		a->server = val;
	} else {
		if (a->nv == RACTL_MAX_VALS)
			return usage_err(why, cap, "too many options");
		a->v[a->nv++] = (struct ractl_val){o, o->metavar ? val : "1"};
	}
	return 0;
}

int ractl_parse(int argc, char **argv, struct ractl_args *a, char *why, size_t cap)
{
	static struct known k; /* static: its size; ractl parses one command line per run */
	const char *args[64];
	int nargs = 0, o, rc, bad = 0;
	char bad_opt[128] = "";

	memset(a, 0, sizeof(*a));
	a->fmt = RACTL_FMT_TABLE;
	build_known(&k);
	opterr = 0;
	optind = 0; /* full re-initialisation of GNU getopt (a second parse in one process) */
	while ((o = getopt_long(argc, argv, k.shorts, k.lo, NULL)) != -1) {
		const struct ractl_opt *def;
		if (o == 1) {
			if (nargs == (int)(sizeof(args) / sizeof(args[0])))
				return usage_err(why, cap, "too many arguments");
			args[nargs++] = optarg;
			continue;
		}
		if (o == '?' || o == ':') {
			/* reported once -h had its chance: help is never refused */
			if (!bad) {
				const char *w = argv[optind - 1];
				if (optopt && o == '?')
					snprintf(bad_opt, sizeof(bad_opt), "unknown option -%c", optopt);
				else if (o == ':')
					snprintf(bad_opt, sizeof(bad_opt), "option %s needs a value", w);
				else if (strchr(w, '=') && strncmp(w, "--", 2) == 0)
					snprintf(bad_opt, sizeof(bad_opt),
						 "option %.60s takes no value (or is unknown)", w);
				else
					snprintf(bad_opt, sizeof(bad_opt), "unknown option %.60s", w);
			}
			bad = 1;
			continue;
		}
		def = by_val(&k, o);
		if (def == NULL)
			continue;
		rc = take(a, def, optarg, why, cap);
		if (rc != 0 && !bad) {
			snprintf(bad_opt, sizeof(bad_opt), "%s", why);
			bad = 1;
		}
	}
	while (optind < argc && nargs < (int)(sizeof(args) / sizeof(args[0])))
		args[nargs++] = argv[optind++]; /* after "--" */
	rc = find_command(a, args, nargs, why, cap);
	if (a->help || a->version)
		return rc;
	if (rc != 0)
		return rc;
	if (bad) {
		char words[96] = "";
		if (a->cmd)
			cmd_words(a->cmd, words, sizeof(words));
		return usage_err(why, cap, "%s%s%s (see ractl %s%s-h)", words, *words ? ": " : "", bad_opt,
				 words, *words ? " " : "");
	}
	return check_options(a, why, cap);
}
