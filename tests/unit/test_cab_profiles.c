/* test_cab_profiles.c - certificates issued by the local CA, parsed with OpenSSL and
 * checked field by field against the ETSI profiles: R1 (classes), R4 (variant 2 subject),
 * R5 (validity bounds).  Every check goes through the OpenSSL API, none through a shell. */
#include "ca-bridge/cab.h"
#include "tests/lib/ts_cab.h"
#include "tests/lib/ts_x509.h"

#include <criterion/criterion.h>
#include <openssl/objects.h>
#include <openssl/pem.h>
#include <openssl/x509v3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static struct ts_cab t;

static void setup(void)
{
	cr_assert_eq(ts_cab_setup(&t, 1), 0, "setup: %s", t.err.msg);
}

static void teardown(void)
{
	ts_cab_teardown(&t);
}

TestSuite(cab_profiles, .init = setup, .fini = teardown);

static X509 *issue(struct cab_request *req)
{
	struct cab_key k;
	struct cab_cert c;
	struct cab_err err;
	const unsigned char *p;
	X509 *x;

	cr_assert_eq(cab_keygen(t.cab, req->key_id, CAB_ALG_DEFAULT, &k, &err), 0, "%s", err.msg);
	cr_assert_eq(cab_issue(t.cab, req, &c, &err), 0, "%s (%s)", err.msg, err.field);
	/* the certificate carries the token key: its fingerprint is the one keygen reported */
	cr_expect_str_eq(c.spki_sha256_hex, k.sha256_hex);
	p = c.der;
	x = d2i_X509(NULL, &p, (long)c.der_len);
	cr_assert_not_null(x);
	cab_key_free(&k);
	cab_cert_free(&c);
	return x;
}

/* keyUsage: critical flag and bits. */
static int key_usage(X509 *x, int *critical)
{
	int i = X509_get_ext_by_NID(x, NID_key_usage, -1);

	cr_assert_geq(i, 0, "no keyUsage");
	*critical = X509_EXTENSION_get_critical(X509_get_ext(x, i));
	return (int)X509_get_key_usage(x);
}

/* ---- qcStatements walker (EN 319 412-5), with ASN1_get_object ---- */

struct qc {
	char ids[8][40];
	int n;
	char qctype[40];
	char pds_url[128];
	char pds_lang[8];
};

static const unsigned char *oid_at(const unsigned char *p, long max, char *out, size_t cap)
{
	ASN1_OBJECT *o = d2i_ASN1_OBJECT(NULL, &p, max);

	cr_assert_not_null(o);
	OBJ_obj2txt(out, (int)cap, o, 1);
	ASN1_OBJECT_free(o);
	return p;
}

static void enter(const unsigned char **p, long *len, long max, int want_tag)
{
	int tag, cls;

	cr_assert_eq(ASN1_get_object(p, len, &tag, &cls, max) & 0x80, 0);
	cr_assert_eq(tag, want_tag);
}

static void parse_qc(X509 *x, struct qc *qc)
{
	ASN1_OBJECT *qcoid = OBJ_txt2obj("1.3.6.1.5.5.7.1.3", 1);
	int i = X509_get_ext_by_OBJ(x, qcoid, -1);
	ASN1_OCTET_STRING *os;
	const unsigned char *p, *end, *st_end, *v;
	long len, l2;

	memset(qc, 0, sizeof(*qc));
	ASN1_OBJECT_free(qcoid);
	if (i < 0)
		return;
	cr_expect_eq(X509_EXTENSION_get_critical(X509_get_ext(x, i)), 0, "qcStatements must not be critical");
	os = X509_EXTENSION_get_data(X509_get_ext(x, i));
	p = ASN1_STRING_get0_data(os);
	enter(&p, &len, ASN1_STRING_length(os), V_ASN1_SEQUENCE);
	end = p + len;
	while (p < end && qc->n < 8) {
		enter(&p, &len, end - p, V_ASN1_SEQUENCE);
		st_end = p + len;
		v = oid_at(p, len, qc->ids[qc->n], sizeof(qc->ids[0]));
		if (strcmp(qc->ids[qc->n], "0.4.0.1862.1.6") == 0) {
			enter(&v, &l2, st_end - v, V_ASN1_SEQUENCE);
			oid_at(v, l2, qc->qctype, sizeof(qc->qctype));
		} else if (strcmp(qc->ids[qc->n], "0.4.0.1862.1.5") == 0) {
			enter(&v, &l2, st_end - v, V_ASN1_SEQUENCE); /* PdsLocations */
			enter(&v, &l2, st_end - v, V_ASN1_SEQUENCE); /* PdsLocation */
			enter(&v, &l2, st_end - v, V_ASN1_IA5STRING);
			snprintf(qc->pds_url, sizeof(qc->pds_url), "%.*s", (int)l2, (const char *)v);
			v += l2;
			enter(&v, &l2, st_end - v, V_ASN1_PRINTABLESTRING);
			snprintf(qc->pds_lang, sizeof(qc->pds_lang), "%.*s", (int)l2, (const char *)v);
		}
		qc->n++;
		p = st_end;
	}
}

