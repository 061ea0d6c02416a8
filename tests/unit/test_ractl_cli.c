/*
 * test_ractl_cli.c - ractl's command table, command line, output and escaping (issue #17,
 * issue #20 item 4), without a server: what is decided before anything is sent.  The e2e
 * test (tests/e2e/test_ractl.sh) drives the real binary against `ra serve`.
 */
#include <criterion/criterion.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ra/base/safetext.h"
#include "ra/ractl/ractl_args.h"
#include "ra/ractl/ractl_http.h"
#include "ra/ractl/ractl_out.h"
#include "ra/ractl/ractl_res.h"

/* ---- the table --------------------------------------------------------------------------- */

static void each_opt(void (*fn)(const struct ractl_opt *o, void *d), void *d)
{
	for (const struct ractl_opt *o = ractl_global_opts; o->name; o++)
		fn(o, d);
	for (size_t c = 0; c < ractl_ncmds; c++)
		for (const struct ractl_opt *o = ractl_cmds[c].opts; o && o->name; o++)
			fn(o, d);
}

static void same_kind(const struct ractl_opt *o, void *d)
{
	const struct ractl_opt *other = d;

	if (strcmp(o->name, other->name) == 0) {
		cr_expect_eq(o->metavar == NULL, other->metavar == NULL,
			     "--%s takes a value in one place only", o->name);
		cr_expect_eq(o->shortname, other->shortname, "--%s has two short forms", o->name);
	}
}

static void check_against_all(const struct ractl_opt *o, void *d)
{
	(void)d;
	each_opt(same_kind, (void *)o);
	cr_expect(o->help && *o->help, "--%s has no help", o->name);
	if (o->choices)
		cr_expect(*o->choices && o->choices[strlen(o->choices) - 1] != '|', "--%s: choices", o->name);
}

/* One getopt_long pass over every command's options only works when a name means the same
 * kind of option everywhere. */
Test(ractl_table, an_option_name_means_the_same_everywhere)
{
	each_opt(check_against_all, NULL);
}

Test(ractl_table, every_command_has_help_and_an_example_and_a_group)
{
	for (size_t c = 0; c < ractl_ncmds; c++) {
		const struct ractl_cmd *k = &ractl_cmds[c];
		cr_expect(k->summary && *k->summary, "%s %s: summary", k->group, k->name);
		cr_expect(k->example && strncmp(k->example, "ractl ", 6) == 0, "%s %s: example", k->group,
			  k->name);
		cr_expect_not_null(ractl_group_find(k->group), "%s has no group", k->group);
		cr_expect(k->run || (k->method && k->path), "%s %s does nothing", k->group, k->name);
		if (k->flags & RACTL_CMD_CONFIRM)
			cr_expect(k->confirm && k->opts, "%s %s: what is typed back", k->group, k->name);
		for (size_t d = 0; d < c; d++)
			cr_expect(strcmp(ractl_cmds[d].group, k->group) ||
					  strcmp(ractl_cmds[d].name, k->name),
				  "%s %s twice", k->group, k->name);
		cr_expect(k->resource == NULL || ractl_res_find(k->resource), "%s %s: resource %s", k->group,
			  k->name, k->resource);
	}
	for (size_t g = 0; g < ractl_ngroups; g++) {
		int used = 0;
		for (size_t c = 0; c < ractl_ncmds; c++)
			used = used || strcmp(ractl_cmds[c].group, ractl_groups[g].name) == 0;
		cr_expect(used, "group %s has no command", ractl_groups[g].name);
	}
}

/* ---- the command line --------------------------------------------------------------------- */

static int parse(struct ractl_args *a, char *why, size_t cap, ...)
{
	char *argv[32];
	int argc = 0;
	va_list ap;

	argv[argc++] = "ractl";
	va_start(ap, cap);
	for (char *s; (s = va_arg(ap, char *)) != NULL && argc < 31;)
		argv[argc++] = s;
	va_end(ap);
	argv[argc] = NULL;
	return ractl_parse(argc, argv, a, why, cap);
}

