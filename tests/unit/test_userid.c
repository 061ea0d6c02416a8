/*
 * test_userid.c - public user IDs (R3): form, alphabet without look-alikes, randomness.
 */
#include <criterion/criterion.h>
#include <string.h>

#include "ra/base/err.h"
#include "ra/base/userid.h"

Test(userid, r3_form_is_four_groups_of_crockford_base32)
{
	char id[USERID_MAX];

	for (int i = 0; i < 1000; i++) {
		cr_assert_eq(userid_generate(id, sizeof(id)), 0);
		cr_assert_eq(strlen(id), USERID_LEN);
		cr_assert(userid_valid(id), "%s", id);
		cr_assert_null(strpbrk(id, "ILOU"), "no look-alike letters: %s", id);
	}
	cr_expect_eq(userid_generate(id, USERID_LEN), RA_E_INVALID, "too small a buffer");
	cr_expect_eq(userid_generate(NULL, 64), RA_E_INVALID);
}

Test(userid, r3_ids_are_random_not_sequential)
{
	enum { N = 2000 };
	static char ids[N][USERID_MAX];
	int seen[32] = {0};

	for (int i = 0; i < N; i++) {
		cr_assert_eq(userid_generate(ids[i], sizeof(ids[i])), 0);
		for (int j = 0; j < i; j++)
			cr_assert_str_neq(ids[i], ids[j], "a repeated ID in %d draws", N);
		seen[strchr("0123456789ABCDEFGHJKMNPQRSTVWXYZ", ids[i][0]) -
		     "0123456789ABCDEFGHJKMNPQRSTVWXYZ"]++;
	}
	/* Every symbol turns up first: 2000 draws over 32 symbols, each expected 62 times. */
	for (int s = 0; s < 32; s++)
		cr_expect_gt(seen[s], 10, "symbol %d seen %d times", s, seen[s]);
}

Test(userid, validation_rejects_junk)
{
	cr_expect(userid_valid("7K3M-Q9ZD-1XWP-R4TB"));
	cr_expect_not(userid_valid("7k3m-q9zd-1xwp-r4tb"), "lower case");
	cr_expect_not(userid_valid("7K3M-Q9ZD-1XWP-R4TI"), "I is not in the alphabet");
	cr_expect_not(userid_valid("7K3MQ-9ZD-1XWP-R4TB"));
	cr_expect_not(userid_valid("7K3M-Q9ZD-1XWP-R4T"));
	cr_expect_not(userid_valid(""));
	cr_expect_not(userid_valid(NULL));
}
