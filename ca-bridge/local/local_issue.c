/*
 * local_issue.c - the local CA issues a certificate for a request, once.
 *
 * Idempotent by request id: the certificate, its serial and its request id are one row of the
 * CA's record (ca_dir/ca.db, one transaction), and every request first looks there.  A
 * retried job, or a second thread with the same id, gets the same certificate; a crash, a
 * torn write or a full disk before the commit leaves no trace, and the retry issues anew.
 */
#include "ca-bridge/local/local_int.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Under the state lock: the certificate already issued for id, if any (1 = found). */
static int lookup_issued(struct cab_local *l, const char *id, struct cab_cert *out, struct cab_err *err)
{
	unsigned char *der = NULL;
	size_t len = 0;
	int rc = cab_local_store_find(l, id, &der, &len, err);

	if (rc <= 0)
		return rc;
	rc = cab_cert_fill(der, len, out, err);
	free(der);
	return rc != 0 ? rc : 1;
}

static int check_existing(struct cab_local *l, const char *id, struct cab_cert *out, struct cab_err *err)
{
	int rc = cab_local_lock(l, err);

	if (rc != 0)
		return rc;
	rc = lookup_issued(l, id, out, err);
	cab_local_unlock(l);
	return rc;
}

static int set_validity(X509 *x, int years)
{
	time_t now = time(NULL), end;
	struct tm tm;

	gmtime_r(&now, &tm);
	tm.tm_year += years; /* calendar years; 29 Feb becomes 1 Mar */
	end = timegm(&tm);
	return ASN1_TIME_set(X509_getm_notBefore(x), now) != NULL &&
	       ASN1_TIME_set(X509_getm_notAfter(x), end) != NULL;
}

/* Under the state lock: build, sign and store the certificate. */
static int sign_and_store(struct cab_local *l, const struct cab_request *req, X509_REQ *csr,
			  X509_NAME *subject, int years, struct cab_cert *out, struct cab_err *err)
{
	X509 *x = X509_new();
	ASN1_INTEGER *serial = NULL;
	unsigned char *der = NULL;
	char hex[48];
	int n, rc;

	if (x == NULL || cab_local_serial_new(l, &serial, hex) != 0 || !X509_set_version(x, X509_VERSION_3) ||
	    !X509_set_serialNumber(x, serial) ||
	    !X509_set_issuer_name(x, X509_get_subject_name(l->ca_cert)) ||
	    !X509_set_subject_name(x, subject) || !set_validity(x, years) ||
	    cab_spki_copy(X509_get_X509_PUBKEY(x), X509_REQ_get_X509_PUBKEY(csr)) != 0) {
		rc = cab_err_ossl(err, CAB_E_CA, "cannot build the certificate");
		goto out;
	}
	if ((rc = cab_local_extensions(l, x, l->ca_cert, req->cls, err)) != 0)
		goto out;
	if (X509_sign(x, l->ca_key, EVP_sha256()) <= 0 || (n = i2d_X509(x, &der)) <= 0) {
		rc = cab_err_ossl(err, CAB_E_CA, "cannot sign the certificate");
		goto out;
	}
	if ((rc = cab_cert_fill_x509(x, der, (size_t)n, out, err)) != 0)
		goto out;
	rc = cab_local_store_issued(l, hex, out->not_after, req->request_id, der, (size_t)n, err);
	if (rc != 0)
		cab_cert_free(out);
out:
	OPENSSL_free(der);
	ASN1_INTEGER_free(serial);
	X509_free(x);
	return rc;
}

int cab_local_issue(struct cab *cab, const struct cab_request *req, X509_NAME *subject, int years,
		    struct cab_cert *out, struct cab_err *err)
{
	struct cab_local *l = cab_local_of(cab);
	X509_REQ *csr = NULL;
	EVP_PKEY *key = NULL;
	int rc = check_existing(l, req->request_id, out, err);

	if (rc != 0)
		return rc > 0 ? 0 : rc;
	/* the token signs the CSR outside the CA lock; issuing is quick and locked */
	if ((rc = cab_request_csr(cab, req, &csr, &key, err)) != 0 || (rc = cab_local_lock(l, err)) != 0)
		goto out;
	rc = lookup_issued(l, req->request_id, out, err);
	if (rc == 0)
		rc = sign_and_store(l, req, csr, subject, years, out, err);
	else if (rc > 0)
		rc = 0; /* another thread issued it meanwhile */
	cab_local_unlock(l);
out:
	X509_REQ_free(csr);
	EVP_PKEY_free(key);
	return rc;
}
