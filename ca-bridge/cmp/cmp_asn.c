/*
 * cmp_asn.c - the few CMP encoding details the client and the ca-bridge server share, which
 * OpenSSL 3.0 builds but has no getters for:
 *
 *   certProfile (RFC 9483 4.1.1, id-it-certProfile in the header's generalInfo) carries the
 *   certificate class, and a validity that is not the profile's default: "qualified",
 *   "advanced:3".  The header is integrity-protected, so the class is as authentic as the
 *   request.  A P10CR has no template, so this is the only standard place for it.
 *
 *   the reasonCode of a revocation request (RevDetails.crlEntryDetails): the server callback
 *   gets only issuer and serial, so the server reads the reason from the message's DER.
 *
 *   whether a request asks for implicit confirmation (id-it-implicitConfirm in generalInfo):
 *   the server must know before the CA issues, to keep a place for the certConf to come.
 */
#include "ca-bridge/cmp/cmp_asn.h"
#include "ca-bridge/cab_int.h"

#include <openssl/cmp.h>
#include <openssl/err.h>
#include <openssl/objects.h>
#include <openssl/x509v3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void cab_cmp_profile_name(enum cab_class cls, int years, char *out, size_t cap)
{
	const char *name = cab_class_name(cls);

	if (years > 0)
		snprintf(out, cap, "%s:%d", name ? name : "", years);
	else
		snprintf(out, cap, "%s", name ? name : "");
}

int cab_cmp_profile_parse(const char *name, enum cab_class *cls, int *years, struct cab_err *err)
{
	char buf[32];
	const char *colon = strchr(name, ':');
	size_t n = colon ? (size_t)(colon - name) : strlen(name);
	char *end = NULL;

	if (n >= sizeof(buf))
		return cab_err_set(err, CAB_E_PROFILE, "certProfile", "unknown certificate profile");
	memcpy(buf, name, n);
	buf[n] = '\0';
	if (cab_class_parse(buf, cls, err) != 0)
		return cab_err_set(err, CAB_E_PROFILE, "certProfile", "unknown certificate profile \"%s\"",
				   buf);
	*years = 0;
	if (colon != NULL) {
		long y = strtol(colon + 1, &end, 10);

		if (end == colon + 1 || *end != '\0' || y < 1 || y > 99)
			return cab_err_set(err, CAB_E_PROFILE, "certProfile",
					   "bad validity in certificate profile");
		*years = (int)y;
	}
	return 0;
}

OSSL_CMP_ITAV *cab_cmp_profile_itav(const char *name)
{
	struct cab_buf utf = {0}, seq = {0};
	ASN1_STRING *str = NULL;
	ASN1_TYPE *val = NULL;
	ASN1_OBJECT *oid = NULL;
	OSSL_CMP_ITAV *itav = NULL;

	/* CertProfileValue ::= SEQUENCE SIZE (1..MAX) OF UTF8String */
	if (cab_der_tlv(&utf, V_ASN1_UTF8STRING, name, strlen(name)) != 0 ||
	    cab_der_tlv(&seq, 0x30, utf.p, utf.len) != 0 ||
	    (str = ASN1_STRING_type_new(V_ASN1_SEQUENCE)) == NULL ||
	    !ASN1_STRING_set(str, seq.p, (int)seq.len) || (val = ASN1_TYPE_new()) == NULL ||
	    (oid = OBJ_txt2obj(CAB_OID_CERT_PROFILE, 1)) == NULL)
		goto out;
	ASN1_TYPE_set(val, V_ASN1_SEQUENCE, str);
	str = NULL;
	itav = OSSL_CMP_ITAV_create(oid, val); /* takes both */
	if (itav != NULL)
		oid = NULL, val = NULL;
out:
	ASN1_OBJECT_free(oid);
	ASN1_TYPE_free(val);
	ASN1_STRING_free(str);
	cab_buf_free(&utf);
	cab_buf_free(&seq);
	return itav;
}