Test(ractl_args, global_options_anywhere_and_flag_equals_value)
{
	struct ractl_args a;
	char why[512];

	cr_assert_eq(parse(&a, why, sizeof(why), "--json", "whoami", NULL), 0, "%s", why);
	cr_expect_eq(a.fmt, RACTL_FMT_JSON);
	cr_assert_eq(parse(&a, why, sizeof(why), "cert", "-o", "yaml", "show", "crt-1", NULL), 0, "%s", why);
	cr_expect_eq(a.fmt, RACTL_FMT_YAML);
	cr_expect_str_eq(a.pos[0], "crt-1");
	cr_assert_eq(parse(&a, why, sizeof(why), "--output=wide", "--no-headers", "cert", "revoke",
			   "--reason=keyCompromise", "X1", "--comment", "lost it", "-y", NULL),
		     0, "%s", why);
	cr_expect_eq(a.fmt, RACTL_FMT_WIDE);
	cr_expect(a.no_headers);
	cr_expect_str_eq(ractl_arg(&a, "reason"), "keyCompromise");
	cr_expect_str_eq(ractl_arg(&a, "comment"), "lost it");
	cr_expect_str_eq(ractl_arg(&a, "yes"), "1");
	cr_expect_str_eq(a.pos[0], "X1");
}

/* The bug of issue #17: `cert revoke -h ID` took -h as the id and revoked. */
Test(ractl_args, dash_h_anywhere_is_help_and_never_an_argument)
{
	struct ractl_args a;
	char why[512];

	cr_assert_eq(parse(&a, why, sizeof(why), "cert", "revoke", "-h", "crt-1", "--reason", "keyCompromise",
			   "--yes", NULL),
		     0);
	cr_expect(a.help);
	cr_expect_eq(a.cmd, ractl_cmd_find("cert", "revoke"));
	/* help wins even over an unknown option and missing required ones */
	cr_assert_eq(parse(&a, why, sizeof(why), "cert", "revoke", "--frob", "--help", NULL), 0);
	cr_expect(a.help);
	cr_assert_eq(parse(&a, why, sizeof(why), "cert", "--help", NULL), 0);
	cr_expect(a.help && a.cmd == NULL && strcmp(a.group, "cert") == 0);
	cr_assert_eq(parse(&a, why, sizeof(why), "help", "cert", "revoke", NULL), 0);
	cr_expect(a.help && a.cmd == ractl_cmd_find("cert", "revoke"));
	/* after "--" a dash is an argument */
	cr_assert_eq(parse(&a, why, sizeof(why), "cert", "show", "--", "-h", NULL), 0, "%s", why);
	cr_expect(!a.help);
	cr_expect_str_eq(a.pos[0], "-h");
}

Test(ractl_args, what_the_table_does_not_allow_is_a_usage_error)
{
	struct ractl_args a;
	char why[512];

	cr_expect_eq(parse(&a, why, sizeof(why), "frobnicate", NULL), RACTL_USAGE);
	cr_expect_eq(parse(&a, why, sizeof(why), "cert", NULL), RACTL_USAGE);
	cr_expect_eq(parse(&a, why, sizeof(why), "cert", "revoke", "X", "--comment", "c", NULL), RACTL_USAGE);
	cr_expect(strstr(why, "--reason"), "%s", why);
	cr_expect_eq(parse(&a, why, sizeof(why), "cert", "revoke", "X", "--reason", "certificateHold",
			   "--comment", "c", NULL),
		     RACTL_USAGE);
	cr_expect(strstr(why, "keyCompromise|"), "the allowed values are listed: %s", why);
	cr_expect_eq(parse(&a, why, sizeof(why), "contract", "list", "--status", "bogus", NULL), RACTL_USAGE);
	cr_expect(strstr(why, "open|closed"), "%s", why);
	cr_expect_eq(parse(&a, why, sizeof(why), "whoami", "--reason", "x", NULL), RACTL_USAGE);
	cr_expect_eq(parse(&a, why, sizeof(why), "whoami", "--frob", NULL), RACTL_USAGE);
	cr_expect_eq(parse(&a, why, sizeof(why), "cert", "show", NULL), RACTL_USAGE);
	cr_expect_eq(parse(&a, why, sizeof(why), "cert", "show", "a", "b", NULL), RACTL_USAGE);
	cr_expect_eq(parse(&a, why, sizeof(why), "-o", "xml", "whoami", NULL), RACTL_USAGE);
	cr_expect_eq(parse(&a, why, sizeof(why), "contract", "create", "--organisation", "X", "--quota",
			   "ten", "--reason", "r", NULL),
		     RACTL_USAGE);
	cr_expect_eq(parse(&a, why, sizeof(why), "user", "factor", "U", "email", "--reason", "r", NULL),
		     RACTL_USAGE);
	cr_expect(strstr(why, "sms|app"), "%s", why);
	cr_expect_eq(parse(&a, why, sizeof(why), "cert", "show", "X", "--pem=1", NULL), RACTL_USAGE);
}

