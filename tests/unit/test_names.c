/* test_names.c - unit tests for ra/names.h: order name vs identified name (R7). */
#include "ra/base/names.h"

#include <criterion/criterion.h>
#include <stdlib.h>
#include <string.h>

/* The comparison must not depend on which side is the order. */
static enum name_match both(const char *a, const char *b)
{
	enum name_match ab = name_compare(a, b), ba = name_compare(b, a);

	cr_assert_eq(ab, ba, "'%s' vs '%s' not symmetric", a, b);
	return ab;
}

Test(names, r7_case_differences_are_exact)
{
	cr_expect_eq(both("MÜLLER", "Müller"), NAME_EXACT);
	cr_expect_eq(both("ANNA", "Anna"), NAME_EXACT);
	cr_expect_eq(both("GRUBER", "gruber"), NAME_EXACT);
	cr_expect_eq(both("ÉLODIE", "élodie"), NAME_EXACT);
}

Test(names, r7_composed_and_decomposed_forms_are_exact)
{
	/* "Müller" with U+00FC vs "Mu" + U+0308 COMBINING DIAERESIS. */
	cr_expect_eq(both("M\xC3\xBCller", "Mu\xCC\x88ller"), NAME_EXACT);
	cr_expect_eq(both("MU\xCC\x88LLER", "m\xC3\xBCller"), NAME_EXACT);
}

Test(names, r7_compatibility_forms_are_exact_after_nfkc)
{
	/* Fullwidth letters (U+FF21 block) as some input methods produce them. */
	cr_expect_eq(both("\xEF\xBC\xA1nna", "Anna"), NAME_EXACT);
}

Test(names, r7_white_space_is_trimmed_and_collapsed)
{
	cr_expect_eq(both("  Anna   Maria ", "ANNA MARIA"), NAME_EXACT);
	cr_expect_eq(both("Anna\tMaria", "Anna Maria"), NAME_EXACT);
	/* NO-BREAK SPACE counts as white space. */
	cr_expect_eq(both("Anna\xC2\xA0Maria", "Anna Maria"), NAME_EXACT);
	/* but white space inside a word is not removed */
	cr_expect_eq(both("Anna Maria", "AnnaMaria"), NAME_MISMATCH);
}

Test(names, r7_sharp_s_equals_ss_by_unicode_case_folding)
{
	/* Full case folding maps ß and capital ẞ (U+1E9E) to "ss", as passports print it. */
	cr_expect_eq(both("Strauß", "STRAUSS"), NAME_EXACT);
	cr_expect_eq(both("STRAU\xE1\xBA\x9E", "Strauss"), NAME_EXACT);
}

Test(names, r7_umlaut_transliteration_needs_review)
{
	cr_expect_eq(both("Müller", "MUELLER"), NAME_NEEDS_REVIEW);
	cr_expect_eq(both("Jörg Bäcker", "JOERG BAECKER"), NAME_NEEDS_REVIEW);
	cr_expect_eq(both("Mu\xCC\x88ller", "Mueller"), NAME_NEEDS_REVIEW);
}

Test(names, r7_dropped_diacritics_need_review)
{
	cr_expect_eq(both("Müller", "MULLER"), NAME_NEEDS_REVIEW);
	cr_expect_eq(both("José", "JOSE"), NAME_NEEDS_REVIEW);
	cr_expect_eq(both("Dvořák", "Dvorak"), NAME_NEEDS_REVIEW);
}

Test(names, r7_different_names_mismatch)
{
	cr_expect_eq(both("Gruber", "Huber"), NAME_MISMATCH);
	/* ue and u are different letters unless one side really has the umlaut */
	cr_expect_eq(both("Mueller", "Muller"), NAME_MISMATCH);
	/* the data-changed fixture: the agent saw a double name */
	cr_expect_eq(both("Gruber", "GRUBER-NOVAK"), NAME_MISMATCH);
	cr_expect_eq(both("Anna", "Anna Maria"), NAME_MISMATCH);
}

Test(names, r7_uncomparable_input_is_a_mismatch)
{
	cr_expect_eq(name_compare(NULL, "Anna"), NAME_MISMATCH);
	cr_expect_eq(name_compare("Anna", NULL), NAME_MISMATCH);
	cr_expect_eq(both("", ""), NAME_MISMATCH);
	cr_expect_eq(both("   ", " "), NAME_MISMATCH);
	/* invalid UTF-8 (a lone Latin-1 ü byte) is never equal, even to itself */
	cr_expect_eq(both("M\xFCller", "M\xFCller"), NAME_MISMATCH);
	cr_expect_str_eq(name_match_str(NAME_NEEDS_REVIEW), "needs_review");
}

/* issue #17: the search key; case and accents never matter, both German spellings are kept */
static void fold_is(const char *in, const char *want)
{
	char *f = name_fold(in);
	cr_assert_not_null(f, "%s", in);
	cr_expect_str_eq(f, want, "%s", in);
	free(f);
}

Test(names, fold_drops_case_and_accents)
{
	fold_is("Anna  Berger ", "anna berger");
	fold_is("ÉLODIE Çelik", "elodie celik");
	fold_is("Anna Müller", "anna muller | anna mueller");
	fold_is("STRAUSS", "strauss");
	fold_is("Strauß", "strauss");
}

Test(names, fold_refuses_what_is_not_a_name)
{
	cr_expect_null(name_fold(NULL));
	cr_expect_null(name_fold("  "));
	cr_expect_null(name_fold("\xff\xfe"));
}

Test(names, fold_query_matches_the_folded_name)
{
	char *q1 = name_fold_query("MÜLLER"), *q2 = name_fold_query("Mueller"), *f = name_fold("Hans Müller");
	cr_assert(q1 && q2 && f);
	cr_expect(strstr(f, q1) != NULL, "%s in %s", q1, f);
	cr_expect(strstr(f, q2) != NULL, "%s in %s", q2, f);
	free(q1);
	free(q2);
	free(f);
}