/* R1, R5: the qualified profile, every field. */
Test(cab_profiles, r1_r5_qualified_has_exactly_the_etsi_fields)
{
	struct cab_request req;
	char pol[256];
	int crit, type, ku;
	struct qc qc;
	X509 *x;
	BASIC_CONSTRAINTS *bc;

	ts_cab_request(&req, "q-1", CAB_CLASS_QUALIFIED, "q-1");
	x = issue(&req);
	cr_expect_eq(X509_get_version(x), X509_VERSION_3);

	ts_policies(x, pol, sizeof(pol));
	cr_expect_str_eq(pol, "0.4.0.194112.1.2 " TS_CAB_POLICY);

	parse_qc(x, &qc);
	cr_assert_eq(qc.n, 4, "qcStatements: %d statements", qc.n);
	cr_expect_str_eq(qc.ids[0], "0.4.0.1862.1.1"); /* QcCompliance */
	cr_expect_str_eq(qc.ids[1], "0.4.0.1862.1.4"); /* QcSSCD */
	cr_expect_str_eq(qc.ids[2], "0.4.0.1862.1.6"); /* QcType */
	cr_expect_str_eq(qc.qctype, "0.4.0.1862.1.6.1"); /* esign */
	cr_expect_str_eq(qc.ids[3], "0.4.0.1862.1.5"); /* QcPDS */
	cr_expect_str_eq(qc.pds_url, TS_CAB_PDS);
	cr_expect_str_eq(qc.pds_lang, "en");

	ku = key_usage(x, &crit);
	cr_expect_eq(crit, 1, "keyUsage must be critical");
	cr_expect_eq(ku, KU_NON_REPUDIATION, "keyUsage 0x%x", ku);

	/* R5: default validity of a qualified certificate is 5 years */
	cr_expect(ts_years_days_ok(ts_validity_days(x), 5), "%d days", ts_validity_days(x));

	bc = X509_get_ext_d2i(x, NID_basic_constraints, &crit, NULL);
	cr_assert_not_null(bc);
	cr_expect_eq(bc->ca, 0);
	cr_expect_eq(crit, 1);
	BASIC_CONSTRAINTS_free(bc);
	cr_expect_not_null(X509_get0_subject_key_id(x));
	cr_expect_not_null(X509_get0_authority_key_id(x));

	STACK_OF(DIST_POINT) *cdp = X509_get_ext_d2i(x, NID_crl_distribution_points, NULL, NULL);
	cr_assert_not_null(cdp);
	GENERAL_NAME *gn = sk_GENERAL_NAME_value(sk_DIST_POINT_value(cdp, 0)->distpoint->name.fullname, 0);
	cr_expect_str_eq((const char *)ASN1_STRING_get0_data(gn->d.uniformResourceIdentifier),
			 TS_CAB_CRL_URL);
	sk_DIST_POINT_pop_free(cdp, DIST_POINT_free);

	/* subject: names as UTF8String, C and serialNumber PrintableString; no O/title in variant 1 */
	cr_expect_str_eq(ts_rdn(x, NID_givenName, &type), "Jürgen");
	cr_expect_eq(type, V_ASN1_UTF8STRING);
	cr_expect_str_eq(ts_rdn(x, NID_surname, &type), "Österreicher");
	cr_expect_eq(type, V_ASN1_UTF8STRING);
	cr_expect_str_eq(ts_rdn(x, NID_commonName, &type), "Jürgen Österreicher");
	cr_expect_eq(type, V_ASN1_UTF8STRING);
	cr_expect_str_eq(ts_rdn(x, NID_serialNumber, &type), "PNOAT-1234567890");
	cr_expect_eq(type, V_ASN1_PRINTABLESTRING);
	cr_expect_str_eq(ts_rdn(x, NID_countryName, &type), "AT");
	cr_expect_eq(type, V_ASN1_PRINTABLESTRING);
	cr_expect_str_eq(ts_rdn(x, NID_organizationName, &type), "");
	cr_expect_str_eq(ts_rdn(x, NID_title, &type), "");
	X509_free(x);
}

