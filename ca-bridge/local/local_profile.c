/*
 * local_profile.c - the extensions the certificate profiles (R1, R5) put into a certificate
 * the local CA signs; which subject and validity a class allows is checked before, by every
 * back-end (cab_profile.c).  docs/ca-bridge.md "Profiles" has the table.
 *
 *   all        basicConstraints critical CA:FALSE, subjectKeyIdentifier,
 *              authorityKeyIdentifier (key id), cRLDistributionPoints (crl_url)
 *   qualified  QCP-n-qscd 0.4.0.194112.1.2 + operator OID; qcStatements (EN 319 412-5)
 *              QcCompliance, QcSSCD, QcType esign, QcPDS; keyUsage critical nonRepudiation
 *   advanced,  NCP+ 0.4.0.2042.1.2 (or NCP 0.4.0.2042.1.1) + operator OID; no QC statements;
 *   seal       keyUsage critical nonRepudiation (+ digitalSignature by configuration)
 */
#include "ca-bridge/local/local_int.h"

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

/* QCStatements (EN 319 412-5 4.2): compliance, SSCD, type esign, PDS with URL and language. */
static int qc_statements(struct cab_local *l, struct cab_buf *out)
{
	struct cab_buf all = {0}, st = {0}, tmp = {0}, loc = {0};
	int rc = 0;

#define TRY(x)                       \
	do {                         \
		if ((rc = (x)) != 0) \
			goto out;    \
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
	TRY(cab_der_tlv(&loc, 0x16, l->qcpds_url, strlen(l->qcpds_url))); /* IA5String */
	TRY(cab_der_tlv(&loc, 0x13, l->qcpds_lang, strlen(l->qcpds_lang))); /* PrintableString */
	TRY(cab_der_tlv(&tmp, 0x30, loc.p, loc.len)); /* PdsLocation */
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
	const char *oids[2] = {first, second};
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

int cab_local_extensions(struct cab_local *l, X509 *cert, X509 *issuer, enum cab_class cls,
			 struct cab_err *err)
{
	X509V3_CTX ctx;
	char cdp[600];
	const char *ku, *policy;
	struct cab_buf qc = {0};
	int rc;

	X509V3_set_ctx(&ctx, issuer, cert, NULL, NULL, 0);
	X509V3_set_ctx_nodb(&ctx);
	if (cls == CAB_CLASS_QUALIFIED) {
		policy = OID_QCP_N_QSCD;
		ku = "critical,nonRepudiation";
	} else {
		policy = l->ncp_plus ? OID_NCP_PLUS : OID_NCP;
		ku = l->adv_digital_signature ? "critical,digitalSignature,nonRepudiation"
					      : "critical,nonRepudiation";
	}
	snprintf(cdp, sizeof(cdp), "URI:%s", l->crl_url);
	if ((rc = add_conf_ext(&ctx, cert, NID_basic_constraints, "critical,CA:FALSE", err)) != 0 ||
	    (rc = add_conf_ext(&ctx, cert, NID_key_usage, ku, err)) != 0 ||
	    (rc = add_conf_ext(&ctx, cert, NID_subject_key_identifier, "hash", err)) != 0 ||
	    (rc = add_conf_ext(&ctx, cert, NID_authority_key_identifier, "keyid:always", err)) != 0 ||
	    (rc = add_conf_ext(&ctx, cert, NID_crl_distribution_points, cdp, err)) != 0)
		return rc;
	if (add_policies(cert, policy, l->policy_oid) != 0)
		return cab_err_ossl(err, CAB_E_CA, "cannot encode certificatePolicies");
	if (cls != CAB_CLASS_QUALIFIED)
		return 0; /* R1: QC statements only in qualified certificates */
	if (qc_statements(l, &qc) != 0 || add_der_ext(cert, OID_QC_STATEMENTS, &qc) != 0)
		rc = cab_err_set(err, CAB_E_CA, "", "cannot encode qcStatements");
	cab_buf_free(&qc);
	return rc;
}
