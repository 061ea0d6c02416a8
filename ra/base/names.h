/*
 * names.h - does the name on an order belong to the person the ident provider saw? (R7)
 *
 * Shops send "Müller", providers send "MÜLLER" or "MUELLER"; a byte comparison would send
 * every order to review, and a loose one would issue certificates to the wrong person.  So
 * there are three answers: exact after Unicode normalisation (NFKC) and full case folding,
 * "needs review" when the names only agree after a German transliteration (ü→ue, ö→oe,
 * ä→ae, ß→ss) or after dropping diacritics, and mismatch otherwise.  Leading, trailing and
 * repeated white space never matter.  Pure: no I/O, thread-safe.
 */
#ifndef RA_NAMES_H
#define RA_NAMES_H

enum name_match {
	NAME_EXACT = 0, /* the same name: may proceed to issuance */
	NAME_NEEDS_REVIEW = 1, /* plausibly the same, a person must confirm (R7) */
	NAME_MISMATCH = 2, /* different, empty, NULL or not UTF-8 */
};

/*
 * Compares the name from the order with the name from the identification.  Symmetric.
 * Anything that cannot be compared (NULL, empty after trimming, invalid UTF-8, out of
 * memory) is NAME_MISMATCH: the safe answer, since a mismatch is never issued on.
 */
enum name_match name_compare(const char *order_name, const char *ident_name);

const char *name_match_str(enum name_match m);

/*
 * The folded form of a name for searching (users.name_fold, issue #17): NFKC, full case
 * folding, white space collapsed, diacritics dropped ("Anna Müller" -> "anna muller"); when
 * the German transliteration differs it follows after " | " ("anna muller | anna mueller").
 * NULL for NULL, empty or invalid UTF-8 (or out of memory); caller frees with free().
 */
char *name_fold(const char *name);
/* What a search text is compared with: the first part of name_fold only ("Müller" and
 * "MULLER" -> "muller", "Mueller" -> "mueller").  Caller frees; NULL as name_fold. */
char *name_fold_query(const char *text);

#endif