/* One TLV at *p (DER, definite length): its class, tag, content; *p steps past it. */
static int tlv(const unsigned char **p, const unsigned char *end, int *cls, int *tag,
	       const unsigned char **content, long *clen)
{
	const unsigned char *q = *p;

	if (q >= end || ASN1_get_object(&q, clen, tag, cls, end - q) & 0x80)
		return -1;
	*content = q;
	*p = q + *clen;
	return 0;
}

/* The OID TLV at tlv_start as dotted text. */
static void oid_text(const unsigned char *tlv_start, long tlv_len, char *out, size_t cap)
{
	ASN1_OBJECT *o = d2i_ASN1_OBJECT(NULL, &tlv_start, tlv_len);

	out[0] = '\0';
	if (o != NULL)
		OBJ_obj2txt(out, (int)cap, o, 1);
	ASN1_OBJECT_free(o);
}

/* generalInfo [8] SEQUENCE OF InfoTypeAndValue: the first UTF8String of certProfile. */
static int find_profile(const unsigned char *p, const unsigned char *end, char *out, size_t cap)
{
	const unsigned char *c, *itav_end, *v, *oid_start;
	long len, vlen;
	int cls, tag;
	char oid[64];

	while (p < end) {
		if (tlv(&p, end, &cls, &tag, &c, &len) != 0 || tag != V_ASN1_SEQUENCE)
			return CAB_E_INVALID;
		itav_end = c + len;
		v = oid_start = c;
		if (tlv(&v, itav_end, &cls, &tag, &c, &len) != 0 || tag != V_ASN1_OBJECT)
			return CAB_E_INVALID;
		oid_text(oid_start, v - oid_start, oid, sizeof(oid));
		if (strcmp(oid, CAB_OID_CERT_PROFILE) != 0)
			continue;
		/* infoValue: SEQUENCE OF UTF8String; take the first */
		if (tlv(&v, itav_end, &cls, &tag, &c, &len) != 0 || tag != V_ASN1_SEQUENCE)
			return CAB_E_INVALID;
		v = c;
		if (tlv(&v, c + len, &cls, &tag, &c, &vlen) != 0 || tag != V_ASN1_UTF8STRING ||
		    (size_t)vlen >= cap)
			return CAB_E_INVALID;
		memcpy(out, c, (size_t)vlen);
		out[vlen] = '\0';
		return 0;
	}
	return CAB_E_NOTFOUND;
}

/* The header's generalInfo (the content of its SEQUENCE OF): [*p, *end) inside *der, which
 * the caller frees.  0, CAB_E_NOTFOUND without generalInfo, CAB_E_INVALID. */
static int geninfo(const OSSL_CMP_MSG *msg, unsigned char **der, const unsigned char **gp,
		   const unsigned char **gend)
{
	const unsigned char *p, *end, *c;
	long len;
	int n, cls, tag;

	*der = NULL;
	n = i2d_OSSL_CMP_PKIHEADER(OSSL_CMP_MSG_get0_header(msg), der);
	if (n <= 0)
		return CAB_E_INVALID;
	p = *der;
	end = *der + n;
	if (tlv(&p, end, &cls, &tag, &c, &len) != 0 || tag != V_ASN1_SEQUENCE)
		return CAB_E_INVALID;
	p = c;
	end = c + len;
	while (p < end) {
		if (tlv(&p, end, &cls, &tag, &c, &len) != 0)
			return CAB_E_INVALID;
		if (cls == V_ASN1_CONTEXT_SPECIFIC && tag == 8) {
			/* [8] EXPLICIT SEQUENCE OF: step into the SEQUENCE */
			const unsigned char *q = c, *s;
			long slen;

			if (tlv(&q, c + len, &cls, &tag, &s, &slen) != 0 || tag != V_ASN1_SEQUENCE)
				return CAB_E_INVALID;
			*gp = s;
			*gend = s + slen;
			return 0;
		}
	}
	return CAB_E_NOTFOUND;
}