/* R1: advanced with NCP+ (the default): no QC statements, nonRepudiation, 10 years. */
Test(cab_profiles, r1_r5_advanced_ncp_plus_without_qc_statements)
{
	struct cab_request req;
	char pol[256];
	int crit, ku;
	struct qc qc;
	X509 *x;

	ts_cab_request(&req, "a-1", CAB_CLASS_ADVANCED, "a-1");
	x = issue(&req);
	ts_policies(x, pol, sizeof(pol));
	cr_expect_str_eq(pol, "0.4.0.2042.1.2 " TS_CAB_POLICY);
	parse_qc(x, &qc);
	cr_expect_eq(qc.n, 0, "an advanced certificate must carry no QC statements");
	ku = key_usage(x, &crit);
	cr_expect_eq(crit, 1);
	cr_expect_eq(ku, KU_NON_REPUDIATION);
	cr_expect(ts_years_days_ok(ts_validity_days(x), 10), "%d days", ts_validity_days(x));
	X509_free(x);
}

/* R1: NCP by configuration, and digitalSignature added by configuration. */
Test(cab_profiles, r1_advanced_ncp_and_digital_signature_by_config)
{
	struct cab_request req;
	char pol[256];
	int crit, ku;
	X509 *x;

	t.cfg.advanced_ncp_plus = 0;
	t.cfg.advanced_digital_signature = 1;
	cr_assert_eq(ts_cab_reopen(&t), 0, "%s", t.err.msg);
	ts_cab_request(&req, "a-2", CAB_CLASS_ADVANCED, "a-2");
	req.validity_years = 3;
	x = issue(&req);
	ts_policies(x, pol, sizeof(pol));
	cr_expect_str_eq(pol, "0.4.0.2042.1.1 " TS_CAB_POLICY);
	ku = key_usage(x, &crit);
	cr_expect_eq(ku, KU_NON_REPUDIATION | KU_DIGITAL_SIGNATURE);
	cr_expect(ts_years_days_ok(ts_validity_days(x), 3), "%d days", ts_validity_days(x));
	X509_free(x);
}

/* R4: variant 2 carries O, title and organizationIdentifier in the subject. */
Test(cab_profiles, r4_variant2_subject_has_organisation_title_and_identifier)
{
	struct cab_request req;
	int type;
	X509 *x;

	ts_cab_request(&req, "v2-1", CAB_CLASS_QUALIFIED, "v2-1");
	req.subject.organization = "Muster & Söhne GmbH";
	req.subject.organization_identifier = "VATAT-U12345678";
	req.subject.title = "Geschäftsführer";
	x = issue(&req);
	cr_expect_str_eq(ts_rdn(x, NID_organizationName, &type), "Muster & Söhne GmbH");
	cr_expect_eq(type, V_ASN1_UTF8STRING);
	cr_expect_str_eq(ts_rdn(x, NID_title, &type), "Geschäftsführer");
	cr_expect_eq(type, V_ASN1_UTF8STRING);
	cr_expect_str_eq(ts_rdn(x, NID_organizationIdentifier, &type), "VATAT-U12345678");
	cr_expect_str_eq(ts_rdn(x, NID_givenName, &type), "Jürgen");
	X509_free(x);
}

/* R4: an organisation without a function (or the reverse) is neither variant: refused. */
Test(cab_profiles, r4_organisation_without_title_refused)
{
	struct cab_request req;
	struct cab_cert c;
	struct cab_err err;

	ts_cab_request(&req, "v2-bad", CAB_CLASS_ADVANCED, "v2-bad");
	req.subject.organization = "Muster GmbH";
	cr_expect_eq(cab_issue(t.cab, &req, &c, &err), CAB_E_PROFILE);
	cr_expect_str_eq(err.field, "subject.title");
}

/* R5: a qualified certificate of 6 years is refused, not shortened. */
Test(cab_profiles, r5_qualified_six_years_refused)
{
	struct cab_request req;
	struct cab_cert c;
	struct cab_err err;
	struct cab_key k;

	cr_assert_eq(cab_keygen(t.cab, "q-6y", CAB_ALG_DEFAULT, &k, &err), 0, "%s", err.msg);
	cab_key_free(&k);
	ts_cab_request(&req, "q-6y", CAB_CLASS_QUALIFIED, "q-6y");
	req.validity_years = 6;
	cr_expect_eq(cab_issue(t.cab, &req, &c, &err), CAB_E_PROFILE);
	cr_expect_str_eq(err.field, "validity_years");
	/* and nothing was issued for it: the same request within bounds still works */
	req.validity_years = 5;
	cr_expect_eq(cab_issue(t.cab, &req, &c, &err), 0, "%s", err.msg);
	cab_cert_free(&c);
}

