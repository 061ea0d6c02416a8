/*
 * duration.h - durations in configuration, written as a number and a unit: "90s", "15min",
 * "12h", "30d", and for contractual terms also months and years ("12mo", "1y").  Used for
 * reminder offsets, the grace period and a product's term (docs/lifecycle.md).
 */
#ifndef RA_DURATION_H
#define RA_DURATION_H

/* Parses s.  Seconds units (s, min, h, d) set *seconds and *months = 0; month units (mo, y)
 * set *months and *seconds = 0 and are refused (-1) unless allow_months.  The number is a
 * positive integer.  Returns 0 or -1. */
int duration_parse(const char *s, int allow_months, long long *seconds, int *months);

/* The duration as PostgreSQL interval text ("45 seconds", "12 months") into buf. */
int duration_interval(const char *s, int allow_months, char *buf, unsigned long cap);

#endif