/* ---- escaping (issue #20 item 4) ---------------------------------------------------------- */

static void expect_escaped(const char *in, const char *want)
{
	char *out = safetext_escape(in, strlen(in));

	cr_assert_not_null(out);
	cr_expect_str_eq(out, want);
	free(out);
}

Test(ractl_escape, control_format_and_bidi_characters_are_shown_escaped)
{
	expect_escaped("Anna\x1b]0;owned\x07\x1b[2J", "Anna\\x1b]0;owned\\x07\\x1b[2J");
	expect_escaped("line\nfake: ok\r", "line\\nfake: ok\\r");
	expect_escaped("tab\there", "tab\\there");
	expect_escaped(
		"C1 \xc2\x9b"
		"31m",
		"C1 \\u009b31m"); /* CSI as one C1 code */
	expect_escaped(
		"exe.\xe2\x80\xae"
		"gpj",
		"exe.\\u202egpj"); /* RIGHT-TO-LEFT OVERRIDE */
	expect_escaped(
		"a\xe2\x81\xa6"
		"b",
		"a\\u2066b"); /* LEFT-TO-RIGHT ISOLATE */
	expect_escaped("zero\xe2\x80\x8bwidth", "zero\\u200bwidth"); /* ZERO WIDTH SPACE (Cf) */
	expect_escaped("sep\xe2\x80\xa8", "sep\\u2028"); /* LINE SEPARATOR */
	expect_escaped("bad \xff\xc3", "bad \\xff\\xc3"); /* not UTF-8 */
	expect_escaped("del\x7f", "del\\x7f");
	expect_escaped("back\\slash", "back\\\\slash");
	expect_escaped("Müller-Lüdenscheidt Ærøskøbing 東京", "Müller-Lüdenscheidt Ærøskøbing 東京");
	cr_expect(safetext_is_clean("Zoë O'Brien"));
	cr_expect(!safetext_is_clean("Zoë\x1b[2J"));
	cr_expect(!safetext_is_clean("\xe2\x80\xae"));
}

Test(ractl_escape, widths_count_columns_not_bytes)
{
	char *cut;

	cr_expect_eq(safetext_width("Müller"), 6);
	cr_expect_eq(safetext_width("東京"), 4);
	cr_expect_eq(safetext_width("e\xcc\x81"), 1); /* e + combining acute */
	cut = safetext_fit("Müller-Lüdenscheidt", 8);
	cr_expect_str_eq(cut, "Müller-…");
	cr_expect_eq(safetext_width(cut), 8);
	free(cut);
	cut = safetext_fit("東京東京", 5);
	cr_expect_eq(safetext_width(cut), 5); /* "東京…" */
	free(cut);
	cut = safetext_fit("short", 8);
	cr_expect_str_eq(cut, "short");
	free(cut);
}

/* ---- output ------------------------------------------------------------------------------- */