/* R5: advanced may be valid 10 years, not 11. */
Test(cab_profiles, r5_advanced_eleven_years_refused)
{
	struct cab_request req;
	struct cab_cert c;
	struct cab_err err;

	ts_cab_request(&req, "a-11y", CAB_CLASS_ADVANCED, "a-11y");
	req.validity_years = 11;
	cr_expect_eq(cab_issue(t.cab, &req, &c, &err), CAB_E_PROFILE);
	cr_expect_str_eq(err.field, "validity_years");
}

Test(cab_profiles, missing_subject_field_and_unknown_class_refused_by_name)
{
	struct cab_request req;
	struct cab_cert c;
	struct cab_err err;
	enum cab_class cls;

	ts_cab_request(&req, "m-1", CAB_CLASS_QUALIFIED, "m-1");
	req.subject.serial_number = NULL;
	cr_expect_eq(cab_issue(t.cab, &req, &c, &err), CAB_E_PROFILE);
	cr_expect_str_eq(err.field, "subject.serial_number");

	ts_cab_request(&req, "m-2", CAB_CLASS_QUALIFIED, "m-2");
	req.subject.country = "Austria";
	cr_expect_eq(cab_issue(t.cab, &req, &c, &err), CAB_E_PROFILE);
	cr_expect_str_eq(err.field, "subject.country");

	ts_cab_request(&req, "m-3", (enum cab_class)42, "m-3");
	cr_expect_eq(cab_issue(t.cab, &req, &c, &err), CAB_E_PROFILE);
	cr_expect_str_eq(err.field, "class");
	cr_expect_eq(cab_class_parse("premium", &cls, &err), CAB_E_PROFILE);
	cr_expect_eq(cab_class_parse("qualified", &cls, &err), 0);
	cr_expect_eq(cls, CAB_CLASS_QUALIFIED);
}

/* R1: an organisation seal: the subject is the organisation, advanced-like policies. */
Test(cab_profiles, r1_seal_subject_is_the_organisation)
{
	struct cab_request req;
	struct cab_cert c;
	struct cab_err err;
	char pol[256];
	int type;
	X509 *x;

	memset(&req, 0, sizeof(req));
	req.request_id = "seal-1";
	req.key_id = "seal-1";
	req.cls = CAB_CLASS_SEAL;
	req.subject.country = "AT";
	req.subject.organization = "Muster GmbH";
	req.subject.organization_identifier = "VATAT-U12345678";
	req.subject.common_name = "Muster GmbH Rechnungssiegel";
	x = issue(&req);
	ts_policies(x, pol, sizeof(pol));
	cr_expect_str_eq(pol, "0.4.0.2042.1.2 " TS_CAB_POLICY);
	cr_expect_str_eq(ts_rdn(x, NID_organizationIdentifier, &type), "VATAT-U12345678");
	cr_expect_str_eq(ts_rdn(x, NID_givenName, &type), "");
	X509_free(x);
	/* a person's name has no place in a seal */
	req.request_id = "seal-2";
	req.subject.given_name = "Jürgen";
	cr_expect_eq(cab_issue(t.cab, &req, &c, &err), CAB_E_PROFILE);
	cr_expect_str_eq(err.field, "subject.given_name");
}

/* The issued certificate verifies against the CA's chain (openssl verify, via the API). */
Test(cab_profiles, issued_certificate_verifies_against_chain)
{
	struct cab_request req;
	struct cab_err err;
	char *pem = NULL;
	X509 *x, *ca;
	BIO *bio;
	X509_STORE *store = X509_STORE_new();
	X509_STORE_CTX *ctx = X509_STORE_CTX_new();

	ts_cab_request(&req, "chain-1", CAB_CLASS_QUALIFIED, "chain-1");
	x = issue(&req);
	cr_assert_eq(cab_chain_pem(t.cab, &pem, &err), 0, "%s", err.msg);
	bio = BIO_new_mem_buf(pem, -1);
	ca = PEM_read_bio_X509(bio, NULL, NULL, NULL);
	cr_assert_not_null(ca);
	X509_STORE_add_cert(store, ca);
	X509_STORE_CTX_init(ctx, store, x, NULL);
	cr_expect_eq(X509_verify_cert(ctx), 1, "%s",
		     X509_verify_cert_error_string(X509_STORE_CTX_get_error(ctx)));
	X509_STORE_CTX_free(ctx);
	X509_STORE_free(store);
	X509_free(ca);
	X509_free(x);
	BIO_free(bio);
	free(pem);
}

