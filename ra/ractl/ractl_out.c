/*
 * ractl_out.c - tables, detail views, JSON, YAML and names; see ractl_out.h.
 *
 * A table is built in two steps: every cell is turned into escaped text first, then the
 * columns are chosen to fit the width: lowest-priority columns are dropped until the line
 * fits (never those of priority 1), then flexible columns are cut with "…", widest first.
 * `-o wide` skips the fitting.
 */
#include "ra/ractl/ractl_out.h"

#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <time.h>
#include <unistd.h>

#include "ra/base/safetext.h"
#include "ra/ractl/ractl_res.h"

#define MAX_COLS 24
#define GAP 2
#define FLEX_MIN 8

int ractl_fmt_parse(const char *s)
{
	static const char *const names[] = {"table", "wide", "json", "yaml", "name"};

	for (int i = 0; s && i < (int)(sizeof(names) / sizeof(names[0])); i++)
		if (strcmp(s, names[i]) == 0)
			return i;
	return -1;
}

size_t ractl_term_width(int fd)
{
	struct winsize ws;
	const char *cols = getenv("COLUMNS");

	if (isatty(fd) && ioctl(fd, TIOCGWINSZ, &ws) == 0 && ws.ws_col > 0)
		return ws.ws_col;
	if (cols && *cols && strtol(cols, NULL, 10) > 0)
		return (size_t)strtol(cols, NULL, 10);
	return 0;
}

/* ---- values as text -------------------------------------------------------------------- */

static char *esc(const char *s)
{
	char *e = safetext_escape(s, strlen(s));

	if (e == NULL)
		abort(); /* out of memory in a short-lived CLI */
	return e;
}

char *ractl_text(const json_t *v)
{
	char buf[64], *raw, *out;

	switch (json_typeof(v)) {
	case JSON_STRING:
		return safetext_escape(json_string_value(v), json_string_length(v));
	case JSON_INTEGER:
		snprintf(buf, sizeof(buf), "%lld", (long long)json_integer_value(v));
		return strdup(buf);
	case JSON_REAL:
		snprintf(buf, sizeof(buf), "%g", json_real_value(v));
		return strdup(buf);
	case JSON_TRUE:
		return strdup("yes");
	case JSON_FALSE:
		return strdup("no");
	case JSON_NULL:
		return strdup("-");
	default:
		break;
	}
	if (json_is_array(v)) {
		size_t i;
		json_t *x;
		int scalars = 1;
		json_array_foreach (v, i, x) {
			scalars = scalars && !json_is_object(x) && !json_is_array(x);
		}
		if (scalars) { /* a list of ids: comma-separated */
			size_t n = 0;
			out = strdup("");
			json_array_foreach (v, i, x) {
				char *t = ractl_text(x), *np;
				np = realloc(out, n + strlen(t) + 3);
				if (np == NULL)
					abort();
				out = np;
				n += (size_t)sprintf(out + n, "%s%s", i ? ", " : "", t);
				free(t);
			}
			return out;
		}
	}
	raw = json_dumps(v, JSON_COMPACT | JSON_SORT_KEYS | JSON_ENCODE_ANY);
	out = esc(raw ? raw : "");
	free(raw);
	return out;
}

/* Reads "2026-03-01T10:11:12.5+01:00" (or with a space, or "Z") as a time_t. */
static int parse_iso(const char *s, time_t *t)
{
	struct tm tm = {0};
	const char *p;
	int off = 0, used = 0;

	/* where the seconds end is what sscanf consumed, not s + 19: the fields may be shorter
	 * ("6-01-02T03:04:05Z", found by fuzz_ractl_out, read past the string's end) */
	if (s == NULL ||
	    sscanf(s, "%4d-%2d-%2d%*1[T ]%2d:%2d:%2d%n", &tm.tm_year, &tm.tm_mon, &tm.tm_mday, &tm.tm_hour,
		   &tm.tm_min, &tm.tm_sec, &used) != 6 ||
	    used == 0)
		return -1;
	tm.tm_year -= 1900;
	tm.tm_mon -= 1;
	p = s + used;
	while (*p == '.' || (*p >= '0' && *p <= '9'))
		p++;
	if (*p == '+' || *p == '-') {
		int h = 0, m = 0;
		if (sscanf(p + 1, "%2d:%2d", &h, &m) < 1)
			return -1;
		off = (h * 60 + m) * 60 * (*p == '-' ? -1 : 1);
	}
	*t = timegm(&tm) - off;
	return 0;
}

