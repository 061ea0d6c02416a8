/* csc_cred.c - a certificate as a CSC API v2.0 credential; see csc_cred.h. */
#include "ra/flows/signing/csc_cred.h"

#include <openssl/bio.h>
#include <openssl/bn.h>
#include <openssl/core_names.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/objects.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define CSC_DESC_MAX 255 /* the specification's limit for description */

/* Signature algorithms the key serves, next to the key algorithm itself (CSC key/algo lists
 * OIDs of both kinds): SHA-256 with ECDSA or RSA, what the profiles of ca-bridge issue for. */
#define OID_ECDSA_SHA256 "1.2.840.10045.4.3.2"
#define OID_RSA_SHA256 "1.2.840.113549.1.1.11"

static int get_bool(const json_t *body, const char *key, int *out, struct ra_err *e)
{
	json_t *v = json_object_get(body, key);

	if (v == NULL)
		return 0;
	if (!json_is_boolean(v))
		return ra_err_set(e, RA_E_INVALID, key, "Invalid parameter %s: must be true or false", key);
	*out = json_is_true(v);
	return 0;
}

int csc_opts_parse(const json_t *body, struct csc_opts *o, struct ra_err *e)
{
	json_t *c = json_object_get(body, "certificates");
	const char *s = json_string_value(c);

	o->certs = CSC_CERTS_SINGLE;
	o->cert_info = o->auth_info = 0;
	if (c != NULL) {
		if (s && strcmp(s, "none") == 0)
			o->certs = CSC_CERTS_NONE;
		else if (s && strcmp(s, "single") == 0)
			o->certs = CSC_CERTS_SINGLE;
		else if (s && strcmp(s, "chain") == 0)
			o->certs = CSC_CERTS_CHAIN;
		else
			return ra_err_set(e, RA_E_INVALID, "certificates",
					  "Invalid parameter certificates: none, single or chain");
	}
	if (get_bool(body, "certInfo", &o->cert_info, e) != 0 ||
	    get_bool(body, "authInfo", &o->auth_info, e) != 0)
		return e->code;
	return 0;
}

static int in_state(const char *s, const char *a, const char *b)
{
	return s && (strcmp(s, a) == 0 || (b && strcmp(s, b) == 0));
}

/* The user may approve signatures now: active on some factor, not locked, not closed. */
static int user_active(const struct csc_row *r)
{
	return r->user_state && strncmp(r->user_state, "active_", 7) == 0;
}

/* superseding: the old certificate stays usable until its replacement is issued (R15) */
static int cert_usable_state(const struct csc_row *r)
{
	return in_state(r->state, "active", "superseding");
}

const char *csc_key_status(const struct csc_row *r)
{
	return cert_usable_state(r) && !r->expired && user_active(r) ? "enabled" : "disabled";
}

const char *csc_cert_status(const struct csc_row *r)
{
	if (in_state(r->state, "revoked", NULL))
		return "revoked";
	if (r->expired || in_state(r->state, "expired", NULL))
		return "expired";
	return "valid";
}

int csc_usable(const struct csc_row *r)
{
	return strcmp(csc_key_status(r), "enabled") == 0 && strcmp(csc_cert_status(r), "valid") == 0;
}

/* ---- X.509 ------------------------------------------------------------------------------ */

static X509 *pem_cert(const char *pem)
{
	BIO *b = BIO_new_mem_buf(pem, -1);
	X509 *x = b ? PEM_read_bio_X509(b, NULL, NULL, NULL) : NULL;

	BIO_free(b);
	return x;
}

/* RFC 4514 text, UTF-8 kept (not escaped as hex), as the specification asks. */
static json_t *dn_json(const X509_NAME *n)
{
	BIO *b = BIO_new(BIO_s_mem());
	char *p = NULL;
	long len;
	json_t *j = NULL;

	if (b && X509_NAME_print_ex(b, n, 0, XN_FLAG_RFC2253 & ~ASN1_STRFLGS_ESC_MSB) >= 0) {
		len = BIO_get_mem_data(b, &p);
		j = json_stringn(p, (size_t)len);
	}
	BIO_free(b);
	return j;
}

/* GeneralizedTime text "YYYYMMDDHHMMSSZ" (RFC 5280), as the specification asks. */
static json_t *time_json(const ASN1_TIME *t)
{
	struct tm tm;
	char buf[32];

	if (ASN1_TIME_to_tm(t, &tm) != 1 || strftime(buf, sizeof(buf), "%Y%m%d%H%M%SZ", &tm) == 0)
		return NULL;
	return json_string(buf);
}