static char *render(const struct ractl_view *v, const char *res, const char *json)
{
	json_t *j = json_loads(json, 0, NULL);
	char *out = NULL;
	size_t n = 0;
	FILE *f = open_memstream(&out, &n);

	cr_assert_not_null(j, "fixture JSON");
	ractl_print(f, v, res, j);
	fclose(f);
	json_decref(j);
	return out;
}

static size_t widest_line(const char *s)
{
	size_t w = 0;
	char *copy = strdup(s), *save = NULL;

	for (char *l = strtok_r(copy, "\n", &save); l; l = strtok_r(NULL, "\n", &save))
		if (safetext_width(l) > w)
			w = safetext_width(l);
	free(copy);
	return w;
}

static const char *certs_json =
	"{\"user_id\": \"AAAA-AAAA-AAAA-0001\", \"next\": null, \"certificates\": ["
	" {\"state\": \"active\", \"id\": \"crt-0123456789abcdef0123456789abcdef\", \"class\": \"qualified\","
	"  \"serial\": \"3A0F19C2B1D4E5F60718293A4B5C6D7E8F901234\", \"user_id\": \"AAAA-AAAA-AAAA-0001\","
	"  \"not_after\": \"2031-03-01T10:11:12.5+00:00\", \"revocation_reason\": null,"
	"  \"subject\": {\"organization\": \"Gruber Bau und Transport Gesellschaft mit beschränkter Haftung\","
	"   \"title\": \"Leiterin der Buchhaltung und des Controllings\"}},"
	" {\"state\": \"revoked\", \"id\": \"crt-ffff456789abcdef0123456789abcdef\", \"class\": \"advanced\","
	"  \"serial\": \"77\", \"user_id\": \"AAAA-AAAA-AAAA-0001\", \"not_after\": null,"
	"  \"revocation_reason\": \"keyCompromise\", \"subject\": {}}]}";

Test(ractl_out, a_table_fits_80_columns_and_keeps_the_id_and_state)
{
	struct ractl_view v = {RACTL_FMT_TABLE, 0, 80};
	char *out = render(&v, "cert", certs_json);

	cr_expect_leq(widest_line(out), 80, "%s", out);
	cr_expect(strncmp(out, "ID ", 3) == 0, "fixed order: ID first, not JSON order: %s", out);
	cr_expect(strstr(out, "crt-0123456789abcdef0123456789abcdef"), "ids are never cut: %s", out);
	cr_expect(strstr(out, "STATE") && strstr(out, "revoked"), "%s", out);
	free(out);
	v.fmt = RACTL_FMT_WIDE;
	out = render(&v, "cert", certs_json);
	cr_expect_gt(widest_line(out), 80);
	cr_expect(strstr(out, "Leiterin der Buchhaltung und des Controllings"), "wide cuts nothing: %s", out);
	free(out);
	v.fmt = RACTL_FMT_TABLE;
	v.no_headers = 1;
	out = render(&v, "cert", certs_json);
	cr_expect(strncmp(out, "crt-", 4) == 0, "--no-headers: %s", out);
	free(out);
}

Test(ractl_out, names_are_resource_slash_id)
{
	struct ractl_view v = {RACTL_FMT_NAME, 0, 0};
	char *out = render(&v, "cert", certs_json);

	cr_expect_str_eq(
		out,
		"cert/crt-0123456789abcdef0123456789abcdef\ncert/crt-ffff456789abcdef0123456789abcdef\n");
	free(out);
}

static const char *hostile_json =
	"{\"user_id\": \"AAAA-AAAA-AAAA-0009\", \"phone_e164\": \"+436641000009\","
	" \"first_name\": \"Eve\\u001b]0;pwned\\u0007\\u001b[2J\\u202e\\u0085\","
	" \"last_name\": \"Mallory\\nuser_id  FAKE\", \"state\": \"active_sms\","
	" \"certificates\": [], \"open_orders\": []}";

