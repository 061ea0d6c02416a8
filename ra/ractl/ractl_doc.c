/*
 * ractl_doc.c - everything ractl says about itself, generated from the command table:
 * `-h` for the overview, a group and a command; the man page (`ractl man`, built into
 * build/ractl.1 by the Makefile); the bash and zsh completion scripts (`ractl completion`).
 */
#include <stdlib.h>
#include <string.h>

#include "ra/base/version.h"
#include "ra/ractl/ractl_run.h"

#define WRAP 78

static const char *config_text =
	"The server and the token come from RACTL_URL and RACTL_TOKEN, else from the file $RACTL_CONFIG, "
	"$XDG_CONFIG_HOME/ractl/config or ~/.config/ractl/config (lines 'url = ...' and 'token = ...'; keep it "
	"mode 600).  The token is never taken from the command line, where ps and the shell history would show it.";

static const char *output_text =
	"Tables have a fixed column order per kind of object and fit the terminal's width: the least important "
	"columns are left out first, then long cells are cut with '…'; -o wide shows every column in full.  "
	"Errors always go to stderr; with -o json as one JSON object {\"error\", \"message\", \"field\", \"rule\", "
	"\"exit\"}.  Names and text from shops and customers are shown with control, format and bidi characters "
	"escaped (\\x1b, \\u202e), so they cannot change the terminal.";

void ractl_version(FILE *f)
{
	fprintf(f, "ractl %s\n", version_string());
}

/* ---- -h -------------------------------------------------------------------------------- */

/* Prints text wrapped at WRAP columns: the first line continues after col columns already
 * written, the others start at indent. */
static void wrap_at(FILE *f, const char *text, int col, int indent)
{
	int fresh = 1;

	for (const char *p = text; *p;) {
		size_t n = strcspn(p, " ");
		if (!fresh && col + 1 + (int)n > WRAP) {
			fprintf(f, "\n%*s", indent, "");
			col = indent;
			fresh = 1;
		}
		if (!fresh) {
			fputc(' ', f);
			col++;
		}
		for (size_t i = 0; i < n; i++) /* \x1f: a space that does not break the line */
			fputc(p[i] == '\x1f' ? ' ' : p[i], f);
		col += (int)n;
		fresh = 0;
		p += n;
		while (*p == ' ')
			p++;
	}
	fputc('\n', f);
}

static void wrap(FILE *f, const char *text, int indent)
{
	fprintf(f, "%*s", indent, "");
	wrap_at(f, text, indent, indent);
}

static void synopsis(FILE *f, const struct ractl_cmd *c)
{
	fprintf(f, "ractl %s%s%s", c->group, c->name[0] ? " " : "", c->name);
	for (int i = 0; i < c->npos; i++)
		fprintf(f, " %s", c->pos[i].metavar);
	for (const struct ractl_opt *o = c->opts; o && o->name; o++) {
		int req = (o->flags & RACTL_OPT_REQ) != 0;
		fprintf(f, " %s--%s%s%s%s", req ? "" : "[", o->name, o->metavar ? "\x1f" : "",
			o->metavar ? o->metavar : "", req ? "" : "]");
	}
}

#define OPT_COL 28

static void opt_line(FILE *f, const struct ractl_opt *o)
{
	char head[96], help[600];
	int n;

	if (o->shortname)
		n = snprintf(head, sizeof(head), "  -%c, --%s%s%s", o->shortname, o->name,
			     o->metavar ? " " : "", o->metavar ? o->metavar : "");
	else /* aligned with the options that have a short form */
		n = snprintf(head, sizeof(head), "      --%s%s%s", o->name, o->metavar ? " " : "",
			     o->metavar ? o->metavar : "");
	snprintf(help, sizeof(help), "%s%s%s%s", o->help, (o->flags & RACTL_OPT_REQ) ? " (required)" : "",
		 o->choices ? "; one of: " : "", o->choices ? o->choices : "");
	if (o->choices) /* let the list of values wrap between values */
		for (char *p = strstr(help, "one of: ") + 8; *p; p++)
			if (*p == '|' && strlen(p) > 1) {
				memmove(p + 2, p + 1, strlen(p + 1) + 1);
				p[1] = ' ';
				p++;
			}
	if (n >= OPT_COL) {
		fprintf(f, "%s\n%*s", head, OPT_COL, "");
	} else {
		fprintf(f, "%s%*s", head, OPT_COL - n, "");
	}
	wrap_at(f, help, OPT_COL, OPT_COL);
}