/* A CSR made elsewhere: verified, and its subject replaced by the RA's verified one. */
Test(cab_profiles, external_csr_is_verified_and_issued)
{
	struct cab_request req;
	struct cab_key k;
	struct cab_cert c;
	struct cab_err err;
	unsigned char *csr = NULL;
	size_t len = 0;

	cr_assert_eq(cab_keygen(t.cab, "ext-1", CAB_ALG_DEFAULT, &k, &err), 0, "%s", err.msg);
	ts_cab_request(&req, "ext-1", CAB_CLASS_ADVANCED, NULL);
	cr_assert_eq(cab_csr(t.cab, "ext-1", &req.subject, &csr, &len, &err), 0, "%s", err.msg);
	req.csr_der = csr;
	req.csr_len = len;
	cr_assert_eq(cab_issue(t.cab, &req, &c, &err), 0, "%s", err.msg);
	cr_expect_str_eq(c.spki_sha256_hex, k.sha256_hex);
	cab_cert_free(&c);
	/* a CSR whose signature is broken is refused */
	csr[len - 1] ^= 0x01;
	req.request_id = "ext-2";
	cr_expect_eq(cab_issue(t.cab, &req, &c, &err), CAB_E_INVALID);
	cr_expect_str_eq(err.field, "csr");
	free(csr);
	cab_key_free(&k);
}

/* An outside CSR whose key is in a form OpenSSL's decoder accepts but does not write (an RSA
 * key without its NULL parameters): the certificate would carry those bytes as they are and
 * a fingerprint that is not the key's (R2), so it is refused by name.  The same key in its
 * own DER form is issued. */
static unsigned char *rsa_csr(EVP_PKEY *key, const struct cab_subject *s, int drop_null, size_t *len)
{
	X509_REQ *r = X509_REQ_new();
	X509_NAME *n = X509_NAME_new();
	X509_ALGOR *palg = NULL;
	unsigned char *der = NULL, *out;
	int k;

	cr_assert(X509_NAME_add_entry_by_txt(n, "CN", MBSTRING_UTF8, (const unsigned char *)s->common_name,
					     -1, -1, 0));
	cr_assert(X509_REQ_set_subject_name(r, n));
	cr_assert(X509_REQ_set_pubkey(r, key));
	if (drop_null) {
		cr_assert(X509_PUBKEY_get0_param(NULL, NULL, NULL, &palg, X509_REQ_get_X509_PUBKEY(r)));
		cr_assert(X509_ALGOR_set0(palg, OBJ_nid2obj(NID_rsaEncryption), V_ASN1_UNDEF, NULL));
	}
	cr_assert_gt(X509_REQ_sign(r, key, EVP_sha256()), 0);
	k = i2d_X509_REQ(r, &der);
	cr_assert_gt(k, 0);
	out = malloc((size_t)k);
	memcpy(out, der, (size_t)k);
	*len = (size_t)k;
	OPENSSL_free(der);
	X509_NAME_free(n);
	X509_REQ_free(r);
	return out;
}

Test(cab_profiles, r2_external_csr_with_a_non_canonical_key_is_refused)
{
	struct cab_request req;
	struct cab_cert c;
	struct cab_err err;
	EVP_PKEY *key = EVP_PKEY_Q_keygen(NULL, NULL, "RSA", (size_t)3072);
	unsigned char *csr;
	size_t len = 0;

	cr_assert_not_null(key);
	ts_cab_request(&req, "ext-rsa-1", CAB_CLASS_ADVANCED, NULL);
	csr = rsa_csr(key, &req.subject, 1, &len);
	req.csr_der = csr;
	req.csr_len = len;
	cr_expect_eq(cab_issue(t.cab, &req, &c, &err), CAB_E_INVALID, "%s", err.msg);
	cr_expect_str_eq(err.field, "csr");
	cr_expect(strstr(err.msg, "canonical") != NULL, "%s", err.msg);
	free(csr);
	csr = rsa_csr(key, &req.subject, 0, &len);
	req.csr_der = csr;
	req.csr_len = len;
	req.request_id = "ext-rsa-2";
	cr_assert_eq(cab_issue(t.cab, &req, &c, &err), 0, "%s", err.msg);
	cab_cert_free(&c);
	free(csr);
	EVP_PKEY_free(key);
}
