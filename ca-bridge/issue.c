/*
 * issue.c - the local CA issues a certificate for a request, once.
 *
 * Idempotent by request id: the certificate is written to ca_dir/issued/<id>.der (temp
 * file, fsync, rename) before its serial goes into issued.log, and every request first looks
 * there.  A retried job, or a second thread with the same id, gets the same certificate; a
 * crash between the two writes is repaired on the retry (the log line is added then).
 */
#include "ca-bridge/cab_int.h"

#include <openssl/ec.h>
#include <openssl/err.h>
#include <openssl/pem.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static time_t asn1_time_t(const ASN1_TIME *t)
{
	struct tm tm;

	if (!ASN1_TIME_to_tm(t, &tm))
		return 0;
	return timegm(&tm);
}

/* Fills out from a certificate's DER (the stored one or a fresh one). */
int cab_cert_fill(const unsigned char *der, size_t len, struct cab_cert *out, struct cab_err *err)
{
	const unsigned char *p = der;
	X509 *x = d2i_X509(NULL, &p, (long)len);
	BIGNUM *bn = NULL;
	char *hex = NULL, *pem;
	BIO *mem = NULL;
	long pemlen;
	int rc = 0;

	memset(out, 0, sizeof(*out));
	if (x == NULL || (bn = ASN1_INTEGER_to_BN(X509_get0_serialNumber(x), NULL)) == NULL ||
	    (hex = BN_bn2hex(bn)) == NULL || (mem = BIO_new(BIO_s_mem())) == NULL ||
	    !PEM_write_bio_X509(mem, x) || cab_spki_sha256(X509_get0_pubkey(x), out->spki_sha256_hex) != 0) {
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
	X509_free(x);
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

/* Under the state lock: the certificate already issued for id, if any (1 = found). */
static int lookup_issued(struct cab *cab, const char *id, struct cab_cert *out, struct cab_err *err)
{
	char path[4096];
	unsigned char *der = NULL;
	size_t len;
	int rc;

	snprintf(path, sizeof(path), "%s/issued/%s.der", cab->ca_dir, id);
	rc = cab_read_file(path, &der, &len);
	if (rc == CAB_E_NOTFOUND)
		return 0;
	if (rc != 0)
		return cab_err_set(err, rc, "ca.dir", "cannot read %s", path);
	rc = cab_cert_fill(der, len, out, err);
	free(der);
	/* crash after the certificate, before its log line: add the line now */
	if (rc == 0 && cab_index_get(&cab->index, out->serial_hex) == NULL)
		rc = cab_store_issued(cab, out->serial_hex, out->not_after, id, err);
	if (rc != 0) {
		cab_cert_free(out);
		return rc;
	}
	return 1;
}

static int check_existing(struct cab *cab, const char *id, struct cab_cert *out, struct cab_err *err)
{
	int rc = cab_state_lock(cab, err);

	if (rc != 0)
		return rc;
	rc = lookup_issued(cab, id, out, err);
	cab_state_unlock(cab);
	return rc;
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

/* The request's CSR: built on the token, or decoded; its signature verified either way. */
int cab_request_csr(struct cab *cab, const struct cab_request *req, X509_REQ **csr, struct cab_err *err)
{
	const unsigned char *p = req->csr_der;
	int rc;

	if (req->key_id != NULL) {
		if ((rc = cab_csr_build(cab, req->key_id, &req->subject, csr, err)) != 0)
			return rc;
	} else {
		*csr = d2i_X509_REQ(NULL, &p, (long)req->csr_len);
		if (*csr == NULL || p != req->csr_der + req->csr_len) {
			ERR_clear_error();
			return cab_err_set(err, CAB_E_INVALID, "csr", "cannot decode the CSR");
		}
	}
	if (X509_REQ_get0_pubkey(*csr) == NULL || X509_REQ_verify(*csr, X509_REQ_get0_pubkey(*csr)) != 1) {
		ERR_clear_error();
		return cab_err_set(err, CAB_E_INVALID, "csr", "the CSR's signature does not verify");
	}
	return check_key(X509_REQ_get0_pubkey(*csr), err);
}

static int set_validity(X509 *x, int years)
{
	time_t now = time(NULL), end;
	struct tm tm;

	gmtime_r(&now, &tm);
	tm.tm_year += years; /* calendar years; 29 Feb becomes 1 Mar */
	end = timegm(&tm);
	return ASN1_TIME_set(X509_getm_notBefore(x), now) != NULL && ASN1_TIME_set(X509_getm_notAfter(x), end) != NULL;
}

/* Under the state lock: build, sign and store the certificate. */
static int sign_and_store(struct cab *cab, const struct cab_request *req, X509_REQ *csr, X509_NAME *subject,
			  int years, struct cab_cert *out, struct cab_err *err)
{
	X509 *x = X509_new();
	ASN1_INTEGER *serial = NULL;
	unsigned char *der = NULL;
	char hex[48], dir[4096], name[80];
	int n, rc;

	if (x == NULL || cab_serial_new(cab, &serial, hex) != 0 || !X509_set_version(x, X509_VERSION_3) ||
	    !X509_set_serialNumber(x, serial) || !X509_set_issuer_name(x, X509_get_subject_name(cab->ca_cert)) ||
	    !X509_set_subject_name(x, subject) || !set_validity(x, years) ||
	    !X509_set_pubkey(x, X509_REQ_get0_pubkey(csr))) {
		rc = cab_err_ossl(err, CAB_E_CA, "cannot build the certificate");
		goto out;
	}
	if ((rc = cab_profile_extensions(cab, x, cab->ca_cert, req->cls, err)) != 0)
		goto out;
	if (X509_sign(x, cab->ca_key, EVP_sha256()) <= 0 || (n = i2d_X509(x, &der)) <= 0) {
		rc = cab_err_ossl(err, CAB_E_CA, "cannot sign the certificate");
		goto out;
	}
	snprintf(dir, sizeof(dir), "%s/issued", cab->ca_dir);
	snprintf(name, sizeof(name), "%s.der", req->request_id);
	if ((rc = cab_write_atomic(dir, name, der, (size_t)n, 0644, err)) != 0 ||
	    (rc = cab_cert_fill(der, (size_t)n, out, err)) != 0)
		goto out;
	rc = cab_store_issued(cab, hex, out->not_after, req->request_id, err);
	if (rc != 0)
		cab_cert_free(out);
out:
	OPENSSL_free(der);
	ASN1_INTEGER_free(serial);
	X509_free(x);
	return rc;
}

int cab_issue(struct cab *cab, const struct cab_request *req, struct cab_cert *out, struct cab_err *err)
{
	X509_REQ *csr = NULL;
	X509_NAME *subject = NULL;
	int years, rc;

	if (cab == NULL || req == NULL || out == NULL)
		return cab_err_set(err, CAB_E_INVALID, "", "missing argument");
	memset(out, 0, sizeof(*out));
	if (!cab_id_ok(req->request_id))
		return cab_err_set(err, CAB_E_INVALID, "request_id", "request id must be 1..64 of [A-Za-z0-9._-]");
	if ((req->key_id != NULL) == (req->csr_der != NULL))
		return cab_err_set(err, CAB_E_INVALID, "key_id", "give exactly one of key_id and csr");
	if ((rc = cab_profile_check(req, &years, err)) != 0 ||
	    (rc = cab_profile_subject(&req->subject, req->cls, &subject, err)) != 0)
		goto out;
	if (cab->cmp != NULL) {
		/* the same checks as the local CA's, then the CA over CMP (cmp_client.c) */
		rc = cab_cmp_issue(cab, req, subject, years, out, err);
		goto out;
	}
	rc = check_existing(cab, req->request_id, out, err);
	if (rc != 0) {
		rc = rc > 0 ? 0 : rc;
		goto out;
	}
	/* the token signs the CSR outside the CA lock; issuing is quick and locked */
	if ((rc = cab_request_csr(cab, req, &csr, err)) != 0 || (rc = cab_state_lock(cab, err)) != 0)
		goto out;
	rc = lookup_issued(cab, req->request_id, out, err);
	if (rc == 0)
		rc = sign_and_store(cab, req, csr, subject, years, out, err);
	else if (rc > 0)
		rc = 0; /* another thread issued it meanwhile */
	cab_state_unlock(cab);
out:
	X509_REQ_free(csr);
	X509_NAME_free(subject);
	return rc;
}