static void cmd_words(const struct ractl_cmd *c, char *buf, size_t cap)
{
	snprintf(buf, cap, "%s%s%s", c->group, c->name[0] ? " " : "", c->name);
	for (int i = 0; i < c->npos; i++)
		snprintf(buf + strlen(buf), cap - strlen(buf), " %s", c->pos[i].metavar);
}

#define CMD_COL 34

static void cmd_line(FILE *f, const char *words, const char *summary)
{
	int n = fprintf(f, "  %s", words);

	if (n >= CMD_COL - 1) {
		fprintf(f, "\n%*s", CMD_COL, "");
	} else {
		fprintf(f, "%*s", CMD_COL - n, "");
	}
	wrap_at(f, summary, CMD_COL, CMD_COL);
}

static void help_overview(FILE *f)
{
	fprintf(f, "ractl %s: the support desk's command line for the RA\n\n", version_string());
	fputs("usage: ractl COMMAND [ARGUMENTS] [OPTIONS]\n"
	      "  options may stand anywhere; ractl COMMAND -h: its options and an example\n\n"
	      "Commands:\n",
	      f);
	for (size_t i = 0; i < ractl_ncmds; i++) {
		char words[128];
		cmd_words(&ractl_cmds[i], words, sizeof(words));
		cmd_line(f, words, ractl_cmds[i].summary);
	}
	fputs("\nGlobal options (anywhere on the line):\n", f);
	for (const struct ractl_opt *o = ractl_global_opts; o->name; o++)
		opt_line(f, o);
	fputs("\n", f);
	wrap(f, config_text, 0);
	fputs("\nExit codes:\n", f);
	for (const struct ractl_exit_doc *e = ractl_exit_docs; e->meaning; e++) {
		fprintf(f, "  %d  ", e->code);
		wrap_at(f, e->meaning, 5, 5);
	}
}

static void help_group(FILE *f, const char *group)
{
	const struct ractl_group *g = ractl_group_find(group);

	fprintf(f, "ractl %s: %s\n\nCommands:\n", group, g ? g->summary : "");
	for (size_t i = 0; i < ractl_ncmds; i++)
		if (strcmp(ractl_cmds[i].group, group) == 0) {
			char words[128];
			cmd_words(&ractl_cmds[i], words, sizeof(words));
			cmd_line(f, words, ractl_cmds[i].summary);
		}
	fprintf(f, "\nractl %s COMMAND -h shows a command's options and an example.\n", group);
}

static void help_cmd(FILE *f, const struct ractl_cmd *c)
{
	char *syn = NULL;
	size_t n = 0;
	FILE *m = open_memstream(&syn, &n);

	if (m == NULL)
		abort();
	synopsis(m, c);
	fclose(m);
	fputs("usage: ", f);
	wrap_at(f, syn, 7, 8);
	free(syn);
	fputc('\n', f);
	wrap(f, c->summary, 0);
	if (c->about) {
		fputc('\n', f);
		wrap(f, c->about, 0);
	}
	if (ractl_opt_count(c->opts) > 0) {
		fputs("\nOptions:\n", f);
		for (const struct ractl_opt *o = c->opts; o->name; o++)
			opt_line(f, o);
	}
	for (int i = 0; i < c->npos; i++)
		if (c->pos[i].choices)
			fprintf(f, "\n%s is one of: %s\n", c->pos[i].metavar, c->pos[i].choices);
	fputs("\nGlobal options (ractl -h): -o " RACTL_FORMATS
	      ", --no-headers,\n"
	      "  --server URL, -h\n",
	      f);
	if (c->example) {
		fputs("\nExample:\n", f);
		for (const char *p = c->example; *p;) {
			size_t len = strcspn(p, "\n");
			fprintf(f, "  %.*s\n", (int)len, p);
			p += len;
			if (*p)
				p++;
		}
	}
}