static void local_date(const char *iso, char *buf, size_t cap)
{
	time_t t;
	struct tm tm;

	if (parse_iso(iso, &t) != 0 || localtime_r(&t, &tm) == NULL ||
	    strftime(buf, cap, "%Y-%m-%d %H:%M", &tm) == 0)
		snprintf(buf, cap, "%s", iso ? iso : "-");
}

void ractl_age(const char *iso, char *buf, size_t cap)
{
	time_t t;
	long d;

	if (parse_iso(iso, &t) != 0) {
		snprintf(buf, cap, "-");
		return;
	}
	d = (long)(time(NULL) - t);
	if (d < 0)
		d = 0;
	if (d < 120)
		snprintf(buf, cap, "%lds", d);
	else if (d < 120 * 60)
		snprintf(buf, cap, "%ldm", d / 60);
	else if (d < 48 * 3600)
		snprintf(buf, cap, "%ldh", d / 3600);
	else
		snprintf(buf, cap, "%ldd", d / 86400);
}

/* One member by a dotted path. */
static const json_t *dig(const json_t *o, const char *path, size_t n)
{
	char key[128];
	const char *dot;

	while (o && n > 0) {
		dot = memchr(path, '.', n);
		size_t len = dot ? (size_t)(dot - path) : n;
		snprintf(key, sizeof(key), "%.*s", (int)len, path);
		o = json_object_get(o, key);
		if (dot == NULL)
			break;
		n -= len + 1;
		path = dot + 1;
	}
	return o;
}

/* The first alternative of "a|b" that is present and not null. */
static const json_t *pick(const json_t *o, const char *path, size_t n)
{
	const json_t *v = NULL;

	while (n > 0) {
		const char *bar = memchr(path, '|', n);
		size_t len = bar ? (size_t)(bar - path) : n;
		v = dig(o, path, len);
		if (v && !json_is_null(v))
			return v;
		if (bar == NULL)
			break;
		n -= len + 1;
		path = bar + 1;
	}
	return v;
}

/* The escaped text of a column's path in item, or NULL when no part of it is present. */
static char *cell(const json_t *item, const struct ractl_col *c)
{
	const char *path = c->path;
	char *out = NULL;
	int present = 0;

	while (*path) {
		size_t len = strcspn(path, "+");
		const json_t *v = pick(item, path, len);
		if (v) {
			present = 1;
			if (!json_is_null(v)) {
				char *t = ractl_text(v), *np;
				size_t have = out ? strlen(out) : 0;
				np = realloc(out, have + strlen(t) + 2);
				if (np == NULL)
					abort();
				out = np;
				sprintf(out + have, "%s%s", have ? " " : "", t);
				free(t);
			}
		}
		path += len;
		if (*path == '+')
			path++;
	}
	if (!present)
		return NULL;
	if (out == NULL)
		return strdup("-");
	if (c->flags & (RACTL_COL_DATE | RACTL_COL_AGE)) {
		char buf[64];
		if (c->flags & RACTL_COL_AGE)
			ractl_age(out, buf, sizeof(buf));
		else
			local_date(out, buf, sizeof(buf));
		free(out);
		out = strdup(buf);
	}
	return out;
}

/* ---- tables ---------------------------------------------------------------------------- */

struct table {
	const struct ractl_col *cols[MAX_COLS];
	int ncol;
	size_t nrow;
	char **cells; /* nrow x ncol */
	size_t width[MAX_COLS];
	int on[MAX_COLS];
	int off[MAX_COLS]; /* dropped to fit */
};

static size_t line_width(const struct table *t)
{
	size_t w = 0;
	int n = 0;

	for (int c = 0; c < t->ncol; c++)
		if (t->on[c]) {
			w += t->width[c];
			n++;
		}
	return n ? w + GAP * (size_t)(n - 1) : 0;
}

static size_t min_width(const struct table *t, int c)
{
	size_t h = strlen(t->cols[c]->head);
	size_t m = (t->cols[c]->flags & RACTL_COL_FLEX) ? FLEX_MIN : 4;
	return h > m ? h : m;
}

