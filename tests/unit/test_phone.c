/* test_phone.c - unit tests for ra/phone.h: E.164 normalisation of mobile numbers (R3). */
#include "ra/base/phone.h"

#include <criterion/criterion.h>
#include <string.h>

static int norm(const char *in, char out[PHONE_E164_MAX], struct phone_err *err)
{
	memset(err, 0, sizeof(*err));
	return phone_normalize(in, "AT", out, PHONE_E164_MAX, err);
}

/* R3: one user, one mobile number, whichever way the customer writes it. */
Test(phone, r3_austrian_notations_give_one_e164)
{
	static const char *const forms[] = {
		"+43 664 1234567", "0043 664 1234567", "0043664 1234567",
		"0664 1234567",    "0664/1234567",     "+43 (0) 664 123 45 67",
	};
	char first[PHONE_E164_MAX], out[PHONE_E164_MAX];
	struct phone_err err;

	cr_assert_eq(norm(forms[0], first, &err), 0, "%s: %s", forms[0], err.msg);
	cr_assert_str_eq(first, "+436641234567");
	for (size_t i = 1; i < sizeof(forms) / sizeof(forms[0]); i++) {
		cr_assert_eq(norm(forms[i], out, &err), 0, "%s: %s", forms[i], err.msg);
		cr_expect_str_eq(out, first, "%s", forms[i]);
	}
}

Test(phone, r3_default_country_only_applies_without_country_code)
{
	char out[PHONE_E164_MAX];
	struct phone_err err;

	/* A German mobile written internationally stays German under default AT. */
	cr_assert_eq(norm("+49 151 23456789", out, &err), 0, "%s", err.msg);
	cr_expect_str_eq(out, "+4915123456789");
	/* The same national digits under default DE. */
	cr_assert_eq(phone_normalize("0151 23456789", "DE", out, sizeof(out), &err), 0);
	cr_expect_str_eq(out, "+4915123456789");
}

/* R3: the user is identified by a mobile number; a Vienna landline is no such number. */
Test(phone, r3_vienna_landline_is_refused_as_not_mobile)
{
	char out[PHONE_E164_MAX];
	struct phone_err err;

	cr_expect_eq(norm("+43 1 5123456", out, &err), PHONE_E_NOT_MOBILE);
	cr_expect_eq(err.code, PHONE_E_NOT_MOBILE);
	cr_expect_str_eq(err.field, "phone");
	cr_expect_eq(norm("01 5123456", out, &err), PHONE_E_NOT_MOBILE);
}

Test(phone, r3_garbage_is_refused_as_unparsable)
{
	static const char *const junk[] = {"", "hello", "++", "-", "x"};
	char out[PHONE_E164_MAX];
	struct phone_err err;

	for (size_t i = 0; i < sizeof(junk) / sizeof(junk[0]); i++)
		cr_expect_eq(norm(junk[i], out, &err), PHONE_E_PARSE, "'%s'", junk[i]);
}

Test(phone, r3_wrong_length_mobile_is_invalid)
{
	char out[PHONE_E164_MAX];
	struct phone_err err;

	/* Austrian mobile ranges need at least 7 subscriber digits after 664; 3 is too few. */
	cr_expect_eq(norm("0664 123", out, &err), PHONE_E_INVALID);
	/* A country code that does not exist. */
	cr_expect_lt(norm("+999 1234567", out, &err), 0);
}

Test(phone, r3_extension_is_refused)
{
	char out[PHONE_E164_MAX];
	struct phone_err err;

	cr_expect_eq(norm("+43 664 1234567 ext. 12", out, &err), PHONE_E_INVALID);
}

Test(phone, bad_arguments_are_refused)
{
	char small[8], out[PHONE_E164_MAX];
	struct phone_err err;

	cr_expect_eq(phone_normalize("+43 664 1234567", "AT", small, sizeof(small), &err), PHONE_E_ARG);
	cr_expect_eq(phone_normalize("+43 664 1234567", "XX", out, sizeof(out), &err), PHONE_E_ARG);
	cr_expect_eq(phone_normalize("+43 664 1234567", NULL, out, sizeof(out), &err), PHONE_E_ARG);
	cr_expect_eq(phone_normalize(NULL, "AT", out, sizeof(out), NULL), PHONE_E_ARG);
	cr_expect_str_eq(phone_strerror(PHONE_E_NOT_MOBILE), "not a mobile number");
}