void ractl_help(FILE *f, const struct ractl_cmd *c, const char *group)
{
	if (c)
		help_cmd(f, c);
	else if (group)
		help_group(f, group);
	else
		help_overview(f);
}

/* ---- the man page ---------------------------------------------------------------------- */

/* Text for roff: backslashes and dashes escaped, no line may start with '.' or '\''. */
static void roff(FILE *f, const char *s)
{
	int bol = 1;

	for (const char *p = s; *p; p++) {
		if (bol && (*p == '.' || *p == '\''))
			fputs("\\&", f);
		bol = *p == '\n';
		if (*p == '\\')
			fputs("\\e", f);
		else if (*p == '-')
			fputs("\\-", f);
		else
			fputc(*p, f);
	}
}

static void man_opt(FILE *f, const struct ractl_opt *o)
{
	fputs(".TP\n", f);
	if (o->shortname)
		fprintf(f, "\\fB\\-%c\\fR, ", o->shortname);
	fputs("\\fB\\-\\-", f);
	roff(f, o->name);
	fputs("\\fR", f);
	if (o->metavar) {
		fputs(" \\fI", f);
		roff(f, o->metavar);
		fputs("\\fR", f);
	}
	fputc('\n', f);
	roff(f, o->help);
	if (o->flags & RACTL_OPT_REQ)
		fputs(" (required)", f);
	if (o->choices) {
		fputs(".  One of: ", f);
		for (const char *p = o->choices; *p; p++)
			if (*p == '|')
				fputs(", ", f);
			else
				roff(f, (char[2]){*p, 0});
	}
	fputs(".\n", f);
}

static void man_cmd(FILE *f, const struct ractl_cmd *c)
{
	fputs(".SS \"", f);
	roff(f, c->group);
	if (c->name[0]) {
		fputc(' ', f);
		roff(f, c->name);
	}
	for (int i = 0; i < c->npos; i++) {
		fputc(' ', f);
		roff(f, c->pos[i].metavar);
	}
	fputs("\"\n", f);
	roff(f, c->summary);
	fputs(".\n", f);
	if (c->about) {
		roff(f, c->about);
		fputc('\n', f);
	}
	for (int i = 0; i < c->npos; i++)
		if (c->pos[i].choices) {
			fputs(".PP\n", f);
			roff(f, c->pos[i].metavar);
			fputs(" is one of: ", f);
			roff(f, c->pos[i].choices);
			fputs(".\n", f);
		}
	for (const struct ractl_opt *o = c->opts; o && o->name; o++)
		man_opt(f, o);
	if (c->example) {
		fputs(".PP\nExample:\n.PP\n.RS\n.nf\n", f);
		roff(f, c->example);
		fputs("\n.fi\n.RE\n", f);
	}
}

int ractl_run_man(const struct ractl_cmd *c, struct ractl_ctx *x)
{
	FILE *f = x->out;

	(void)c;
	fputs(".\\\" generated by `ractl man` from ractl's command table: do not edit\n", f);
	fputs(".TH RACTL 1 \"\" \"ractl ", f);
	roff(f, version_string());
	fputs("\" \"RA support desk\"\n.ad l\n.nh\n", f);
	fputs(".SH NAME\nractl \\- the support desk's command line for the registration authority\n", f);
	fputs(".SH SYNOPSIS\n.B ractl\n\\fICOMMAND\\fR [\\fIARGUMENTS\\fR] [\\fIOPTIONS\\fR]\n", f);
	fputs(".SH DESCRIPTION\n", f);
	fputs("ractl talks only to the admin API of \\fBra serve\\fR; it never touches the database.  Whatever it "
	      "does is authenticated, decided by the server's rules and audited there with the support user's name "
	      "and the reason given.  Options and global options may stand anywhere on the line; "
	      "\\fB\\-\\-flag=value\\fR and \\fB\\-\\-flag value\\fR are the same; \\fB\\-h\\fR on any command "
	      "shows its help and does nothing else.\n.PP\n",
	      f);
	roff(f, output_text);
	fputs("\n.SH GLOBAL OPTIONS\n", f);
	for (const struct ractl_opt *o = ractl_global_opts; o->name; o++)
		man_opt(f, o);
	fputs(".SH COMMANDS\n", f);
	for (size_t i = 0; i < ractl_ncmds; i++)
		man_cmd(f, &ractl_cmds[i]);
	fputs(".SH ENVIRONMENT\n", f);
	roff(f, config_text);
	fputs("\n.SH EXIT STATUS\n", f);
	for (const struct ractl_exit_doc *e = ractl_exit_docs; e->meaning; e++) {
		fprintf(f, ".TP\n.B %d\n", e->code);
		roff(f, e->meaning);
		fputs(".\n", f);
	}
	fputs(".SH SEE ALSO\n\\fBra\\fR(8); docs/ractl.md and docs/api.yaml in the source tree.\n", f);
	return RACTL_OK;
}

