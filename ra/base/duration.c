/*
 * duration.c - "30d", "12mo" and friends (duration.h).
 */
#include "ra/base/duration.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MAX_SECONDS (100LL * 366 * 86400) /* a century: more is a typo */
#define MAX_MONTHS 1200

int duration_parse(const char *s, int allow_months, long long *seconds, int *months)
{
	static const struct {
		const char *unit;
		long long secs; /* 0: months */
		int months;
	} units[] = {{"s", 1, 0},     {"min", 60, 0}, {"h", 3600, 0},
		     {"d", 86400, 0}, {"mo", 0, 1},   {"y", 0, 12}};
	char *end;
	long long n;

	if (s == NULL || *s < '1' || *s > '9')
		return -1;
	errno = 0;
	n = strtoll(s, &end, 10);
	if (errno != 0 || n <= 0)
		return -1;
	for (size_t i = 0; i < sizeof(units) / sizeof(units[0]); i++) {
		if (strcmp(end, units[i].unit) != 0)
			continue;
		if (units[i].secs == 0) {
			if (!allow_months || n > MAX_MONTHS / units[i].months)
				return -1;
			*months = (int)n * units[i].months;
			*seconds = 0;
			return 0;
		}
		if (n > MAX_SECONDS / units[i].secs)
			return -1;
		*seconds = n * units[i].secs;
		*months = 0;
		return 0;
	}
	return -1;
}

int duration_interval(const char *s, int allow_months, char *buf, unsigned long cap)
{
	long long secs;
	int months;

	if (duration_parse(s, allow_months, &secs, &months) != 0)
		return -1;
	if (months > 0)
		snprintf(buf, cap, "%d months", months);
	else
		snprintf(buf, cap, "%lld seconds", secs);
	return 0;
}
