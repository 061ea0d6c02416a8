/*
 * test_csc_cred.c - unit tests for ra/flows/signing/csc_cred.h: a certificate as a CSC API
 * v2.0 credential.  The certificates are made here with OpenSSL (a CA and an end-entity
 * certificate with O and title, variant 2), so every field can be checked against what went in:
 * the description names organisation and function (R4), the key is enabled only for an
 * active certificate of an active user (R13, R20), revoked and expired show at once (R14),
 * SCAL and the OTP follow the class and the user's factor (R1, R9, R10).
 */
#include "ra/flows/signing/csc_cred.h"

#include <criterion/criterion.h>
#include <openssl/bn.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <stdlib.h>
#include <string.h>

static char *ca_pem, *ee_pem;

static X509_NAME *name(const char *cn, const char *o, const char *title)
{
	X509_NAME *n = X509_NAME_new();

	X509_NAME_add_entry_by_txt(n, "C", MBSTRING_UTF8, (const unsigned char *)"AT", -1, -1, 0);
	if (o)
		X509_NAME_add_entry_by_txt(n, "O", MBSTRING_UTF8, (const unsigned char *)o, -1, -1, 0);
	if (title)
		X509_NAME_add_entry_by_txt(n, "title", MBSTRING_UTF8, (const unsigned char *)title, -1, -1,
					   0);
	X509_NAME_add_entry_by_txt(n, "CN", MBSTRING_UTF8, (const unsigned char *)cn, -1, -1, 0);
	return n;
}

static X509 *make(EVP_PKEY *key, EVP_PKEY *signer, X509_NAME *subj, X509_NAME *issuer, long serial)
{
	X509 *x = X509_new();

	X509_set_version(x, 2);
	ASN1_INTEGER_set(X509_get_serialNumber(x), serial);
	X509_set_subject_name(x, subj);
	X509_set_issuer_name(x, issuer);
	X509_gmtime_adj(X509_getm_notBefore(x), 0);
	X509_gmtime_adj(X509_getm_notAfter(x), 3600L * 24 * 365);
	X509_set_pubkey(x, key);
	cr_assert(X509_sign(x, signer, EVP_sha256()) > 0);
	return x;
}

static char *pem_of(X509 *x)
{
	BIO *b = BIO_new(BIO_s_mem());
	char *p, *out;
	long n;

	PEM_write_bio_X509(b, x);
	n = BIO_get_mem_data(b, &p);
	out = strndup(p, (size_t)n);
	BIO_free(b);
	return out;
}

static void setup(void)
{
	EVP_PKEY *ca_key = EVP_EC_gen("P-256"), *ee_key = EVP_EC_gen("P-256");
	X509_NAME *ca_name = name("RA Test CA", "RA Test", NULL);
	X509_NAME *ee_name = name("Anna Gruber", "Gruber Bau GmbH", "Geschäftsführerin");
	X509 *ca = make(ca_key, ca_key, ca_name, ca_name, 1);
	X509 *ee = make(ee_key, ca_key, ee_name, ca_name, 0x4711abcdL);

	ca_pem = pem_of(ca);
	ee_pem = pem_of(ee);
	X509_free(ca);
	X509_free(ee);
	X509_NAME_free(ca_name);
	X509_NAME_free(ee_name);
	EVP_PKEY_free(ca_key);
	EVP_PKEY_free(ee_key);
}

static void teardown(void)
{
	free(ca_pem);
	free(ee_pem);
}

TestSuite(csc_cred, .init = setup, .fini = teardown);

static const char *SUBJECT_V2 =
	"{\"country\": \"AT\", \"common_name\": \"Anna Gruber\","
	" \"organization\": \"Gruber Bau GmbH\", \"title\": \"Geschäftsführerin\"}";

static struct csc_row row(const char *cls, const char *state, const char *user_state)
{
	struct csc_row r = {"crt-1", cls, state, user_state, SUBJECT_V2, ee_pem, 0};
	return r;
}

static json_t *build(const struct csc_row *r, enum csc_certs certs, int cert_info, int auth_info)
{
	struct csc_opts o = {certs, cert_info, auth_info};
	struct ra_err e = {0};
	json_t *j = csc_credential(r, &o, ca_pem, 0, &e);

	cr_assert_not_null(j, "%s", e.msg);
	return j;
}

static const char *str(const json_t *j, const char *path)
{
	char buf[128], *save = NULL;
	const json_t *v = j;

	snprintf(buf, sizeof(buf), "%s", path);
	for (char *k = strtok_r(buf, "/", &save); k && v; k = strtok_r(NULL, "/", &save))
		v = json_object_get(v, k);
	return json_string_value(v);
}

