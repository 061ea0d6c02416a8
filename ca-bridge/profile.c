/*
 * profile.c - the certificate profiles (R1, R4, R5): which subject a class needs, how long
 * it may be valid, and the extensions it carries.
 *
 *   qualified  ETSI EN 319 412-2 natural person: QCP-n-qscd 0.4.0.194112.1.2 + operator OID;
 *              qcStatements (EN 319 412-5) QcCompliance, QcSSCD, QcType esign, QcPDS;
 *              keyUsage critical nonRepudiation; at most 5 years (default 5).
 *   advanced   NCP+ 0.4.0.2042.1.2 (or NCP 0.4.0.2042.1.1) + operator OID; no QC statements;
 *              keyUsage critical nonRepudiation (+ digitalSignature by configuration);
 *              at most 10 years (default 10).
 *   seal       like advanced, but the subject is the organisation (C, O,
 *              organizationIdentifier, CN).
 * A request outside its profile is refused with CAB_E_PROFILE and the field, never fixed up.
 */
#include "ca-bridge/cab_int.h"

#include <openssl/err.h>
#include <openssl/objects.h>
#include <openssl/x509v3.h>
#include <stdio.h>
#include <string.h>

#define OID_QCP_N_QSCD "0.4.0.194112.1.2"
#define OID_NCP_PLUS "0.4.0.2042.1.2"
#define OID_NCP "0.4.0.2042.1.1"
#define OID_QC_STATEMENTS "1.3.6.1.5.5.7.1.3"
#define OID_QC_COMPLIANCE "0.4.0.1862.1.1"
#define OID_QC_SSCD "0.4.0.1862.1.4"
#define OID_QC_TYPE "0.4.0.1862.1.6"
#define OID_QC_TYPE_ESIGN "0.4.0.1862.1.6.1"
#define OID_QC_PDS "0.4.0.1862.1.5"

static int set(const char *s)
{
	return s != NULL && s[0] != '\0';
}

static int need(const char *value, const char *field, struct cab_err *err)
{
	if (set(value))
		return 0;
	return cab_err_set(err, CAB_E_PROFILE, field, "%s is required by the profile", field);
}

static int must_not(const char *value, const char *field, struct cab_err *err)
{
	if (!set(value))
		return 0;
	return cab_err_set(err, CAB_E_PROFILE, field, "%s is not part of a seal's subject", field);
}

static int check_person(const struct cab_subject *s, struct cab_err *err)
{
	int rc;

	if ((rc = need(s->country, "subject.country", err)) != 0 ||
	    (rc = need(s->given_name, "subject.given_name", err)) != 0 ||
	    (rc = need(s->surname, "subject.surname", err)) != 0 ||
	    (rc = need(s->serial_number, "subject.serial_number", err)) != 0 ||
	    (rc = need(s->common_name, "subject.common_name", err)) != 0)
		return rc;
	/* R4: variant 2 carries exactly one organisation AND one function, or neither. */
	if (set(s->organization) != set(s->title))
		return cab_err_set(err, CAB_E_PROFILE, set(s->title) ? "subject.organization" : "subject.title",
				   "variant 2 needs both organization and title (R4)");
	if (set(s->organization_identifier) && !set(s->organization))
		return cab_err_set(err, CAB_E_PROFILE, "subject.organization",
				   "organization_identifier without organization");
	return 0;
}

static int check_seal(const struct cab_subject *s, struct cab_err *err)
{
	int rc;

	if ((rc = need(s->country, "subject.country", err)) != 0 ||
	    (rc = need(s->organization, "subject.organization", err)) != 0 ||
	    (rc = need(s->organization_identifier, "subject.organization_identifier", err)) != 0 ||
	    (rc = need(s->common_name, "subject.common_name", err)) != 0 ||
	    (rc = must_not(s->given_name, "subject.given_name", err)) != 0 ||
	    (rc = must_not(s->surname, "subject.surname", err)) != 0 ||
	    (rc = must_not(s->title, "subject.title", err)) != 0)
		return rc;
	return 0;
}

int cab_profile_check(const struct cab_request *req, int *years, struct cab_err *err)
{
	int max, rc;

	switch (req->cls) {
	case CAB_CLASS_QUALIFIED:
		max = 5;
		rc = check_person(&req->subject, err);
		break;
	case CAB_CLASS_ADVANCED:
		max = 10;
		rc = check_person(&req->subject, err);
		break;
	case CAB_CLASS_SEAL:
		max = 10;
		rc = check_seal(&req->subject, err);
		break;
	default:
		return cab_err_set(err, CAB_E_PROFILE, "class", "unknown certificate class");
	}
	if (rc != 0)
		return rc;
	/* R5: at most 5 (qualified) / 10 (advanced) years; longer is refused, not shortened */
	if (req->validity_years < 0 || req->validity_years > max)
		return cab_err_set(err, CAB_E_PROFILE, "validity_years",
				   "validity of %d years outside the profile (at most %d, R5)",
				   req->validity_years, max);
	*years = req->validity_years ? req->validity_years : max;
	return 0;
}

