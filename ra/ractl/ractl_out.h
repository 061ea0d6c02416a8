/*
 * ractl_out.h - how ractl prints an answer: `-o table` (fixed columns per resource, fitted
 * to the terminal), `wide` (every column, nothing cut), `json`, `yaml`, `name`
 * (resource/id, one a line).  Every string that came from the server is escaped before it
 * reaches the terminal (ra/base/safetext.h): a hostile name cannot retitle, clear or fake
 * lines on a support person's terminal; JSON and YAML carry such characters as \u escapes.
 */
#ifndef RA_RACTL_OUT_H
#define RA_RACTL_OUT_H

#include <jansson.h>
#include <stddef.h>
#include <stdio.h>

enum ractl_fmt { RACTL_FMT_TABLE, RACTL_FMT_WIDE, RACTL_FMT_JSON, RACTL_FMT_YAML, RACTL_FMT_NAME };

#define RACTL_FORMATS "table|wide|json|yaml|name"

struct ractl_view {
	int fmt; /* enum ractl_fmt */
	int no_headers; /* tables without their header line */
	size_t width; /* columns to fit a table into; 0: no limit */
};

/* enum ractl_fmt of "table", "wide", ...; -1 when unknown. */
int ractl_fmt_parse(const char *s);

/* The width to fit tables into when writing to fd: the terminal's width when fd is a
 * terminal, else $COLUMNS when set, else 0 (no limit: a pipe gets whole lines). */
size_t ractl_term_width(int fd);

/* Prints j as v says; resource (may be NULL) names its layout (ractl_res.h). */
void ractl_print(FILE *f, const struct ractl_view *v, const char *resource, const json_t *j);

/* Pretty JSON, keys sorted; control, format and bidi characters as \u escapes. */
void ractl_print_json(FILE *f, const json_t *j);
/* YAML (block style, keys sorted); strings quoted whenever YAML could read them otherwise. */
void ractl_print_yaml(FILE *f, const json_t *j);

/* A value as the terminal shows it: scalars as text ("yes"/"no", "-" for null), nested
 * values as compact JSON, all of it escaped (caller frees). */
char *ractl_text(const json_t *v);

/* Age of an ISO 8601 timestamp relative to now ("45s", "12m", "5h", "3d") into buf; "-" when
 * it cannot be read. */
void ractl_age(const char *iso, char *buf, size_t cap);

#endif
