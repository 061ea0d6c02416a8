/*
 * local_issue.c - the local CA issues a certificate for a request, once.
 *
 * Idempotent by request id: the certificate is written to ca_dir/issued/<id>.der (temp
 * file, fsync, rename) before its serial goes into issued.log, and every request first looks
 * there.  A retried job, or a second thread with the same id, gets the same certificate; a
 * crash between the two writes is repaired on the retry (the log line is added then).
 */
#include "ca-bridge/local/local_int.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Under the state lock: the certificate already issued for id, if any (1 = found). */
static int lookup_issued(struct cab_local *l, const char *id, struct cab_cert *out, struct cab_err *err)
{
	char path[4096];
	unsigned char *der = NULL;
	size_t len;
	int rc;

	snprintf(path, sizeof(path), "%s/issued/%s.der", l->ca_dir, id);
	rc = cab_read_file(path, &der, &len);
	if (rc == CAB_E_NOTFOUND)
		return 0;
	if (rc != 0)
		return cab_err_set(err, rc, "ca.dir", "cannot read %s", path);
	rc = cab_cert_fill(der, len, out, err);
	free(der);
	/* crash after the certificate, before its log line: add the line now */
	if (rc == 0 && cab_local_index_get(&l->index, out->serial_hex) == NULL)
		rc = cab_local_store_issued(l, out->serial_hex, out->not_after, id, err);
	if (rc != 0) {
		cab_cert_free(out);
		return rc;
	}
	return 1;
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
	return ASN1_TIME_set(X509_getm_notBefore(x), now) != NULL && ASN1_TIME_set(X509_getm_notAfter(x), end) != NULL;
}

/* Under the state lock: build, sign and store the certificate. */
static int sign_and_store(struct cab_local *l, const struct cab_request *req, X509_REQ *csr,
			  X509_NAME *subject, int years, struct cab_cert *out, struct cab_err *err)
{
	X509 *x = X509_new();
	ASN1_INTEGER *serial = NULL;
	unsigned char *der = NULL;
	char hex[48], dir[4096], name[80];
	int n, rc;

	if (x == NULL || cab_local_serial_new(l, &serial, hex) != 0 || !X509_set_version(x, X509_VERSION_3) ||
	    !X509_set_serialNumber(x, serial) || !X509_set_issuer_name(x, X509_get_subject_name(l->ca_cert)) ||
	    !X509_set_subject_name(x, subject) || !set_validity(x, years) ||
	    !X509_set_pubkey(x, X509_REQ_get0_pubkey(csr))) {
		rc = cab_err_ossl(err, CAB_E_CA, "cannot build the certificate");
		goto out;
	}
	if ((rc = cab_local_extensions(l, x, l->ca_cert, req->cls, err)) != 0)
		goto out;
	if (X509_sign(x, l->ca_key, EVP_sha256()) <= 0 || (n = i2d_X509(x, &der)) <= 0) {
		rc = cab_err_ossl(err, CAB_E_CA, "cannot sign the certificate");
		goto out;
	}
	snprintf(dir, sizeof(dir), "%s/issued", l->ca_dir);
	snprintf(name, sizeof(name), "%s.der", req->request_id);
	if ((rc = cab_write_atomic(dir, name, der, (size_t)n, 0644, err)) != 0 ||
	    (rc = cab_cert_fill(der, (size_t)n, out, err)) != 0)
		goto out;
	rc = cab_local_store_issued(l, hex, out->not_after, req->request_id, err);
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
	int rc = check_existing(l, req->request_id, out, err);

	if (rc != 0)
		return rc > 0 ? 0 : rc;
	/* the token signs the CSR outside the CA lock; issuing is quick and locked */
	if ((rc = cab_request_csr(cab, req, &csr, err)) != 0 || (rc = cab_local_lock(l, err)) != 0)
		goto out;
	rc = lookup_issued(l, req->request_id, out, err);
	if (rc == 0)
		rc = sign_and_store(l, req, csr, subject, years, out, err);
	else if (rc > 0)
		rc = 0; /* another thread issued it meanwhile */
	cab_local_unlock(l);
out:
	X509_REQ_free(csr);
	return rc;
}