int cab_cmp_msg_profile(const OSSL_CMP_MSG *msg, char *out, size_t cap)
{
	unsigned char *der = NULL;
	const unsigned char *p = NULL, *end = NULL;
	int rc = geninfo(msg, &der, &p, &end);

	if (rc == 0)
		rc = find_profile(p, end, out, cap);
	OPENSSL_free(der);
	return rc;
}

int cab_cmp_msg_implicit_confirm(const OSSL_CMP_MSG *msg)
{
	unsigned char *der = NULL;
	const unsigned char *p = NULL, *end = NULL, *c, *v, *oid_start;
	long len;
	int cls, tag, found = 0;
	char oid[64];

	if (geninfo(msg, &der, &p, &end) != 0)
		goto out;
	while (p < end && !found) {
		if (tlv(&p, end, &cls, &tag, &c, &len) != 0 || tag != V_ASN1_SEQUENCE)
			break;
		v = oid_start = c;
		if (tlv(&v, c + len, &cls, &tag, &c, &len) != 0 || tag != V_ASN1_OBJECT)
			break;
		oid_text(oid_start, v - oid_start, oid, sizeof(oid));
		found = strcmp(oid, CAB_OID_IMPLICIT_CONFIRM) == 0;
	}
out:
	OPENSSL_free(der);
	return found;
}

/* RevDetails ::= SEQUENCE { certDetails CertTemplate, crlEntryDetails Extensions OPTIONAL } */
static int reason_of(const unsigned char *p, long len)
{
	const unsigned char *end = p + len, *c, *ext_start;
	STACK_OF(X509_EXTENSION) *exts = NULL;
	ASN1_ENUMERATED *e = NULL;
	long clen;
	int cls, tag, reason = CAB_REASON_UNSPECIFIED;

	if (tlv(&p, end, &cls, &tag, &c, &clen) != 0 || tag != V_ASN1_SEQUENCE) /* certDetails */
		return reason;
	ext_start = p;
	if (tlv(&p, end, &cls, &tag, &c, &clen) != 0 || tag != V_ASN1_SEQUENCE)
		return reason;
	exts = d2i_X509_EXTENSIONS(NULL, &ext_start, p - ext_start);
	if (exts != NULL)
		e = X509V3_get_d2i(exts, NID_crl_reason, NULL, NULL);
	if (e != NULL)
		reason = (int)ASN1_ENUMERATED_get(e);
	ASN1_ENUMERATED_free(e);
	sk_X509_EXTENSION_pop_free(exts, X509_EXTENSION_free);
	return reason;
}

int cab_cmp_msg_rr_reason(const OSSL_CMP_MSG *msg)
{
	unsigned char *der = NULL;
	const unsigned char *p, *end, *c;
	long len;
	int n, cls, tag, reason = CAB_REASON_UNSPECIFIED;

	n = i2d_OSSL_CMP_MSG(msg, &der);
	if (n <= 0) {
		ERR_clear_error();
		return reason;
	}
	p = der;
	end = der + n;
	/* PKIMessage { header, body [11] rr SEQUENCE OF RevDetails, ... } */
	if (tlv(&p, end, &cls, &tag, &c, &len) != 0 || tag != V_ASN1_SEQUENCE)
		goto out;
	p = c;
	end = c + len;
	if (tlv(&p, end, &cls, &tag, &c, &len) != 0 || tlv(&p, end, &cls, &tag, &c, &len) != 0 ||
	    cls != V_ASN1_CONTEXT_SPECIFIC || tag != 11)
		goto out;
	p = c;
	end = c + len;
	if (tlv(&p, end, &cls, &tag, &c, &len) != 0 || tag != V_ASN1_SEQUENCE) /* RevReqContent */
		goto out;
	p = c;
	if (tlv(&p, c + len, &cls, &tag, &c, &len) == 0 && tag == V_ASN1_SEQUENCE)
		reason = reason_of(c, len);
out:
	OPENSSL_free(der);
	return reason;
}