static int add_rdn(X509_NAME *name, int nid, const char *value, const char *field, struct cab_err *err)
{
	if (!set(value))
		return 0;
	/* MBSTRING_UTF8 checks the UTF-8 and applies X.520's string type and length limits:
	 * C and serialNumber become PrintableString, names UTF8String. */
	if (!X509_NAME_add_entry_by_NID(name, nid, MBSTRING_UTF8, (const unsigned char *)value, -1, -1, 0))
	{
		ERR_clear_error();
		return cab_err_set(err, CAB_E_PROFILE, field,
				   "%s: invalid UTF-8, characters or length for its X.520 type", field);
	}
	return 0;
}

int cab_profile_subject(const struct cab_subject *s, enum cab_class cls, X509_NAME **out,
			struct cab_err *err)
{
	X509_NAME *name = X509_NAME_new();
	int rc;

	(void)cls; /* the order is the same for every class; absent attributes are skipped */
	if (name == NULL)
		return cab_err_set(err, CAB_E_NOMEM, "", "out of memory");
	if (set(s->country) && strlen(s->country) != 2) {
		rc = cab_err_set(err, CAB_E_PROFILE, "subject.country", "country must be ISO 3166-1 alpha-2");
		goto fail;
	}
	if ((rc = add_rdn(name, NID_countryName, s->country, "subject.country", err)) != 0 ||
	    (rc = add_rdn(name, NID_organizationName, s->organization, "subject.organization", err)) != 0 ||
	    (rc = add_rdn(name, NID_organizationIdentifier, s->organization_identifier,
			  "subject.organization_identifier", err)) != 0 ||
	    (rc = add_rdn(name, NID_title, s->title, "subject.title", err)) != 0 ||
	    (rc = add_rdn(name, NID_surname, s->surname, "subject.surname", err)) != 0 ||
	    (rc = add_rdn(name, NID_givenName, s->given_name, "subject.given_name", err)) != 0 ||
	    (rc = add_rdn(name, NID_serialNumber, s->serial_number, "subject.serial_number", err)) != 0 ||
	    (rc = add_rdn(name, NID_commonName, s->common_name, "subject.common_name", err)) != 0)
		goto fail;
	*out = name;
	return 0;
fail:
	X509_NAME_free(name);
	return rc;
}

/* QCStatements (EN 319 412-5 4.2): compliance, SSCD, type esign, PDS with URL and language. */
static int qc_statements(struct cab *cab, struct cab_buf *out)
{
	struct cab_buf all = { 0 }, st = { 0 }, tmp = { 0 }, loc = { 0 };
	int rc = 0;

#define TRY(x)                    \
	do {                      \
		if ((rc = (x)) != 0) \
			goto out; \
	} while (0)
	TRY(cab_der_oid(&st, OID_QC_COMPLIANCE));
	TRY(cab_der_tlv(&all, 0x30, st.p, st.len));
	st.len = 0;
	TRY(cab_der_oid(&st, OID_QC_SSCD));
	TRY(cab_der_tlv(&all, 0x30, st.p, st.len));
	st.len = 0;
	TRY(cab_der_oid(&tmp, OID_QC_TYPE_ESIGN));
	TRY(cab_der_oid(&st, OID_QC_TYPE));
	TRY(cab_der_tlv(&st, 0x30, tmp.p, tmp.len));
	TRY(cab_der_tlv(&all, 0x30, st.p, st.len));
	st.len = 0;
	tmp.len = 0;
	TRY(cab_der_tlv(&loc, 0x16, cab->qcpds_url, strlen(cab->qcpds_url)));  /* IA5String */
	TRY(cab_der_tlv(&loc, 0x13, cab->qcpds_lang, strlen(cab->qcpds_lang))); /* PrintableString */
	TRY(cab_der_tlv(&tmp, 0x30, loc.p, loc.len));                           /* PdsLocation */
	TRY(cab_der_oid(&st, OID_QC_PDS));
	TRY(cab_der_tlv(&st, 0x30, tmp.p, tmp.len)); /* PdsLocations */
	TRY(cab_der_tlv(&all, 0x30, st.p, st.len));
	TRY(cab_der_tlv(out, 0x30, all.p, all.len));
#undef TRY
out:
	cab_buf_free(&all);
	cab_buf_free(&st);
	cab_buf_free(&tmp);
	cab_buf_free(&loc);
	return rc;
}

