/*
 * ractl_out.c - JSON and table output of ractl; see ractl_out.h.
 */
#include "ra/ractl/ractl_out.h"

#include <stdlib.h>
#include <string.h>

#define CELL_MAX 48
#define COLS_MAX 16

void rctl_print_json(FILE *f, const json_t *j)
{
	char *s = json_dumps(j, JSON_INDENT(2) | JSON_SORT_KEYS | JSON_ENCODE_ANY);

	if (s) {
		fprintf(f, "%s\n", s);
		free(s);
	}
}

/* A scalar as text (caller frees); nested values as compact JSON. */
static char *text_of(const json_t *v)
{
	char buf[64];

	switch (json_typeof(v)) {
	case JSON_STRING: return strdup(json_string_value(v));
	case JSON_INTEGER: snprintf(buf, sizeof(buf), "%lld", (long long)json_integer_value(v)); return strdup(buf);
	case JSON_REAL: snprintf(buf, sizeof(buf), "%g", json_real_value(v)); return strdup(buf);
	case JSON_TRUE: return strdup("yes");
	case JSON_FALSE: return strdup("no");
	case JSON_NULL: return strdup("-");
	default: return json_dumps(v, JSON_COMPACT | JSON_SORT_KEYS);
	}
}

static int is_table(const json_t *v)
{
	return json_is_array(v) && json_array_size(v) > 0 && json_is_object(json_array_get(v, 0));
}

static void print_cell(FILE *f, const char *s, int width, int last)
{
	int n = (int)strlen(s);

	if (n > CELL_MAX)
		fprintf(f, "%.*s…", CELL_MAX - 1, s);
	else
		fputs(s, f);
	if (!last)
		fprintf(f, "%*s", width - (n > CELL_MAX ? CELL_MAX : n) + 2, "");
}

/* Columns: the plain (non-nested) members of the first row, in its order. */
static void print_table(FILE *f, const json_t *rows)
{
	const char *cols[COLS_MAX];
	int width[COLS_MAX], ncol = 0;
	const char *k;
	json_t *v, *row;
	size_t i;

	json_object_foreach((json_t *)json_array_get(rows, 0), k, v) {
		if (ncol < COLS_MAX && !json_is_object(v) && !json_is_array(v)) {
			cols[ncol] = k;
			width[ncol++] = (int)strlen(k);
		}
	}
	json_array_foreach(rows, i, row) {
		for (int c = 0; c < ncol; c++) {
			char *t = text_of(json_object_get(row, cols[c]) ? json_object_get(row, cols[c]) : json_null());
			int n = (int)strlen(t);
			if (n > CELL_MAX)
				n = CELL_MAX;
			if (n > width[c])
				width[c] = n;
			free(t);
		}
	}
	for (int c = 0; c < ncol; c++)
		print_cell(f, cols[c], width[c], c == ncol - 1);
	fputc('\n', f);
	json_array_foreach(rows, i, row) {
		for (int c = 0; c < ncol; c++) {
			char *t = text_of(json_object_get(row, cols[c]) ? json_object_get(row, cols[c]) : json_null());
			print_cell(f, t, width[c], c == ncol - 1);
			free(t);
		}
		fputc('\n', f);
	}
}

void rctl_print_human(FILE *f, const json_t *j)
{
	const char *k;
	json_t *v;
	int kw = 0;

	if (is_table(j)) {
		print_table(f, j);
		return;
	}
	if (!json_is_object(j)) {
		char *t = text_of(j);
		fprintf(f, "%s\n", t);
		free(t);
		return;
	}
	json_object_foreach((json_t *)j, k, v) {
		if (!is_table(v) && (int)strlen(k) > kw)
			kw = (int)strlen(k);
	}
	json_object_foreach((json_t *)j, k, v) {
		if (!is_table(v)) {
			char *t = text_of(v);
			fprintf(f, "%-*s  %s\n", kw + 1, k, t);
			free(t);
		}
	}
	json_object_foreach((json_t *)j, k, v) {
		if (is_table(v)) {
			fprintf(f, "\n%s (%zu):\n", k, json_array_size(v));
			print_table(f, v);
		}
	}
}