Test(ractl_out, hostile_names_reach_no_output_format_raw)
{
	struct ractl_view v = {RACTL_FMT_TABLE, 0, 80};
	int fmts[] = {RACTL_FMT_TABLE, RACTL_FMT_WIDE, RACTL_FMT_JSON, RACTL_FMT_YAML, RACTL_FMT_NAME};

	for (size_t i = 0; i < sizeof(fmts) / sizeof(fmts[0]); i++) {
		char *out;
		v.fmt = fmts[i];
		out = render(&v, "user", hostile_json);
		cr_expect(strchr(out, '\x1b') == NULL && strchr(out, '\x07') == NULL, "format %d: ESC raw",
			  fmts[i]);
		cr_expect(strstr(out, "\xe2\x80\xae") == NULL && strstr(out, "\xc2\x85") == NULL, "format %d",
			  fmts[i]);
		cr_expect(strstr(out, "\nuser_id  FAKE") == NULL && strstr(out, "\nuser id  FAKE") == NULL,
			  "format %d fakes a line: %s", fmts[i], out);
		if (fmts[i] == RACTL_FMT_JSON) { /* still JSON, and still the same name */
			json_t *j = json_loads(out, 0, NULL);
			cr_assert_not_null(j, "%s", out);
			cr_expect_str_eq(json_string_value(json_object_get(j, "first_name")),
					 "Eve\x1b]0;pwned\x07\x1b[2J\xe2\x80\xae\xc2\x85");
			json_decref(j);
		}
		if (fmts[i] == RACTL_FMT_TABLE)
			cr_expect(
				strstr(out,
				       "Eve\\x1b]0;pwned\\x07\\x1b[2J\\u202e\\u0085 Mallory\\nuser_id  FAKE"),
				"%s", out);
		free(out);
	}
}

Test(ractl_out, yaml_quotes_what_would_read_as_something_else)
{
	struct ractl_view v = {RACTL_FMT_YAML, 0, 0};
	char *out = render(
		&v, NULL,
		"{\"a\": \"yes\", \"b\": \"1.50\", \"c\": \"x: y\", \"d\": \"plain text\", \"e\": [1, \"- z\"],"
		" \"f\": {}, \"g\": null, \"h\": true, \"i\": \"#x\"}");

	cr_expect_str_eq(
		out,
		"a: \"yes\"\nb: \"1.50\"\nc: \"x: y\"\nd: plain text\ne:\n  - 1\n  - \"- z\"\nf: {}\n"
		"g: null\nh: true\ni: \"#x\"\n");
	free(out);
}

Test(ractl_out, ages_and_unknown_shapes)
{
	struct ractl_view v = {RACTL_FMT_TABLE, 0, 80};
	char buf[16];
	char *out;

	ractl_age("2000-01-01T00:00:00+00:00", buf, sizeof(buf));
	cr_expect(buf[strlen(buf) - 1] == 'd', "%s", buf);
	ractl_age("garbage", buf, sizeof(buf));
	cr_expect_str_eq(buf, "-");
	out = render(&v, NULL, "{\"certificate_id\": \"crt-1\", \"serial\": \"AB\", \"state\": \"revoked\"}");
	cr_expect_str_eq(out, "certificate id  crt-1\nserial          AB\nstate           revoked\n");
	free(out);
}

/* Found by tests/fuzz/fuzz_ractl_out: a timestamp with short fields was read as if it had 19
 * characters, past the end of the string (heap overflow under ASan).  Each is a malloc'd
 * copy of exactly its length, so ASan sees a read past it. */
Test(ractl_out, timestamps_with_short_fields_are_read_within_the_string)
{
	static const char *odd[] = {"6-01-02T03:04:05Z",  "2026-1-2 3:4:5", "2026-01-02T03:04:05",
				    "2026-01-02T03:04:0", "9-9-9T9:9:9+",   "garbage"};

	for (size_t i = 0; i < sizeof(odd) / sizeof(odd[0]); i++) {
		char *s = strdup(odd[i]), buf[64];
		ractl_age(s, buf, sizeof(buf));
		cr_expect_neq(buf[0], '\0', "%s", odd[i]);
		free(s);
	}
}