static void fit(struct table *t, size_t width)
{
	/* drop the least important columns first, rightmost first among equals */
	while (line_width(t) > width) {
		int worst = -1;
		for (int c = 0; c < t->ncol; c++)
			if (t->on[c] && t->cols[c]->prio > 1 &&
			    (worst < 0 || t->cols[c]->prio >= t->cols[worst]->prio))
				worst = c;
		if (worst < 0)
			break;
		t->on[worst] = 0;
		t->off[worst] = 1;
	}
	/* a narrow column dropped after a wide one may fit again: most important first */
	for (int prio = 2; prio < 100; prio++)
		for (int c = 0; c < t->ncol; c++)
			if (t->off[c] && t->cols[c]->prio == prio) {
				t->on[c] = 1;
				if (line_width(t) > width)
					t->on[c] = 0;
				else
					t->off[c] = 0;
			}
	/* then cut: flexible columns first, then any, widest first */
	for (int pass = 0; pass < 2 && line_width(t) > width; pass++) {
		while (line_width(t) > width) {
			int widest = -1;
			for (int c = 0; c < t->ncol; c++)
				if (t->on[c] && (pass == 1 || (t->cols[c]->flags & RACTL_COL_FLEX)) &&
				    t->width[c] > min_width(t, c) &&
				    (widest < 0 || t->width[c] > t->width[widest]))
					widest = c;
			if (widest < 0)
				break;
			t->width[widest]--;
		}
	}
}

static void put_cell(FILE *f, const char *s, size_t width, int last)
{
	char *cut = safetext_fit(s, width);
	size_t w = safetext_width(cut);

	fputs(cut, f);
	if (!last)
		fprintf(f, "%*s", (int)(width - w + GAP), "");
	free(cut);
}

static void print_table(FILE *f, const struct ractl_view *v, const struct ractl_col *cols, const json_t *rows)
{
	struct table t = {0};
	const json_t *row;
	size_t i;
	int last = -1;

	for (int c = 0; cols[c].head && t.ncol < MAX_COLS; c++)
		t.cols[t.ncol++] = &cols[c];
	t.nrow = json_array_size(rows);
	t.cells = calloc(t.nrow * (size_t)t.ncol + 1, sizeof(char *));
	if (t.cells == NULL)
		abort();
	for (int c = 0; c < t.ncol; c++) {
		t.on[c] = 0;
		t.width[c] = strlen(t.cols[c]->head);
	}
	json_array_foreach (rows, i, row) {
		for (int c = 0; c < t.ncol; c++) {
			char *s = cell(row, t.cols[c]);
			if (s)
				t.on[c] = 1; /* a column no row has (another answer's shape) is left out */
			else
				s = strdup("-");
			t.cells[i * (size_t)t.ncol + (size_t)c] = s;
			if (safetext_width(s) > t.width[c])
				t.width[c] = safetext_width(s);
		}
	}
	if (v->fmt != RACTL_FMT_WIDE && v->width > 0)
		fit(&t, v->width);
	for (int c = 0; c < t.ncol; c++)
		if (t.on[c])
			last = c;
	if (!v->no_headers) {
		for (int c = 0; c < t.ncol; c++)
			if (t.on[c])
				put_cell(f, t.cols[c]->head, t.width[c], c == last);
		fputc('\n', f);
	}
	for (i = 0; i < t.nrow; i++) {
		for (int c = 0; c < t.ncol; c++)
			if (t.on[c])
				put_cell(f, t.cells[i * (size_t)t.ncol + (size_t)c], t.width[c], c == last);
		fputc('\n', f);
	}
	for (i = 0; i < t.nrow * (size_t)t.ncol; i++)
		free(t.cells[i]);
	free(t.cells);
}

/* Columns for rows of unknown shape: the plain members of the first row, in its order. */
static void print_generic_table(FILE *f, const struct ractl_view *v, const json_t *rows)
{
	struct ractl_col cols[MAX_COLS + 1];
	char heads[MAX_COLS][128];
	const char *k;
	json_t *x;
	int n = 0;

	json_object_foreach ((json_t *)json_array_get(rows, 0), k, x) {
		char *e, *cut;
		if (n == MAX_COLS || json_is_object(x) || json_is_array(x))
			continue;
		/* the heading is the server's key: escaped like any value (found by fuzz_ractl_out:
		 * a key holding U+202E reached the terminal raw), then cut to whole characters */
		e = esc(k);
		cut = e ? safetext_fit(e, 30) : NULL;
		snprintf(heads[n], sizeof(heads[n]), "%s", cut ? cut : "?");
		free(cut);
		free(e);
		for (char *h = heads[n]; *h; h++)
			*h = *h == '_' ? '-' : (char)(*h >= 'a' && *h <= 'z' ? *h - 32 : *h);
		cols[n] = (struct ractl_col){heads[n], k, n < 3 ? 1 : n, RACTL_COL_FLEX};
		n++;
	}
	cols[n] = (struct ractl_col){NULL, NULL, 0, 0};
	print_table(f, v, cols, rows);
}