/* ---- completion ------------------------------------------------------------------------ */

/* Single-quoted for the shell. */
static void sq(FILE *f, const char *s)
{
	fputc('\'', f);
	for (const char *p = s; *p; p++)
		if (*p == '\'')
			fputs("'\\''", f);
		else
			fputc(*p, f);
	fputc('\'', f);
}

static void choices_words(FILE *f, const char *choices)
{
	for (const char *p = choices; *p; p++)
		fputc(*p == '|' ? ' ' : *p, f);
}

/* Every option that takes a value, as a case pattern: the word after it is not a command. */
static void value_opts_pattern(FILE *f)
{
	const char *seen[256];
	int n = 0, first = 1;

	for (size_t c = 0; c <= ractl_ncmds; c++) {
		const struct ractl_opt *list = c == ractl_ncmds ? ractl_global_opts : ractl_cmds[c].opts;
		for (const struct ractl_opt *o = list; o && o->name; o++) {
			int dup = 0;
			if (!o->metavar)
				continue;
			for (int i = 0; i < n; i++)
				dup = dup || strcmp(seen[i], o->name) == 0;
			if (dup || n == 256)
				continue;
			seen[n++] = o->name;
			fprintf(f, "%s--%s", first ? "" : "|", o->name);
			if (o->shortname)
				fprintf(f, "|-%c", o->shortname);
			first = 0;
		}
	}
}

/* The shared shell logic: which command the words so far name, how many arguments it has. */
static void words_loop(FILE *f, const char *arr, const char *start, const char *cur)
{
	fprintf(f,
		"\tlocal group= name= npos=0 skip=0 i w\n"
		"\tfor ((i = %s; i < %s; i++)); do\n"
		"\t\tw=${%s[i]}\n"
		"\t\tif ((skip)); then skip=0; continue; fi\n"
		"\t\tcase $w in\n\t\t",
		start, cur, arr);
	value_opts_pattern(f);
	fputs(") skip=1; continue ;;\n"
	      "\t\t-*) continue ;;\n"
	      "\t\tesac\n"
	      "\t\tif [[ -z $group && $w == help ]]; then continue\n" /* ractl help cert revoke */
	      "\t\telif [[ -z $group ]]; then group=$w\n",
	      f);
	fputs("\t\telif [[ -z $name ]] && [[ \" $subs_of_groups \" == *\" $group \"* ]]; then name=$w\n"
	      "\t\telse npos=$((npos + 1)); fi\n"
	      "\tdone\n",
	      f);
}

static void groups_with_subs(FILE *f)
{
	fputs("\tlocal subs_of_groups='", f);
	for (size_t g = 0; g < ractl_ngroups; g++)
		if (ractl_group_has_subs(ractl_groups[g].name))
			fprintf(f, "%s ", ractl_groups[g].name);
	fputs("'\n", f);
}