static json_t *serial_json(const X509 *x)
{
	BIGNUM *bn = ASN1_INTEGER_to_BN(X509_get0_serialNumber(x), NULL);
	char *hex = bn ? BN_bn2hex(bn) : NULL;
	json_t *j = hex ? json_string(hex) : NULL;

	OPENSSL_free(hex);
	BN_free(bn);
	return j;
}

static json_t *der_b64(X509 *x)
{
	unsigned char *der = NULL, *b64;
	int n = i2d_X509(x, &der);
	json_t *j = NULL;

	if (n <= 0)
		return NULL;
	b64 = malloc((size_t)(4 * ((n + 2) / 3) + 1));
	if (b64 != NULL) {
		EVP_EncodeBlock(b64, der, n);
		j = json_string((const char *)b64);
	}
	free(b64);
	OPENSSL_free(der);
	return j;
}

static json_t *oid_json(const ASN1_OBJECT *o)
{
	char buf[128];

	if (o == NULL || OBJ_obj2txt(buf, sizeof(buf), o, 1) <= 0)
		return NULL;
	return json_string(buf);
}

/* key {status, algo, len, curve} from the certificate's public key. */
static json_t *key_json(const struct csc_row *r, X509 *x)
{
	EVP_PKEY *pk = X509_get0_pubkey(x);
	const ASN1_OBJECT *alg = NULL;
	json_t *key, *algo = json_array();
	char group[80];

	if (pk == NULL ||
	    X509_PUBKEY_get0_param((ASN1_OBJECT **)&alg, NULL, NULL, NULL, X509_get_X509_PUBKEY(x)) != 1) {
		json_decref(algo);
		return NULL;
	}
	json_array_append_new(algo, oid_json(alg));
	key = json_pack("{s:s, s:o, s:i}", "status", csc_key_status(r), "algo", algo, "len",
			EVP_PKEY_get_bits(pk));
	if (EVP_PKEY_get_base_id(pk) == EVP_PKEY_EC) {
		json_array_append_new(algo, json_string(OID_ECDSA_SHA256));
		if (EVP_PKEY_get_utf8_string_param(pk, OSSL_PKEY_PARAM_GROUP_NAME, group, sizeof(group),
						   NULL) == 1) {
			int nid = OBJ_txt2nid(group);
			json_t *curve = nid != NID_undef ? oid_json(OBJ_nid2obj(nid)) : NULL;
			if (curve)
				json_object_set_new(key, "curve", curve);
		}
	} else if (EVP_PKEY_get_base_id(pk) == EVP_PKEY_RSA) {
		json_array_append_new(algo, json_string(OID_RSA_SHA256));
	}
	return key;
}

static int add_chain(json_t *certs, const char *chain_pem)
{
	BIO *b = chain_pem ? BIO_new_mem_buf(chain_pem, -1) : NULL;
	X509 *ca;
	int rc = 0;

	if (chain_pem == NULL)
		return 0;
	if (b == NULL)
		return -1;
	while ((ca = PEM_read_bio_X509(b, NULL, NULL, NULL)) != NULL) {
		json_t *one = der_b64(ca);
		X509_free(ca);
		if (one == NULL) {
			rc = -1;
			break;
		}
		json_array_append_new(certs, one);
	}
	ERR_clear_error(); /* the end of the PEM text reads as an error */
	BIO_free(b);
	return rc;
}

static json_t *cert_json(const struct csc_row *r, const struct csc_opts *o, X509 *x, const char *chain_pem)
{
	json_t *cert = json_pack("{s:s}", "status", csc_cert_status(r));

	if (o->certs != CSC_CERTS_NONE) {
		json_t *certs = json_array();
		json_array_append_new(certs, der_b64(x));
		if (o->certs == CSC_CERTS_CHAIN && add_chain(certs, chain_pem) != 0) {
			json_decref(certs);
			json_decref(cert);
			return NULL;
		}
		json_object_set_new(cert, "certificates", certs);
	}
	if (o->cert_info) {
		json_object_set_new(cert, "issuerDN", dn_json(X509_get_issuer_name(x)));
		json_object_set_new(cert, "serialNumber", serial_json(x));
		json_object_set_new(cert, "subjectDN", dn_json(X509_get_subject_name(x)));
		json_object_set_new(cert, "validFrom", time_json(X509_get0_notBefore(x)));
		json_object_set_new(cert, "validTo", time_json(X509_get0_notAfter(x)));
	}
	return cert;
}

/* ---- what the user sees and approves with ----------------------------------------------- */

static const char *class_label(const char *cls)
{
	if (in_state(cls, "qualified", NULL))
		return "Qualified electronic signature";
	if (in_state(cls, "seal", NULL))
		return "Electronic seal";
	return "Advanced electronic signature";
}

