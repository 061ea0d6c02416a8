/*
 * fixture.h - read a sample payload from tests/fixtures/ (tests run from the repo root).
 * Header-only so each unit test stays one file; returns a NUL-terminated malloc'd buffer.
 */
#ifndef TESTS_UNIT_FIXTURE_H
#define TESTS_UNIT_FIXTURE_H

#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>

static inline char *fixture_read(const char *name, size_t *len_out)
{
	char path[256];
	FILE *f;
	char *buf;
	long len;

	snprintf(path, sizeof(path), "tests/fixtures/%s", name);
	f = fopen(path, "rb");
	cr_assert_not_null(f, "cannot open %s (run the tests from the repository root)", path);
	cr_assert_eq(fseek(f, 0, SEEK_END), 0);
	len = ftell(f);
	cr_assert_geq(len, 0);
	rewind(f);
	buf = malloc((size_t)len + 1);
	cr_assert_not_null(buf);
	cr_assert_eq(fread(buf, 1, (size_t)len, f), (size_t)len);
	buf[len] = '\0';
	fclose(f);
	if (len_out != NULL)
		*len_out = (size_t)len;
	return buf;
}

#endif