static void bash(FILE *f)
{
	fputs("# bash completion for ractl, generated by `ractl completion bash`: source <(ractl completion bash)\n"
	      "_ractl() {\n"
	      "\tlocal cur=${COMP_WORDS[COMP_CWORD]} prev=${COMP_WORDS[COMP_CWORD-1]}\n",
	      f);
	groups_with_subs(f);
	words_loop(f, "COMP_WORDS", "1", "COMP_CWORD");
	fputs("\tCOMPREPLY=()\n\tcase \"$group $name|$prev\" in\n", f);
	/* values of options with a fixed set of values, per command, then the global ones */
	for (size_t c = 0; c < ractl_ncmds; c++)
		for (const struct ractl_opt *o = ractl_cmds[c].opts; o && o->name; o++)
			if (o->choices) {
				fprintf(f, "\t\"%s %s|--%s\") COMPREPLY=($(compgen -W '", ractl_cmds[c].group,
					ractl_cmds[c].name, o->name);
				choices_words(f, o->choices);
				fputs("' -- \"$cur\")); return ;;\n", f);
			}
	fputs("\t*\"|-o\" | *\"|--output\") COMPREPLY=($(compgen -W '", f);
	choices_words(f, RACTL_FORMATS);
	fputs("' -- \"$cur\")); return ;;\n\tesac\n\tcase $prev in\n\t", f);
	value_opts_pattern(f);
	fputs(") return ;; # a value nobody can guess\n\tesac\n", f);
	fputs("\tif [[ -z $group ]]; then\n\t\tCOMPREPLY=($(compgen -W '", f);
	for (size_t g = 0; g < ractl_ngroups; g++)
		fprintf(f, "%s ", ractl_groups[g].name);
	fputs("help --help --version' -- \"$cur\")); return\n\tfi\n", f);
	fputs("\tif [[ -z $name ]]; then\n\t\tcase $group in\n", f);
	for (size_t g = 0; g < ractl_ngroups; g++) {
		if (!ractl_group_has_subs(ractl_groups[g].name))
			continue;
		fprintf(f, "\t\t%s) COMPREPLY=($(compgen -W '", ractl_groups[g].name);
		/* a three-word command is offered by its first word (ractl user phone-change ...) */
		for (size_t c = 0; c < ractl_ncmds; c++)
			if (strcmp(ractl_cmds[c].group, ractl_groups[g].name) == 0 &&
			    !strchr(ractl_cmds[c].name, ' '))
				fprintf(f, "%s ", ractl_cmds[c].name);
		fputs("' -- \"$cur\")); return ;;\n", f);
	}
	fputs("\t\tesac\n\tfi\n\tlocal opts='", f);
	for (const struct ractl_opt *o = ractl_global_opts; o->name; o++)
		fprintf(f, "--%s ", o->name);
	fputs("' args=\n\tcase \"$group $name\" in\n", f);
	for (size_t c = 0; c < ractl_ncmds; c++) {
		const struct ractl_cmd *k = &ractl_cmds[c];
		fprintf(f, "\t\"%s %s\")", k->group, k->name);
		fputs(" opts+='", f);
		for (const struct ractl_opt *o = k->opts; o && o->name; o++)
			fprintf(f, " --%s", o->name);
		fputs("'", f);
		for (int p = 0; p < k->npos; p++)
			if (k->pos[p].choices) {
				fprintf(f, "; ((npos == %d)) && args='", p);
				choices_words(f, k->pos[p].choices);
				fputs("'", f);
			}
		fputs(" ;;\n", f);
	}
	fputs("\tesac\n"
	      "\tif [[ $cur == -* ]]; then COMPREPLY=($(compgen -W \"$opts\" -- \"$cur\"))\n"
	      "\telif [[ -n $args ]]; then COMPREPLY=($(compgen -W \"$args\" -- \"$cur\")); fi\n"
	      "}\n"
	      "complete -F _ractl ractl\n",
	      f);
}

/* An item for zsh's _describe: "word:description", colons in the word escaped. */
static void zitem(FILE *f, const char *word, const char *desc)
{
	char buf[512];

	snprintf(buf, sizeof(buf), "%s:%s", word, desc);
	fputc(' ', f);
	sq(f, buf);
}