static const char *qualifier(const char *cls)
{
	if (in_state(cls, "qualified", NULL))
		return "eu_eidas_qes";
	if (in_state(cls, "seal", NULL))
		return "eu_eidas_aeseal";
	return "eu_eidas_aes";
}

/* Cuts s to at most max bytes without splitting a UTF-8 sequence. */
static void utf8_cut(char *s, size_t max)
{
	size_t n = strlen(s);

	if (n <= max)
		return;
	n = max;
	while (n > 0 && ((unsigned char)s[n] & 0xc0) == 0x80)
		n--;
	s[n] = '\0';
}

/* R4: a variant 2 certificate is named by its function and organisation, so the user picks
 * the one of the company they sign for; variant 1 by the holder's name. */
static json_t *description(const struct csc_row *r)
{
	json_t *subj = r->subject ? json_loads(r->subject, 0, NULL) : NULL;
	const char *org = json_string_value(json_object_get(subj, "organization"));
	const char *title = json_string_value(json_object_get(subj, "title"));
	const char *cn = json_string_value(json_object_get(subj, "common_name"));
	char text[1024];
	json_t *j;

	if (org && title)
		snprintf(text, sizeof(text), "%s: %s, %s", class_label(r->cls), title, org);
	else
		snprintf(text, sizeof(text), "%s: %s", class_label(r->cls), cn ? cn : r->id);
	utf8_cut(text, CSC_DESC_MAX);
	j = json_string(text);
	json_decref(subj);
	return j;
}

/* The factor of the user's state (R9, R10); a pending user is put on SMS by the first
 * activation (R20), so that is what their credentials will ask for. */
static const char *factor(const struct csc_row *r)
{
	const char *s = r->user_state ? r->user_state : "";

	if (strcmp(s, "pending") == 0 || strstr(s, "_sms"))
		return "sms";
	if (strstr(s, "_app"))
		return "app";
	return "none";
}

/* auth: explicit authorisation with the ActivationPIN (held by the signing service, R12) and,
 * unless the user lawfully signs with one factor (R10), the OTP of their second factor (R9). */
static json_t *auth_json(const struct csc_row *r, const struct csc_opts *o)
{
	const char *f = factor(r);
	json_t *auth = json_pack("{s:s}", "mode", "explicit"), *objs;

	if (!o->auth_info)
		return auth;
	objs = json_pack("[{s:s, s:s, s:s, s:s, s:s}]", "type", "PIN", "id", "PIN", "format", "N", "label",
			 "ActivationPIN", "description",
			 "the PIN the user set at activation; the signing service holds it");
	if (strcmp(f, "sms") == 0)
		json_array_append_new(objs,
				      json_pack("{s:s, s:s, s:s, s:s, s:s}", "type", "OTP", "id", "sms",
						"format", "N", "label", "SMS-TAN", "description",
						"one-time code sent by SMS to the user's mobile number"));
	else if (strcmp(f, "app") == 0)
		json_array_append_new(
			objs, json_pack("{s:s, s:s, s:s, s:s, s:s}", "type", "OTP", "id", "app", "format",
					"N", "label", "Authenticator app", "description",
					"one-time code from the user's registered authenticator app"));
	json_object_set_new(auth, "expression", json_string(strcmp(f, "none") == 0 ? "PIN" : "PIN AND OTP"));
	json_object_set_new(auth, "objects", objs);
	return auth;
}

json_t *csc_credential(const struct csc_row *r, const struct csc_opts *o, const char *chain_pem, int with_id,
		       struct ra_err *e)
{
	X509 *x = r->pem ? pem_cert(r->pem) : NULL;
	json_t *info = NULL, *key, *cert;

	if (x == NULL) {
		ERR_clear_error();
		ra_err_set(e, RA_E_INTERNAL, "credentialID",
			   "credential %s: the stored certificate cannot be read", r->id);
		return NULL;
	}
	key = key_json(r, x);
	cert = cert_json(r, o, x, chain_pem);
	if (key == NULL || cert == NULL) {
		json_decref(key);
		json_decref(cert);
		ra_err_set(e, RA_E_INTERNAL, "credentialID",
			   "credential %s: its certificate or chain cannot be encoded", r->id);
		goto out;
	}
	info = json_pack("{s:o, s:s, s:o, s:o, s:o, s:s, s:i}", "description", description(r),
			 "signatureQualifier", qualifier(r->cls), "key", key, "cert", cert, "auth",
			 auth_json(r, o), "SCAL", in_state(r->cls, "qualified", NULL) ? "2" : "1",
			 "multisign", 1);
	if (info && with_id)
		json_object_set_new(info, "credentialID", json_string(r->id));
out:
	X509_free(x);
	return info;
}
