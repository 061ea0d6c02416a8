/*
 * cab_cert.c - certificates and requests as both back-ends handle them: a cab_cert filled
 * from DER, the request's CSR (built on the token or given, verified either way, key type
 * checked), and the canonical form of a serial number.
 */
#include "ca-bridge/cab_int.h"

#include <ctype.h>
#include <openssl/ec.h>
#include <openssl/err.h>
#include <openssl/pem.h>
#include <stdlib.h>
#include <string.h>

int cab_serial_canon(const char *in, char out[48])
{
	size_t n = 0;

	if (in == NULL || in[0] == '\0')
		return CAB_E_INVALID;
	while (in[0] == '0' && in[1] != '\0')
		in++;
	for (; in[n] != '\0'; n++) {
		if (!isxdigit((unsigned char)in[n]) || n >= 40)
			return CAB_E_INVALID;
		out[n] = (char)toupper((unsigned char)in[n]);
	}
	out[n] = '\0';
	return 0;
}

static time_t asn1_time_t(const ASN1_TIME *t)
{
	struct tm tm;

	if (!ASN1_TIME_to_tm(t, &tm))
		return 0;
	return timegm(&tm);
}

/* Fills out from a stored certificate's DER. */
int cab_cert_fill(const unsigned char *der, size_t len, struct cab_cert *out, struct cab_err *err)
{
	const unsigned char *p = der;
	X509 *x = d2i_X509(NULL, &p, (long)len);
	int rc;

	if (x == NULL) {
		memset(out, 0, sizeof(*out));
		return cab_err_ossl(err, CAB_E_CA, "cannot decode an issued certificate");
	}
	rc = cab_cert_fill_x509(x, der, len, out, err);
	X509_free(x);
	return rc;
}

/* Fills out from a certificate and its DER (x is the decoded der, or the certificate der was
 * just encoded from: a fresh one is not decoded again). */
int cab_cert_fill_x509(X509 *x, const unsigned char *der, size_t len, struct cab_cert *out,
		       struct cab_err *err)
{
	BIGNUM *bn = NULL;
	char *hex = NULL, *pem;
	BIO *mem = NULL;
	long pemlen;
	int rc = 0;

	memset(out, 0, sizeof(*out));
	if ((bn = ASN1_INTEGER_to_BN(X509_get0_serialNumber(x), NULL)) == NULL ||
	    (hex = BN_bn2hex(bn)) == NULL || (mem = BIO_new(BIO_s_mem())) == NULL ||
	    !PEM_write_bio_X509(mem, x) ||
	    cab_spki_sha256(X509_get_X509_PUBKEY(x), out->spki_sha256_hex) != 0) {
		rc = cab_err_ossl(err, CAB_E_CA, "cannot decode an issued certificate");
		goto out;
	}
	pemlen = BIO_get_mem_data(mem, &pem);
	out->der = malloc(len);
	out->pem = malloc((size_t)pemlen + 1);
	if (out->der == NULL || out->pem == NULL) {
		cab_cert_free(out);
		rc = cab_err_set(err, CAB_E_NOMEM, "", "out of memory");
		goto out;
	}
	memcpy(out->der, der, len);
	out->der_len = len;
	memcpy(out->pem, pem, (size_t)pemlen);
	out->pem[pemlen] = '\0';
	cab_serial_canon(hex, out->serial_hex); /* BN_bn2hex: at most 40 digits for our serials */
	out->not_before = asn1_time_t(X509_get0_notBefore(x));
	out->not_after = asn1_time_t(X509_get0_notAfter(x));
out:
	BIO_free(mem);
	OPENSSL_free(hex);
	BN_free(bn);
	return rc;
}

void cab_cert_free(struct cab_cert *cert)
{
	if (cert == NULL)
		return;
	free(cert->der);
	free(cert->pem);
	cert->der = NULL;
	cert->pem = NULL;
	cert->der_len = 0;
}

/* Keys the profiles accept: EC P-256 or RSA of at least 3072 bits. */
static int check_key(EVP_PKEY *pub, struct cab_err *err)
{
	char group[32] = "";
	size_t glen;

	if (EVP_PKEY_get_base_id(pub) == EVP_PKEY_RSA && EVP_PKEY_get_bits(pub) >= 3072)
		return 0;
	if (EVP_PKEY_get_base_id(pub) == EVP_PKEY_EC &&
	    EVP_PKEY_get_utf8_string_param(pub, "group", group, sizeof(group), &glen) &&
	    strcmp(group, "prime256v1") == 0)
		return 0;
	return cab_err_set(err, CAB_E_PROFILE, "key", "key type or size outside the profile");
}

/* 1 if the request's SubjectPublicKeyInfo is what OpenSSL encodes for its key. */
static int spki_canonical(X509_REQ *csr, EVP_PKEY *key)
{
	unsigned char *a = NULL, *b = NULL;
	int na = i2d_X509_PUBKEY(X509_REQ_get_X509_PUBKEY(csr), &a), nb = i2d_PUBKEY(key, &b);
	int ok = na > 0 && na == nb && memcmp(a, b, (size_t)na) == 0;

	OPENSSL_free(a);
	OPENSSL_free(b);
	return ok;
}

/* The request's CSR and its key: built on the token (checked there, with the key it was built
 * for), or decoded and its signature verified; the key type checked either way. */
int cab_request_csr(struct cab *cab, const struct cab_request *req, X509_REQ **csr, EVP_PKEY **key,
		    struct cab_err *err)
{
	const unsigned char *p = req->csr_der;
	int rc;

	*key = NULL;
	if (req->key_id != NULL) {
		if ((rc = cab_csr_build(cab, req->key_id, req->wrapped, &req->subject, req->first_sig,
					req->first_sig_len, csr, key, err)) != 0)
			return rc;
	} else {
		*csr = d2i_X509_REQ(NULL, &p, (long)req->csr_len);
		if (*csr == NULL || p != req->csr_der + req->csr_len) {
			ERR_clear_error();
			return cab_err_set(err, CAB_E_INVALID, "csr", "cannot decode the CSR");
		}
		if (X509_REQ_get0_pubkey(*csr) == NULL ||
		    X509_REQ_verify(*csr, X509_REQ_get0_pubkey(*csr)) != 1) {
			ERR_clear_error();
			return cab_err_set(err, CAB_E_INVALID, "csr", "the CSR's signature does not verify");
		}
		*key = X509_REQ_get_pubkey(*csr);
		if (*key == NULL)
			return cab_err_set(err, CAB_E_NOMEM, "", "out of memory");
		/* the certificate copies the request's key bits as they are (cab_spki_copy): they must
		 * be the key's own DER encoding, not a form OpenSSL's decoder also accepts (a trailing
		 * byte in an RSA key, parameters left out), so its fingerprint is the key's */
		if (!spki_canonical(*csr, *key)) {
			ERR_clear_error();
			return cab_err_set(err, CAB_E_INVALID, "csr",
					   "the CSR's public key is not in its canonical DER encoding");
		}
	}
	return check_key(*key, err);
}