static void zsh(FILE *f)
{
	fputs("#compdef ractl\n"
	      "# zsh completion for ractl, generated by `ractl completion zsh`\n"
	      "_ractl() {\n"
	      "\tlocal cur=${words[CURRENT]} prev=${words[CURRENT-1]}\n",
	      f);
	groups_with_subs(f);
	words_loop(f, "words", "2", "CURRENT");
	fputs("\tlocal -a items\n\tcase \"$group $name|$prev\" in\n", f);
	for (size_t c = 0; c < ractl_ncmds; c++)
		for (const struct ractl_opt *o = ractl_cmds[c].opts; o && o->name; o++)
			if (o->choices) {
				fprintf(f, "\t(\"%s %s|--%s\") compadd -- ", ractl_cmds[c].group,
					ractl_cmds[c].name, o->name);
				choices_words(f, o->choices);
				fputs("; return ;;\n", f);
			}
	fputs("\t(*\"|-o\"|*\"|--output\") compadd -- ", f);
	choices_words(f, RACTL_FORMATS);
	fputs("; return ;;\n\tesac\n\tcase $prev in\n\t(", f);
	value_opts_pattern(f);
	fputs(") return ;;\n\tesac\n", f);
	fputs("\tif [[ -z $group ]]; then\n\t\titems=(", f);
	for (size_t g = 0; g < ractl_ngroups; g++)
		zitem(f, ractl_groups[g].name, ractl_groups[g].summary);
	zitem(f, "help", "help on a command");
	fputs(")\n\t\t_describe -t commands 'ractl command' items; return\n\tfi\n", f);
	fputs("\tif [[ -z $name ]]; then\n\t\tcase $group in\n", f);
	for (size_t g = 0; g < ractl_ngroups; g++) {
		if (!ractl_group_has_subs(ractl_groups[g].name))
			continue;
		fprintf(f, "\t\t(%s) items=(", ractl_groups[g].name);
		for (size_t c = 0; c < ractl_ncmds; c++)
			if (strcmp(ractl_cmds[c].group, ractl_groups[g].name) == 0 &&
			    !strchr(ractl_cmds[c].name, ' '))
				zitem(f, ractl_cmds[c].name, ractl_cmds[c].summary);
		fputs(")\n\t\t\t_describe -t commands 'ractl command' items; return ;;\n", f);
	}
	fputs("\t\tesac\n\tfi\n\titems=(", f);
	for (const struct ractl_opt *o = ractl_global_opts; o->name; o++) {
		char w[80];
		snprintf(w, sizeof(w), "--%s", o->name);
		zitem(f, w, o->help);
	}
	fputs(")\n\tlocal args=\n\tcase \"$group $name\" in\n", f);
	for (size_t c = 0; c < ractl_ncmds; c++) {
		const struct ractl_cmd *k = &ractl_cmds[c];
		fprintf(f, "\t(\"%s %s\") items+=(", k->group, k->name);
		for (const struct ractl_opt *o = k->opts; o && o->name; o++) {
			char w[80];
			snprintf(w, sizeof(w), "--%s", o->name);
			zitem(f, w, o->help);
		}
		fputs(")", f);
		for (int p = 0; p < k->npos; p++)
			if (k->pos[p].choices) {
				fprintf(f, "; ((npos == %d)) && args='", p);
				choices_words(f, k->pos[p].choices);
				fputs("'", f);
			}
		fputs(" ;;\n", f);
	}
	fputs("\tesac\n"
	      "\tif [[ $cur == -* ]]; then _describe -t options 'option' items\n"
	      "\telif [[ -n $args ]]; then compadd -- ${=args}; fi\n"
	      "}\n"
	      "if [[ $zsh_eval_context[-1] == loadautofunc ]]; then _ractl \"$@\"; else compdef _ractl ractl; fi\n",
	      f);
}

int ractl_run_completion(const struct ractl_cmd *c, struct ractl_ctx *x)
{
	(void)c;
	if (strcmp(x->a.pos[0], "bash") == 0)
		bash(x->out);
	else
		zsh(x->out);
	return RACTL_OK;
}
