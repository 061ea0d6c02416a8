/* bu.c - clock, samples and argument helpers for the benchmark programs; see bu.h. */
#include "tests/bench/bu.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

double bu_now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec / 1e6;
}

void bu_add(struct bu_samples *s, double v)
{
	if (s->n == s->cap) {
		size_t cap = s->cap ? s->cap * 2 : 1024;
		double *nv = realloc(s->v, cap * sizeof(*nv));
		if (nv == NULL)
			bu_die("out of memory");
		s->v = nv;
		s->cap = cap;
	}
	s->v[s->n++] = v;
}

static int cmp(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;
	return (x > y) - (x < y);
}

double bu_pct(struct bu_samples *s, double p)
{
	size_t rank;

	if (s->n == 0)
		return 0;
	qsort(s->v, s->n, sizeof(*s->v), cmp);
	/* nearest rank: the smallest value with at least p% of the samples at or below it */
	rank = (size_t)((p / 100.0) * (double)s->n + 0.999999);
	if (rank < 1)
		rank = 1;
	if (rank > s->n)
		rank = s->n;
	return s->v[rank - 1];
}

double bu_mean(const struct bu_samples *s)
{
	double sum = 0;

	for (size_t i = 0; i < s->n; i++)
		sum += s->v[i];
	return s->n ? sum / (double)s->n : 0;
}

void bu_free(struct bu_samples *s)
{
	free(s->v);
	memset(s, 0, sizeof(*s));
}

void bu_die(const char *fmt, ...)
{
	va_list ap;

	fputs("bench: ", stderr);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	exit(1);
}

const char *bu_arg(int argc, char **argv, const char *name, const char *def)
{
	for (int i = 1; i + 1 < argc; i++)
		if (strcmp(argv[i], name) == 0)
			return argv[i + 1];
	return def;
}

long bu_arg_long(int argc, char **argv, const char *name, long def)
{
	const char *v = bu_arg(argc, argv, name, NULL);
	char *end;
	long n;

	if (v == NULL)
		return def;
	n = strtol(v, &end, 10);
	if (*end != '\0')
		bu_die("%s: not a number: %s", name, v);
	return n;
}