static int is_rows(const json_t *x)
{
	return json_is_array(x) && json_array_size(x) > 0 && json_is_object(json_array_get(x, 0));
}

/* ---- detail views ---------------------------------------------------------------------- */

static void label_of(const char *head, char *buf, size_t cap)
{
	snprintf(buf, cap, "%s", head);
	for (char *p = buf; *p; p++)
		*p = *p == '-' || *p == '_' ? ' ' : (char)(*p >= 'A' && *p <= 'Z' ? *p + 32 : *p);
}

static void put_field(FILE *f, const struct ractl_view *v, const char *label, size_t lw, const char *value)
{
	size_t room = v->width > lw + GAP + FLEX_MIN ? v->width - lw - GAP : 0;
	char *shown = v->fmt == RACTL_FMT_WIDE || room == 0 ? strdup(value) : safetext_fit(value, room);
	char *l = esc(label);

	fprintf(f, "%s%*s%s\n", l, (int)(lw - safetext_width(l) + GAP), "", shown);
	free(l);
	free(shown);
}

static int covered(const struct ractl_res *r, const char *key)
{
	for (const struct ractl_col *c = r->cols; c->head; c++) {
		const char *p = c->path;
		while (*p) {
			size_t n = strcspn(p, "|+.");
			if (strlen(key) == n && strncmp(p, key, n) == 0)
				return 1;
			p += n;
			if (*p)
				p++;
		}
	}
	for (const struct ractl_sub *s = r->subs; s && s->label; s++)
		if (strcmp(s->path, key) == 0)
			return 1;
	return 0;
}

static void print_list_section(FILE *f, const struct ractl_view *v, const char *label, const char *resource,
			       const json_t *rows)
{
	const struct ractl_res *r = ractl_res_find(resource);
	char *l = esc(label);

	if (json_array_size(rows) == 0) {
		fprintf(f, "\n%s: none\n", l);
	} else {
		fprintf(f, "\n%s (%zu):\n", l, json_array_size(rows));
		if (r)
			print_table(f, v, r->cols, rows);
		else
			print_generic_table(f, v, rows);
	}
	free(l);
}

static void print_detail(FILE *f, const struct ractl_view *v, const struct ractl_res *r, const json_t *o)
{
	char label[64], *vals[MAX_COLS] = {0};
	const char *k;
	json_t *x;
	size_t lw = 0;
	int n = 0;

	for (const struct ractl_col *c = r->cols; c->head && n < MAX_COLS; c++, n++) {
		vals[n] = cell(o, c);
		if (vals[n] && strlen(c->head) > lw)
			lw = strlen(c->head);
	}
	if (v->fmt == RACTL_FMT_WIDE) { /* and everything else the answer says */
		json_object_foreach ((json_t *)o, k, x) {
			if (!covered(r, k) && !is_rows(x) && strlen(k) > lw)
				lw = strlen(k);
		}
	}
	n = 0;
	for (const struct ractl_col *c = r->cols; c->head && n < MAX_COLS; c++, n++) {
		if (vals[n] == NULL)
			continue;
		label_of(c->head, label, sizeof(label));
		put_field(f, v, label, lw, vals[n]);
		free(vals[n]);
	}
	if (v->fmt == RACTL_FMT_WIDE)
		json_object_foreach ((json_t *)o, k, x) {
			if (covered(r, k) || is_rows(x))
				continue;
			char *t = ractl_text(x);
			label_of(k, label, sizeof(label));
			put_field(f, v, label, lw, t);
			free(t);
		}
	for (const struct ractl_sub *s = r->subs; s && s->label; s++) {
		const json_t *rows = json_object_get(o, s->path);
		if (json_is_array(rows))
			print_list_section(f, v, s->label, s->resource, rows);
	}
}

/* An answer of unknown shape: plain members as "key  value" in the answer's order, then each
 * list of objects as a table. */