static int add_der_ext(X509 *cert, const char *oid, const struct cab_buf *der)
{
	ASN1_OBJECT *obj = OBJ_txt2obj(oid, 1);
	ASN1_OCTET_STRING *os = ASN1_OCTET_STRING_new();
	X509_EXTENSION *ext = NULL;
	int ok = 0;

	if (obj != NULL && os != NULL && ASN1_OCTET_STRING_set(os, der->p, (int)der->len))
		ext = X509_EXTENSION_create_by_OBJ(NULL, obj, 0, os);
	if (ext != NULL)
		ok = X509_add_ext(cert, ext, -1);
	X509_EXTENSION_free(ext);
	ASN1_OCTET_STRING_free(os);
	ASN1_OBJECT_free(obj);
	return ok ? 0 : CAB_E_CA;
}

/* certificatePolicies from OIDs (no qualifiers): built directly, no config syntax involved */
static int add_policies(X509 *cert, const char *first, const char *second)
{
	CERTIFICATEPOLICIES *pol = sk_POLICYINFO_new_null();
	const char *oids[2] = { first, second };
	int ok = pol != NULL;

	for (int i = 0; ok && i < 2; i++) {
		POLICYINFO *pi = POLICYINFO_new();

		ok = pi != NULL && (pi->policyid = OBJ_txt2obj(oids[i], 1)) != NULL &&
		     sk_POLICYINFO_push(pol, pi) > 0;
		if (!ok)
			POLICYINFO_free(pi);
	}
	ok = ok && X509_add1_ext_i2d(cert, NID_certificate_policies, pol, 0, X509V3_ADD_DEFAULT) == 1;
	sk_POLICYINFO_pop_free(pol, POLICYINFO_free);
	return ok ? 0 : CAB_E_CA;
}

static int add_conf_ext(X509V3_CTX *ctx, X509 *cert, int nid, const char *value, struct cab_err *err)
{
	X509_EXTENSION *ext = X509V3_EXT_nconf_nid(NULL, ctx, nid, value);
	int ok = ext != NULL && X509_add_ext(cert, ext, -1);

	X509_EXTENSION_free(ext);
	if (!ok)
		return cab_err_ossl(err, CAB_E_CA, OBJ_nid2sn(nid));
	return 0;
}

int cab_profile_extensions(struct cab *cab, X509 *cert, X509 *issuer, enum cab_class cls,
			   struct cab_err *err)
{
	X509V3_CTX ctx;
	char cdp[600];
	const char *ku, *policy;
	struct cab_buf qc = { 0 };
	int rc;

	X509V3_set_ctx(&ctx, issuer, cert, NULL, NULL, 0);
	X509V3_set_ctx_nodb(&ctx);
	if (cls == CAB_CLASS_QUALIFIED) {
		policy = OID_QCP_N_QSCD;
		ku = "critical,nonRepudiation";
	} else {
		policy = cab->ncp_plus ? OID_NCP_PLUS : OID_NCP;
		ku = cab->adv_digital_signature ? "critical,digitalSignature,nonRepudiation"
						: "critical,nonRepudiation";
	}
	snprintf(cdp, sizeof(cdp), "URI:%s", cab->crl_url);
	if ((rc = add_conf_ext(&ctx, cert, NID_basic_constraints, "critical,CA:FALSE", err)) != 0 ||
	    (rc = add_conf_ext(&ctx, cert, NID_key_usage, ku, err)) != 0 ||
	    (rc = add_conf_ext(&ctx, cert, NID_subject_key_identifier, "hash", err)) != 0 ||
	    (rc = add_conf_ext(&ctx, cert, NID_authority_key_identifier, "keyid:always", err)) != 0 ||
	    (rc = add_conf_ext(&ctx, cert, NID_crl_distribution_points, cdp, err)) != 0)
		return rc;
	if (add_policies(cert, policy, cab->policy_oid) != 0)
		return cab_err_ossl(err, CAB_E_CA, "cannot encode certificatePolicies");
	if (cls != CAB_CLASS_QUALIFIED)
		return 0; /* R1: QC statements only in qualified certificates */
	if (qc_statements(cab, &qc) != 0 || add_der_ext(cert, OID_QC_STATEMENTS, &qc) != 0)
		rc = cab_err_set(err, CAB_E_CA, "", "cannot encode qcStatements");
	cab_buf_free(&qc);
	return rc;
}
