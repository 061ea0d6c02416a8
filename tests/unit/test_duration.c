/*
 * test_duration.c - durations in configuration (ra/base/duration.c): reminder offsets, the
 * grace period and a product's contractual term.
 */
#include <criterion/criterion.h>

#include "ra/base/duration.h"

Test(duration, seconds_units)
{
	long long s;
	int m;

	cr_expect_eq(duration_parse("90s", 0, &s, &m), 0);
	cr_expect_eq(s, 90);
	cr_expect_eq(duration_parse("15min", 0, &s, &m), 0);
	cr_expect_eq(s, 900);
	cr_expect_eq(duration_parse("12h", 0, &s, &m), 0);
	cr_expect_eq(s, 43200);
	cr_expect_eq(duration_parse("30d", 0, &s, &m), 0);
	cr_expect_eq(s, 30 * 86400);
	cr_expect_eq(m, 0);
}

Test(duration, months_only_where_allowed)
{
	long long s;
	int m;
	char buf[32];

	cr_expect_eq(duration_parse("12mo", 0, &s, &m), -1, "a reminder offset in months is refused");
	cr_expect_eq(duration_parse("12mo", 1, &s, &m), 0);
	cr_expect_eq(m, 12);
	cr_expect_eq(duration_parse("2y", 1, &s, &m), 0);
	cr_expect_eq(m, 24);
	cr_expect_eq(duration_interval("1y", 1, buf, sizeof(buf)), 0);
	cr_expect_str_eq(buf, "12 months");
	cr_expect_eq(duration_interval("45s", 1, buf, sizeof(buf)), 0);
	cr_expect_str_eq(buf, "45 seconds");
}

Test(duration, malformed_is_refused)
{
	const char *bad[] = {
		"",         "d", "0d", "-1d", "1.5d", "30 d", "30days", "30D", "99999999999999999999s",
		"1000000d", NULL};
	long long s;
	int m;

	cr_expect_eq(duration_parse(NULL, 1, &s, &m), -1);
	for (int i = 0; bad[i]; i++)
		cr_expect_eq(duration_parse(bad[i], 1, &s, &m), -1, "'%s' is refused", bad[i]);
}
