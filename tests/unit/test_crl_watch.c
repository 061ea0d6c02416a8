/*
 * test_crl_watch.c - the comparison behind ra_revocations_missing_from_crl (R14,
 * ra/flows/cert/crl_watch.c): a revoked certificate's serial as the database keeps it
 * (cab_serial_canon: uppercase, no leading zeros) is found on a CRL whatever the octet padding
 * of BN_bn2hex; what the CRL does not list is counted, with the age of the oldest.
 *
 * The bug this pins: the CRL's side was compared as BN_bn2hex printed it ("0A1B2C"), the
 * database's without its leading zero ("A1B2C"), so one revocation in sixteen (a serial whose
 * first hex digit is 0) was reported missing from a CRL that listed it, for good: the alert
 * RARevocationNotOnCRL fired on a healthy CA, and tests/e2e/test_ops.sh failed at random.
 */
#include <criterion/criterion.h>
#include <openssl/bn.h>
#include <openssl/x509.h>

#include "ra/flows/cert/crl_watch.h"

/* A CRL listing the given serials (hex), unsigned: the comparison reads only the entries. */
static X509_CRL *crl_of(const char *const *hex, int n)
{
	X509_CRL *crl = X509_CRL_new();

	cr_assert_not_null(crl);
	for (int i = 0; i < n; i++) {
		X509_REVOKED *r = X509_REVOKED_new();
		BIGNUM *bn = NULL;
		ASN1_INTEGER *serial;
		ASN1_TIME *t = ASN1_TIME_set(NULL, 1700000000);

		cr_assert(BN_hex2bn(&bn, hex[i]) > 0);
		serial = BN_to_ASN1_INTEGER(bn, NULL);
		cr_assert(X509_REVOKED_set_serialNumber(r, serial) && X509_REVOKED_set_revocationDate(r, t));
		cr_assert(X509_CRL_add0_revoked(crl, r));
		ASN1_INTEGER_free(serial);
		ASN1_TIME_free(t);
		BN_free(bn);
	}
	return crl;
}

Test(crl_watch, r14_a_serial_with_a_leading_zero_digit_is_found_on_the_crl)
{
	/* 0x0A1B2C: BN_bn2hex prints "0A1B2C"; the database holds "A1B2C" */
	const char *listed[] = {"0A1B2C", "7F00FF", "00000000000000000000000000000001"};
	X509_CRL *crl = crl_of(listed, 3);
	char *db[] = {"A1B2C", "7F00FF", "1"};
	double at[] = {1000, 1000, 1000}, oldest = -1;

	cr_expect_eq(crl_watch_missing(crl, db, at, 3, 2000, &oldest), 0, "every listed serial is found");
	cr_expect_eq(oldest, 0);
	{
		char *other_forms[] = {"0a1b2c", "00A1B2C", "7f00ff"};
		cr_expect_eq(crl_watch_missing(crl, other_forms, at, 3, 2000, &oldest), 0,
			     "case and leading zeros do not matter");
	}
	X509_CRL_free(crl);
}

Test(crl_watch, r14_what_the_crl_lacks_is_counted_with_the_oldest_age)
{
	const char *listed[] = {"0A1B2C"};
	X509_CRL *crl = crl_of(listed, 1);
	char *db[] = {"A1B2C", "B00", "A1B2C0", "not hex"};
	double at[] = {100, 1400, 1900, 1950}, oldest = -1;

	/* "B00" and "A1B2C0" are not on it (a prefix is not the serial), nor is a malformed one */
	cr_expect_eq(crl_watch_missing(crl, db, at, 4, 2000, &oldest), 3);
	cr_expect_eq(oldest, 600, "the oldest missing revocation waited 600 s, got %.0f", oldest);
	cr_expect_eq(crl_watch_missing(crl, db, at, 0, 2000, &oldest), 0, "nothing revoked, nothing missing");
	cr_expect_eq(oldest, 0);
	X509_CRL_free(crl);
	crl = crl_of(NULL, 0);
	cr_expect_eq(crl_watch_missing(crl, db, at, 2, 2000, &oldest), 2, "an empty CRL lists nothing");
	cr_expect_eq(oldest, 1900);
	X509_CRL_free(crl);
}