Test(csc_cred, r4_description_names_function_and_organisation)
{
	struct csc_row r = row("qualified", "active", "active_sms");
	json_t *j = build(&r, CSC_CERTS_NONE, 0, 0);

	cr_expect_str_eq(str(j, "description"),
			 "Qualified electronic signature: Geschäftsführerin, Gruber Bau GmbH");
	cr_expect_null(json_object_get(j, "credentialID"), "credentials/info has no credentialID");
	json_decref(j);
	r.subject = "{\"common_name\": \"Anna Gruber\"}";
	j = build(&r, CSC_CERTS_NONE, 0, 0);
	cr_expect_str_eq(str(j, "description"), "Qualified electronic signature: Anna Gruber",
			 "variant 1: the holder");
	json_decref(j);
}

Test(csc_cred, cert_info_fields_as_the_specification_writes_them)
{
	struct csc_row r = row("qualified", "active", "active_sms");
	json_t *j = build(&r, CSC_CERTS_CHAIN, 1, 0),
	       *certs = json_object_get(json_object_get(j, "cert"), "certificates");
	const char *from = str(j, "cert/validFrom");

	cr_expect_str_eq(str(j, "cert/status"), "valid");
	cr_expect_str_eq(str(j, "cert/serialNumber"), "4711ABCD", "hex-encoded serial");
	cr_expect_str_eq(str(j, "cert/issuerDN"), "CN=RA Test CA,O=RA Test,C=AT", "RFC 4514");
	cr_expect_str_eq(str(j, "cert/subjectDN"),
			 "CN=Anna Gruber,title=Geschäftsführerin,O=Gruber Bau GmbH,C=AT",
			 "RFC 4514, UTF-8 kept");
	cr_assert_not_null(from);
	cr_expect_eq(strlen(from), 15, "GeneralizedTime YYYYMMDDHHMMSSZ: %s", from);
	cr_expect_eq(from[14], 'Z');
	cr_expect_eq(json_array_size(certs), 2, "end entity first, then the CA");
	{
		unsigned char der[4096];
		const unsigned char *p = der;
		int n = EVP_DecodeBlock(der,
					(const unsigned char *)json_string_value(json_array_get(certs, 1)),
					(int)strlen(json_string_value(json_array_get(certs, 1))));
		X509 *ca = d2i_X509(NULL, &p, n);
		cr_assert_not_null(ca, "the chain entry is base64 DER");
		cr_expect_eq(ASN1_INTEGER_get(X509_get0_serialNumber(ca)), 1);
		X509_free(ca);
	}
	cr_expect_str_eq(str(j, "key/curve"), "1.2.840.10045.3.1.7", "P-256");
	cr_expect_eq(json_integer_value(json_object_get(json_object_get(j, "key"), "len")), 256);
	cr_expect_str_eq(
		json_string_value(json_array_get(json_object_get(json_object_get(j, "key"), "algo"), 0)),
		"1.2.840.10045.2.1");
	cr_expect_eq(json_integer_value(json_object_get(j, "multisign")), 1);
	json_decref(j);
	j = build(&r, CSC_CERTS_SINGLE, 0, 0);
	cr_expect_eq(json_array_size(json_object_get(json_object_get(j, "cert"), "certificates")), 1);
	cr_expect_null(str(j, "cert/issuerDN"), "only with certInfo");
	json_decref(j);
}

Test(csc_cred, r13_r20_key_enabled_only_when_active_and_user_active)
{
	static const struct {
		const char *state, *user;
		int expired;
		const char *key, *cert;
	} cases[] = {
		{"active", "active_sms", 0, "enabled", "valid"},
		{"active", "active_app", 0, "enabled", "valid"},
		{"superseding", "active_sms", 0, "enabled", "valid"}, /* R15: usable until replaced */
		{"issued", "pending", 0, "disabled", "valid"}, /* R20: awaits activation */
		{"active", "locked_sms", 0, "disabled", "valid"}, /* R13: locked at once */
		{"active", "closed", 0, "disabled", "valid"},
		{"revoked", "active_sms", 0, "disabled", "revoked"}, /* R14 */
		{"active", "active_sms", 1, "disabled", "expired"},
		{"expired", "active_sms", 0, "disabled", "expired"},
	};

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct csc_row r = row("advanced", cases[i].state, cases[i].user);
		json_t *j;

		r.expired = cases[i].expired;
		j = build(&r, CSC_CERTS_NONE, 0, 0);
		cr_expect_str_eq(str(j, "key/status"), cases[i].key, "%s/%s", cases[i].state, cases[i].user);
		cr_expect_str_eq(str(j, "cert/status"), cases[i].cert, "%s/%s", cases[i].state,
				 cases[i].user);
		cr_expect_eq(csc_usable(&r),
			     strcmp(cases[i].key, "enabled") == 0 && strcmp(cases[i].cert, "valid") == 0);
		json_decref(j);
	}
}

