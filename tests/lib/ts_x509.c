/* ts_x509.c - certificate and CRL inspection for tests; see ts_x509.h. */
#include "tests/lib/ts_x509.h"

#include <criterion/criterion.h>
#include <openssl/pem.h>
#include <openssl/x509v3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void ts_policies(X509 *x, char *out, size_t cap)
{
	CERTIFICATEPOLICIES *pol = X509_get_ext_d2i(x, NID_certificate_policies, NULL, NULL);
	char oid[80];

	out[0] = '\0';
	cr_assert_not_null(pol, "no certificatePolicies");
	for (int i = 0; i < sk_POLICYINFO_num(pol); i++) {
		OBJ_obj2txt(oid, sizeof(oid), sk_POLICYINFO_value(pol, i)->policyid, 1);
		snprintf(out + strlen(out), cap - strlen(out), "%s%s", i ? " " : "", oid);
	}
	CERTIFICATEPOLICIES_free(pol);
}

int ts_validity_days(X509 *x)
{
	int days = 0, secs = 0;

	cr_assert(ASN1_TIME_diff(&days, &secs, X509_get0_notBefore(x), X509_get0_notAfter(x)));
	return days;
}

int ts_years_days_ok(int days, int years)
{
	/* calendar years: 365 per year plus the leap days in between */
	return days >= 365 * years && days <= 365 * years + (years + 3) / 4;
}

const char *ts_rdn(X509 *x, int nid, int *type)
{
	static char buf[256];
	X509_NAME *n = X509_get_subject_name(x);
	int i = X509_NAME_get_index_by_NID(n, nid, -1);
	ASN1_STRING *s;

	*type = -1;
	if (i < 0)
		return "";
	s = X509_NAME_ENTRY_get_data(X509_NAME_get_entry(n, i));
	*type = ASN1_STRING_type(s);
	snprintf(buf, sizeof(buf), "%.*s", ASN1_STRING_length(s), (const char *)ASN1_STRING_get0_data(s));
	return buf;
}

X509 *ts_chain_ca(struct cab *cab)
{
	char *pem = NULL;
	struct cab_err err;
	BIO *bio;
	X509 *ca;

	cr_assert_eq(cab_chain_pem(cab, &pem, &err), 0, "%s", err.msg);
	bio = BIO_new_mem_buf(pem, -1);
	ca = PEM_read_bio_X509(bio, NULL, NULL, NULL);
	BIO_free(bio);
	free(pem);
	cr_assert_not_null(ca, "cab_chain_pem gave no certificate");
	return ca;
}

X509_CRL *ts_crl(struct cab *cab)
{
	unsigned char *der = NULL;
	const unsigned char *p;
	size_t len = 0;
	struct cab_err err;
	X509_CRL *crl;

	cr_assert_eq(cab_crl(cab, &der, &len, &err), 0, "%s", err.msg);
	p = der;
	crl = d2i_X509_CRL(NULL, &p, (long)len);
	cr_assert_not_null(crl, "the CRL does not parse");
	cr_assert_eq(p, der + len, "trailing bytes after the CRL");
	free(der);
	return crl;
}

X509 *ts_cert_of(const struct cab_cert *c)
{
	const unsigned char *p = c->der;
	X509 *x = d2i_X509(NULL, &p, (long)c->der_len);

	cr_assert_not_null(x, "issued certificate does not parse");
	return x;
}
