/*
 * safetext.c - escaping of non-printable text and display widths with libunistring; see
 * safetext.h.
 */
#include "ra/base/safetext.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unictype.h>
#include <unistr.h>
#include <uniwidth.h>

/* Shown escaped: Cc is handled byte-wise below; these are the code points past ASCII. */
#define UNSAFE_CATEGORIES                                                                        \
	(UC_CATEGORY_MASK_Cc | UC_CATEGORY_MASK_Cf | UC_CATEGORY_MASK_Cs | UC_CATEGORY_MASK_Co | \
	 UC_CATEGORY_MASK_Cn | UC_CATEGORY_MASK_Zl | UC_CATEGORY_MASK_Zp)

struct out {
	char *p;
	size_t n, cap;
	int failed;
};

static void put(struct out *o, const char *s, size_t n)
{
	if (o->failed)
		return;
	if (o->n + n + 1 > o->cap) {
		size_t cap = (o->cap ? o->cap * 2 : 64) + n;
		char *np = realloc(o->p, cap);
		if (np == NULL) {
			o->failed = 1;
			return;
		}
		o->p = np;
		o->cap = cap;
	}
	memcpy(o->p + o->n, s, n);
	o->n += n;
	o->p[o->n] = '\0';
}

static int unsafe_cp(ucs4_t uc)
{
	return uc_is_general_category_withtable(uc, UNSAFE_CATEGORIES);
}

/* Length of the safe character at s (1..4), or 0 when it must be escaped; *uc gets the code
 * point, or -1 for a byte that does not start valid UTF-8. */
static int next_char(const uint8_t *s, size_t n, long *uc)
{
	ucs4_t c;
	int len = u8_mbtoucr(&c, s, n);

	if (len < 0) {
		*uc = -1;
		return 0;
	}
	*uc = (long)c;
	if (c < 0x20 || c == 0x7f || c == '\\')
		return 0;
	if (c >= 0x80 && unsafe_cp(c))
		return 0;
	return len;
}

char *safetext_escape(const char *in, size_t len)
{
	const uint8_t *s = (const uint8_t *)in;
	struct out o = {0};
	size_t i = 0;

	put(&o, "", 0);
	while (i < len) {
		long uc;
		int n = next_char(s + i, len - i, &uc);
		char esc[16];

		if (n > 0) {
			put(&o, (const char *)s + i, (size_t)n);
			i += (size_t)n;
			continue;
		}
		if (uc < 0) {
			snprintf(esc, sizeof(esc), "\\x%02x", s[i]);
			i++;
		} else if (uc < 0x80) {
			if (uc == '\n')
				snprintf(esc, sizeof(esc), "\\n");
			else if (uc == '\r')
				snprintf(esc, sizeof(esc), "\\r");
			else if (uc == '\t')
				snprintf(esc, sizeof(esc), "\\t");
			else if (uc == '\\')
				snprintf(esc, sizeof(esc), "\\\\");
			else
				snprintf(esc, sizeof(esc), "\\x%02lx", uc);
			i++;
		} else {
			ucs4_t c;
			snprintf(esc, sizeof(esc), uc > 0xffff ? "\\U%08lx" : "\\u%04lx", uc);
			i += (size_t)u8_mbtoucr(&c, s + i, len - i);
		}
		put(&o, esc, strlen(esc));
	}
	if (o.failed) {
		free(o.p);
		return NULL;
	}
	return o.p;
}

int safetext_is_clean(const char *in)
{
	const uint8_t *s = (const uint8_t *)in;
	size_t len = strlen(in), i = 0;

	while (i < len) {
		long uc;
		int n = next_char(s + i, len - i, &uc);
		if (n == 0 && uc != '\\')
			return 0;
		i += n > 0 ? (size_t)n : 1;
	}
	return 1;
}

/* Columns of one character: invalid or control bytes (not produced by safetext_escape)
 * count one, so the sum never undercounts what a terminal might show. */
static int char_cols(const uint8_t *s, size_t n, int *len)
{
	ucs4_t c;
	int w;

	*len = u8_mbtoucr(&c, s, n);
	if (*len <= 0) {
		*len = 1;
		return 1;
	}
	w = uc_width(c, "UTF-8");
	return w < 0 ? 1 : w;
}

size_t safetext_width(const char *in)
{
	const uint8_t *s = (const uint8_t *)in;
	size_t len = strlen(in), i = 0, cols = 0;

	while (i < len) {
		int n;
		cols += (size_t)char_cols(s + i, len - i, &n);
		i += (size_t)n;
	}
	return cols;
}

char *safetext_fit(const char *in, size_t cols)
{
	static const char ellipsis[] = "\xe2\x80\xa6"; /* U+2026 */
	const uint8_t *s = (const uint8_t *)in;
	size_t len = strlen(in), i = 0, used = 0, cut = 0;
	char *out;

	if (safetext_width(in) <= cols)
		return strdup(in);
	if (cols == 0)
		return strdup("");
	/* room for the ellipsis: the prefix takes at most cols - 1 columns */
	while (i < len) {
		int n, w = char_cols(s + i, len - i, &n);
		if (used + (size_t)w > cols - 1)
			break;
		used += (size_t)w;
		i += (size_t)n;
		cut = i;
	}
	out = malloc(cut + sizeof(ellipsis));
	if (out == NULL)
		return NULL;
	memcpy(out, in, cut);
	memcpy(out + cut, ellipsis, sizeof(ellipsis));
	return out;
}

/* Refused in names and free text at intake: controls, surrogates, private use, unassigned
 * code points (the noncharacters among them), line and paragraph separators. */
#define REFUSED_CATEGORIES                                                                       \
	(UC_CATEGORY_MASK_Cc | UC_CATEGORY_MASK_Cs | UC_CATEGORY_MASK_Co | UC_CATEGORY_MASK_Cn | \
	 UC_CATEGORY_MASK_Zl | UC_CATEGORY_MASK_Zp)

/* Bidi embeddings, overrides and isolates reorder what follows them on screen ("gpj.exe"
 * shown as "exe.jpg"); the marks LRM/RLM/ALM, which only nudge, stay allowed. */
static int bidi_control(ucs4_t c)
{
	return (c >= 0x202a && c <= 0x202e) || (c >= 0x2066 && c <= 0x2069);
}

int safetext_check_field(const char *in, char *what, size_t cap)
{
	const uint8_t *s = (const uint8_t *)in;
	size_t len = strlen(in), i = 0;

	while (i < len) {
		ucs4_t c;
		int n = u8_mbtoucr(&c, s + i, len - i);
		const char *kind = NULL;

		if (n < 0)
			kind = "a byte that is not UTF-8";
		else if (c < 0x20 || c == 0x7f || (c >= 0x80 && c < 0xa0))
			kind = "a control character";
		else if (bidi_control(c))
			kind = "a bidirectional override";
		else if (uc_is_general_category_withtable(c, REFUSED_CATEGORIES))
			kind = uc_is_general_category_withtable(c, UC_CATEGORY_MASK_Cn)
				       ? "an unassigned code point"
				       : "a non-printable character";
		if (kind != NULL) {
			if (n < 0)
				snprintf(what, cap, "%s (0x%02x) at byte %zu", kind, s[i], i);
			else
				snprintf(what, cap, "%s (U+%04X) at byte %zu", kind, (unsigned)c, i);
			return -1;
		}
		i += (size_t)n;
	}
	return 0;
}