/* The OTP object of auth/objects, or NULL. */
static const json_t *otp(const json_t *j)
{
	const json_t *objs = json_object_get(json_object_get(j, "auth"), "objects"), *o;
	size_t i;

	json_array_foreach (objs, i, o) {
		if (strcmp(json_string_value(json_object_get(o, "type")), "OTP") == 0)
			return o;
	}
	return NULL;
}

Test(csc_cred, r1_r9_r10_scal_and_otp_follow_class_and_factor)
{
	struct csc_row r = row("qualified", "active", "active_sms");
	json_t *j = build(&r, CSC_CERTS_NONE, 0, 1);

	cr_expect_str_eq(str(j, "SCAL"), "2", "R1: qualified");
	cr_expect_str_eq(str(j, "signatureQualifier"), "eu_eidas_qes");
	cr_expect_str_eq(str(j, "auth/mode"), "explicit");
	cr_expect_str_eq(str(j, "auth/expression"), "PIN AND OTP");
	cr_assert_not_null(otp(j));
	cr_expect_str_eq(json_string_value(json_object_get(otp(j), "id")), "sms", "R9: SMS-TAN");
	json_decref(j);

	r.user_state = "active_app";
	j = build(&r, CSC_CERTS_NONE, 0, 1);
	cr_expect_str_eq(json_string_value(json_object_get(otp(j), "id")), "app", "R9: the app, never both");
	cr_expect_eq(json_array_size(json_object_get(json_object_get(j, "auth"), "objects")), 2);
	json_decref(j);

	r.cls = "advanced";
	r.user_state = "active_single";
	j = build(&r, CSC_CERTS_NONE, 0, 1);
	cr_expect_str_eq(str(j, "SCAL"), "1");
	cr_expect_str_eq(str(j, "signatureQualifier"), "eu_eidas_aes");
	cr_expect_str_eq(str(j, "auth/expression"), "PIN", "R10: lawful single factor");
	cr_expect_null(otp(j), "R10: no OTP");
	json_decref(j);

	r.cls = "seal";
	j = build(&r, CSC_CERTS_NONE, 0, 0);
	cr_expect_str_eq(str(j, "signatureQualifier"), "eu_eidas_aeseal");
	cr_expect_null(str(j, "auth/expression"), "only with authInfo");
	json_decref(j);
}

Test(csc_cred, options_parse_and_refuse_bad_values)
{
	struct csc_opts o;
	struct ra_err e = {0};
	json_t *b = json_pack("{s:s, s:b, s:b}", "certificates", "chain", "certInfo", 1, "authInfo", 0);

	cr_expect_eq(csc_opts_parse(b, &o, &e), 0);
	cr_expect_eq(o.certs, CSC_CERTS_CHAIN);
	cr_expect_eq(o.cert_info, 1);
	cr_expect_eq(o.auth_info, 0);
	json_decref(b);
	b = json_object();
	cr_expect_eq(csc_opts_parse(b, &o, &e), 0);
	cr_expect_eq(o.certs, CSC_CERTS_SINGLE, "the specification's default");
	json_decref(b);
	b = json_pack("{s:s}", "certificates", "all");
	cr_expect_eq(csc_opts_parse(b, &o, &e), RA_E_INVALID);
	cr_expect_str_eq(e.field, "certificates");
	json_decref(b);
	b = json_pack("{s:s}", "certInfo", "yes");
	cr_expect_eq(csc_opts_parse(b, &o, &e), RA_E_INVALID);
	cr_expect_str_eq(e.field, "certInfo");
	json_decref(b);
}

Test(csc_cred, an_unreadable_certificate_is_an_error_not_a_guess)
{
	struct csc_row r = row("qualified", "active", "active_sms");
	struct csc_opts o = {CSC_CERTS_SINGLE, 1, 1};
	struct ra_err e = {0};

	r.pem = "-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n";
	cr_expect_null(csc_credential(&r, &o, NULL, 1, &e));
	cr_expect_eq(e.code, RA_E_INTERNAL);
	cr_expect(strstr(e.msg, "crt-1") != NULL, "%s", e.msg);
}