static void print_generic(FILE *f, const struct ractl_view *v, const json_t *o)
{
	const char *k;
	json_t *x;
	size_t lw = 0;
	char label[128];

	if (is_rows(o)) {
		print_generic_table(f, v, o);
		return;
	}
	if (!json_is_object(o)) {
		char *t = ractl_text(o);
		fprintf(f, "%s\n", t);
		free(t);
		return;
	}
	json_object_foreach ((json_t *)o, k, x) {
		if (!is_rows(x) && strlen(k) > lw)
			lw = strlen(k);
	}
	json_object_foreach ((json_t *)o, k, x) {
		if (is_rows(x))
			continue;
		char *t = ractl_text(x);
		label_of(k, label, sizeof(label));
		put_field(f, v, label, lw, t);
		free(t);
	}
	json_object_foreach ((json_t *)o, k, x) {
		if (is_rows(x)) {
			label_of(k, label, sizeof(label));
			print_list_section(f, v, label, NULL, x);
		}
	}
}

/* ---- names ----------------------------------------------------------------------------- */

static void print_name(FILE *f, const struct ractl_res *r, const json_t *item)
{
	const char *idp = r ? r->id : "id";
	const json_t *id = pick(item, idp, strlen(idp));
	char *t;

	if (id == NULL || json_is_null(id))
		return;
	t = ractl_text(id);
	fprintf(f, "%s/%s\n", r ? r->name : "object", t);
	free(t);
}

/* ---- JSON and YAML --------------------------------------------------------------------- */

/* One non-ASCII character of a string in JSON: as it is when printable, else as \u escapes
 * (a surrogate pair beyond the BMP). */
static void put_json_char(FILE *f, const char *p, size_t len)
{
	char *one = safetext_escape(p, len);

	if (one == NULL)
		abort();
	if (one[0] != '\\') {
		fwrite(p, 1, len, f);
	} else if (one[1] == 'u') {
		fputs(one, f);
	} else if (one[1] == 'U') {
		unsigned long cp = strtoul(one + 2, NULL, 16) - 0x10000;
		fprintf(f, "\\u%04lx\\u%04lx", 0xd800 + (cp >> 10), 0xdc00 + (cp & 0x3ff));
	} else {
		/* not UTF-8: Jansson never writes that, but never pass it on either */
		for (size_t i = 0; i < len; i++)
			fputs("\\ufffd", f);
	}
	free(one);
}

/* json_dumps escapes C0 controls; what it leaves raw (DEL, C1, bidi and other format
 * characters, unassigned code points) can only be inside strings, so it is escaped here. */
static void put_json(FILE *f, const char *s)
{
	const unsigned char *p = (const unsigned char *)s;

	while (*p) {
		size_t len = 1;
		if (*p < 0x80) {
			if (*p == 0x7f)
				fputs("\\u007f", f);
			else
				fputc(*p, f);
			p++;
			continue;
		}
		while (len < 4 && (p[len] & 0xc0) == 0x80)
			len++;
		put_json_char(f, (const char *)p, len);
		p += len;
	}
}

void ractl_print_json(FILE *f, const json_t *j)
{
	char *s = json_dumps(j, JSON_INDENT(2) | JSON_SORT_KEYS | JSON_ENCODE_ANY);

	if (s == NULL)
		return;
	put_json(f, s);
	fputc('\n', f);
	free(s);
}

/* A YAML scalar: plain when nothing in it could be read as another type or as syntax, else
 * double-quoted with JSON's escapes (YAML's double-quoted style is a superset of them). */
