/*
 * names.c - identity matching of personal names with libunistring (R7); see names.h.
 *
 * Each name is turned into comparison keys, from strict to loose:
 *   exact   NFKC + full Unicode case folding, white space trimmed and collapsed;
 *   translit  exact key with ü/ö/ä spelled ue/oe/ae, then diacritics dropped;
 *   bare    exact key with all combining marks dropped (NFD, remove category M, NFC).
 * Full case folding already maps ß (and capital ẞ) to "ss", as German upper-casing does, so
 * "STRAUSS" and "Strauß" are exact: ident providers report names in capitals, the way the
 * passport prints them.
 */
#include "ra/base/names.h"

#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <unicase.h>
#include <unictype.h>
#include <uninorm.h>
#include <unistr.h>

struct key {
	uint8_t *s; /* malloc'd, not NUL-terminated */
	size_t n;
};

static void key_free(struct key *k)
{
	free(k->s);
	k->s = NULL;
	k->n = 0;
}

static bool key_eq(const struct key *a, const struct key *b)
{
	return a->s != NULL && b->s != NULL && a->n == b->n && memcmp(a->s, b->s, a->n) == 0;
}

/* Trims and collapses runs of Unicode white space to one U+0020, in place. */
static void collapse_space(struct key *k)
{
	size_t r = 0, w = 0;
	bool pending = false;

	while (r < k->n) {
		ucs4_t uc;
		int len = u8_mbtouc(&uc, k->s + r, k->n - r);

		if (uc_is_property_white_space(uc)) {
			pending = w > 0;
		} else {
			if (pending)
				k->s[w++] = ' ';
			pending = false;
			memmove(k->s + w, k->s + r, (size_t)len);
			w += (size_t)len;
		}
		r += (size_t)len;
	}
	k->n = w;
}

static int exact_key(const char *name, struct key *k)
{
	size_t n = strlen(name);

	if (u8_check((const uint8_t *)name, n) != NULL)
		return -1;
	k->s = u8_casefold((const uint8_t *)name, n, NULL, UNINORM_NFKC, NULL, &k->n);
	if (k->s == NULL)
		return -1;
	collapse_space(k);
	return k->n == 0 ? -1 : 0;
}

/* Drops combining marks: NFD splits "é" into "e" + U+0301, which is then left out. */
static int bare_key(const struct key *in, struct key *out)
{
	struct key nfd = {0};
	int rc = -1;

	nfd.s = u8_normalize(UNINORM_NFD, in->s, in->n, NULL, &nfd.n);
	if (nfd.s == NULL)
		goto out;
	size_t w = 0;
	for (size_t r = 0; r < nfd.n;) {
		ucs4_t uc;
		int len = u8_mbtouc(&uc, nfd.s + r, nfd.n - r);

		if (!uc_is_general_category(uc, UC_CATEGORY_M)) {
			memmove(nfd.s + w, nfd.s + r, (size_t)len);
			w += (size_t)len;
		}
		r += (size_t)len;
	}
	out->s = u8_normalize(UNINORM_NFC, nfd.s, w, NULL, &out->n);
	rc = out->s == NULL ? -1 : 0;
out:
	key_free(&nfd);
	return rc;
}

/* German transliteration of the (already case-folded, composed) umlauts. */
static const char *umlaut(ucs4_t uc)
{
	switch (uc) {
	case 0x00E4:
		return "ae";
	case 0x00F6:
		return "oe";
	case 0x00FC:
		return "ue";
	}
	return NULL;
}

static int translit_key(const struct key *in, struct key *out)
{
	/* Each umlaut is 2 bytes in UTF-8 and becomes 2 ASCII bytes: the length never grows. */
	struct key t = {malloc(in->n + 1), 0};
	int rc;

	if (t.s == NULL)
		return -1;
	for (size_t r = 0; r < in->n;) {
		ucs4_t uc;
		int len = u8_mbtouc(&uc, in->s + r, in->n - r);
		const char *rep = umlaut(uc);

		if (rep != NULL) {
			memcpy(t.s + t.n, rep, 2);
			t.n += 2;
		} else {
			memcpy(t.s + t.n, in->s + r, (size_t)len);
			t.n += (size_t)len;
		}
		r += (size_t)len;
	}
	rc = bare_key(&t, out);
	key_free(&t);
	return rc;
}

enum name_match name_compare(const char *order_name, const char *ident_name)
{
	struct key ea = {0}, eb = {0}, ta = {0}, tb = {0}, ba = {0}, bb = {0};
	enum name_match m = NAME_MISMATCH;

	if (order_name == NULL || ident_name == NULL)
		return NAME_MISMATCH;
	if (exact_key(order_name, &ea) != 0 || exact_key(ident_name, &eb) != 0)
		goto out;
	if (key_eq(&ea, &eb)) {
		m = NAME_EXACT;
		goto out;
	}
	if (translit_key(&ea, &ta) != 0 || translit_key(&eb, &tb) != 0)
		goto out;
	if (bare_key(&ea, &ba) != 0 || bare_key(&eb, &bb) != 0)
		goto out;
	if (key_eq(&ta, &tb) || key_eq(&ba, &bb))
		m = NAME_NEEDS_REVIEW;
out:
	key_free(&bb);
	key_free(&ba);
	key_free(&tb);
	key_free(&ta);
	key_free(&eb);
	key_free(&ea);
	return m;
}

/* Appends k's bytes to out (cap checked by the caller's sizing). */
static void put_key(char *out, size_t *w, const struct key *k)
{
	memcpy(out + *w, k->s, k->n);
	*w += k->n;
}

char *name_fold(const char *name)
{
	struct key e = {0}, b = {0}, t = {0};
	char *out = NULL;
	size_t w = 0;

	if (name == NULL || exact_key(name, &e) != 0)
		goto out;
	if (bare_key(&e, &b) != 0 || translit_key(&e, &t) != 0)
		goto out;
	out = malloc(b.n + t.n + 4);
	if (out == NULL)
		goto out;
	put_key(out, &w, &b);
	/* "muller | mueller": both spellings a caller may type find the name */
	if (!key_eq(&b, &t)) {
		memcpy(out + w, " | ", 3);
		w += 3;
		put_key(out, &w, &t);
	}
	out[w] = '\0';
out:
	key_free(&t);
	key_free(&b);
	key_free(&e);
	return out;
}

char *name_fold_query(const char *text)
{
	struct key e = {0}, b = {0};
	char *out = NULL;

	if (text == NULL || exact_key(text, &e) != 0 || bare_key(&e, &b) != 0)
		goto out;
	out = malloc(b.n + 1);
	if (out) {
		memcpy(out, b.s, b.n);
		out[b.n] = '\0';
	}
out:
	key_free(&b);
	key_free(&e);
	return out;
}

const char *name_match_str(enum name_match m)
{
	switch (m) {
	case NAME_EXACT:
		return "exact";
	case NAME_NEEDS_REVIEW:
		return "needs_review";
	case NAME_MISMATCH:
		return "mismatch";
	}
	return "mismatch";
}
