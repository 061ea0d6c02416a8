/*
 * bu.h - shared helpers of the benchmark programs under tests/bench/ (prefix bu_): a
 * monotonic clock, a growable sample array with percentiles, and fatal-error exits.
 * Benchmarks are not tests: nothing here asserts a time, the programs only report.
 */
#ifndef RA_BENCH_BU_H
#define RA_BENCH_BU_H

#include <stddef.h>

/* Monotonic time in milliseconds. */
double bu_now_ms(void);

struct bu_samples {
	double *v;
	size_t n, cap;
};

void bu_add(struct bu_samples *s, double v);
/* Percentile p (0..100) by nearest rank; sorts the samples. 0 when empty. */
double bu_pct(struct bu_samples *s, double p);
double bu_mean(const struct bu_samples *s);
void bu_free(struct bu_samples *s);

/* Prints "prog: message" to stderr and exits 1. */
void bu_die(const char *fmt, ...) __attribute__((format(printf, 1, 2), noreturn));
/* Value of "--name" in argv, or def. */
const char *bu_arg(int argc, char **argv, const char *name, const char *def);
long bu_arg_long(int argc, char **argv, const char *name, long def);

#endif
