/*
 * fuzz_ractl_out.c - libFuzzer target: ractl printing an admin API answer the server (or a
 * man in the middle) chose, in every output format and for every resource's table.  What
 * reaches the terminal must never hold an ESC, BEL, C1 control or bidi override: checked on
 * the bytes written.  Input: one byte picks the resource and the width, the rest is JSON.
 */
#include <jansson.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ra/ractl/ractl_out.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static const char *const resources[] = {"user",  "cert",     "order", "item",   "rejection", "review", "job",
					"audit", "contract", "ident", "whoami", "verify",    NULL};

static void check_clean(const char *out, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		unsigned char c = (unsigned char)out[i];
		if ((c < 0x20 && c != '\n') || c == 0x7f)
			abort(); /* a control byte reached the terminal */
		if (c == 0xc2 && i + 1 < n && (unsigned char)out[i + 1] >= 0x80 &&
		    (unsigned char)out[i + 1] < 0xa0)
			abort(); /* C1 control U+0080..U+009F */
		if (c == 0xe2 && i + 2 < n && (unsigned char)out[i + 1] == 0x80 &&
		    (unsigned char)out[i + 2] >= 0xaa && (unsigned char)out[i + 2] <= 0xae)
			abort(); /* bidi embedding/override U+202A..U+202E */
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	json_t *j;
	const char *res;
	size_t width;

	if (size < 1)
		return 0;
	res = resources[data[0] % (sizeof(resources) / sizeof(resources[0]))];
	width = (size_t)(data[0] >> 4) * 12;
	j = json_loadb((const char *)data + 1, size - 1, JSON_DECODE_ANY, NULL);
	if (j == NULL)
		return 0;
	for (int fmt = RACTL_FMT_TABLE; fmt <= RACTL_FMT_NAME; fmt++) {
		char *out = NULL;
		size_t n = 0;
		FILE *f = open_memstream(&out, &n);
		struct ractl_view v = {fmt, data[0] & 1, width};

		if (f == NULL)
			break;
		ractl_print(f, &v, res, j);
		fclose(f);
		check_clean(out, n);
		free(out);
	}
	{
		char *t = ractl_text(j);
		if (t != NULL)
			check_clean(t, strlen(t));
		free(t);
	}
	json_decref(j);
	return 0;
}
