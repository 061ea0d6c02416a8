/*
 * fuzz_names.c - libFuzzer target: names and phone numbers from shops and providers: the R7
 * comparison (name_compare), the intake's printable-text check and the terminal escaping
 * (safetext), and libphonenumber through phone_normalize.  Input: two texts split at the
 * first NUL byte (order side, provider side).
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "ra/base/names.h"
#include "ra/base/phone.h"
#include "ra/base/safetext.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *buf = malloc(size + 2), *a, *b, why[96], e164[PHONE_E164_MAX], *esc, *fit;
	struct phone_err perr;
	enum name_match m1, m2;

	if (buf == NULL)
		return 0;
	memcpy(buf, data, size);
	buf[size] = buf[size + 1] = '\0';
	a = buf;
	b = buf + strlen(buf) + 1;
	m1 = name_compare(a, b);
	m2 = name_compare(b, a);
	if (m1 != m2) /* the comparison is symmetric (names.h) */
		abort();
	(void)name_match_str(m1);
	if (safetext_check_field(a, why, sizeof(why)) == 0 && !safetext_is_clean(a) &&
	    strchr(a, '\\') == NULL) {
		/* what intake accepts, the terminal escaping leaves alone except for backslashes,
		 * format characters and the like: accepted text never needs an ESC escape */
		esc = safetext_escape(a, strlen(a));
		if (esc != NULL && strstr(esc, "\\x") != NULL)
			abort();
		free(esc);
	}
	esc = safetext_escape((const char *)data, size);
	if (esc != NULL) {
		if (!safetext_is_clean(esc))
			abort(); /* the escaped form is printable */
		fit = safetext_fit(esc, size % 40);
		if (fit != NULL && safetext_width(fit) > size % 40)
			abort();
		free(fit);
	}
	free(esc);
	(void)phone_normalize(a, "AT", e164, sizeof(e164), &perr);
	(void)phone_normalize(b, *a ? a : "DE", e164, sizeof(e164), &perr);
	free(buf);
	return 0;
}