static int yaml_plain(const char *s)
{
	static const char *const words[] = {"true", "false", "yes", "no", "on", "off",
					    "null", "y",     "n",   "~",  ""};
	char *end;

	for (size_t i = 0; i < sizeof(words) / sizeof(words[0]); i++)
		if (strcasecmp(s, words[i]) == 0)
			return 0;
	(void)strtod(s, &end);
	if (*end == '\0')
		return 0; /* reads as a number */
	if (strchr("-?:,[]{}#&*!|>'\"%@`. ", s[0]) || s[strlen(s) - 1] == ' ')
		return 0;
	for (const char *p = s; *p; p++)
		if (!((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') || (*p >= '0' && *p <= '9') ||
		      strchr("-_./+@ ", *p) != NULL || (unsigned char)*p >= 0x80))
			return 0;
	return strstr(s, ": ") == NULL && strstr(s, " #") == NULL;
}

static void put_yaml_string(FILE *f, const char *s)
{
	if (yaml_plain(s) && safetext_is_clean(s)) {
		fputs(s, f);
	} else {
		json_t *j = json_string(s);
		char *d = j ? json_dumps(j, JSON_ENCODE_ANY) : NULL;
		put_json(f, d ? d : "\"\"");
		free(d);
		json_decref(j);
	}
}

static void put_yaml_scalar(FILE *f, const json_t *v)
{
	switch (json_typeof(v)) {
	case JSON_STRING:
		put_yaml_string(f, json_string_value(v));
		break;
	case JSON_INTEGER:
		fprintf(f, "%lld", (long long)json_integer_value(v));
		break;
	case JSON_REAL:
		fprintf(f, "%.17g", json_real_value(v));
		break;
	case JSON_TRUE:
		fputs("true", f);
		break;
	case JSON_FALSE:
		fputs("false", f);
		break;
	case JSON_NULL:
		fputs("null", f);
		break;
	case JSON_OBJECT:
		fputs("{}", f);
		break;
	case JSON_ARRAY:
		fputs("[]", f);
		break;
	}
}

static int yaml_nested(const json_t *v)
{
	return (json_is_object(v) && json_object_size(v) > 0) || (json_is_array(v) && json_array_size(v) > 0);
}

static int cmp_str(const void *a, const void *b)
{
	return strcmp(*(const char *const *)a, *(const char *const *)b);
}

static void put_yaml(FILE *f, const json_t *v, int indent, int inline_first);

static void put_yaml_object(FILE *f, const json_t *v, int indent, int inline_first)
{
	size_t n = json_object_size(v), i = 0;
	const char **keys = calloc(n + 1, sizeof(*keys));
	const char *k;
	json_t *x;

	if (keys == NULL)
		abort();
	json_object_foreach ((json_t *)v, k, x) {
		keys[i++] = k;
	}
	qsort(keys, n, sizeof(*keys), cmp_str);
	for (i = 0; i < n; i++) {
		x = json_object_get(v, keys[i]);
		if (i > 0 || !inline_first)
			fprintf(f, "%*s", indent, "");
		put_yaml_string(f, keys[i]);
		fputc(':', f);
		if (yaml_nested(x)) {
			fputc('\n', f);
			put_yaml(f, x, indent + 2, 0);
		} else {
			fputc(' ', f);
			put_yaml_scalar(f, x);
			fputc('\n', f);
		}
	}
	free(keys);
}

static void put_yaml(FILE *f, const json_t *v, int indent, int inline_first)
{
	size_t i;
	json_t *x;

	if (json_is_object(v) && json_object_size(v) > 0) {
		put_yaml_object(f, v, indent, inline_first);
	} else if (json_is_array(v) && json_array_size(v) > 0) {
		json_array_foreach (v, i, x) {
			if (i > 0 || !inline_first)
				fprintf(f, "%*s", indent, "");
			fputs("- ", f);
			if (json_is_object(x) && json_object_size(x) > 0) {
				put_yaml_object(f, x, indent + 2, 1);
			} else if (yaml_nested(x)) {
				fputc('\n', f);
				put_yaml(f, x, indent + 2, 0);
			} else {
				put_yaml_scalar(f, x);
				fputc('\n', f);
			}
		}
	} else {
		if (!inline_first)
			fprintf(f, "%*s", indent, "");
		put_yaml_scalar(f, v);
		fputc('\n', f);
	}
}

void ractl_print_yaml(FILE *f, const json_t *j)
{
	put_yaml(f, j, 0, 0);
}

/* ---- the entry point ------------------------------------------------------------------- */

void ractl_print(FILE *f, const struct ractl_view *v, const char *resource, const json_t *j)
{
	const struct ractl_res *r = ractl_res_find(resource);
	const json_t *rows = r && r->list ? json_object_get(j, r->list) : NULL;

	switch (v->fmt) {
	case RACTL_FMT_JSON:
		ractl_print_json(f, j);
		return;
	case RACTL_FMT_YAML:
		ractl_print_yaml(f, j);
		return;
	case RACTL_FMT_NAME:
		if (json_is_array(rows)) {
			size_t i;
			json_t *x;
			json_array_foreach (rows, i, x) {
				print_name(f, r, x);
			}
		} else if (json_is_object(j)) {
			print_name(f, r, j);
		}
		return;
	default:
		break;
	}
	if (json_is_array(rows)) {
		if (json_array_size(rows) > 0)
			print_table(f, v, r->cols, rows);
	} else if (r && json_is_object(j)) {
		print_detail(f, v, r, j);
	} else {
		print_generic(f, v, j);
	}
}
