/*
 * local_issue.c - the local CA issues a certificate for a request, once.
 *
 * Idempotent by request id: the certificate, its serial and its request id are one row of the
 * CA's record (ca_dir/ca.db), and every request first looks there.  A retried job, or a
 * second thread with the same id, gets the same certificate; a crash, a torn write or a full
 * disk before the commit leaves no trace, and the retry issues anew.
 *
 * Group commit: the certificate is built and signed outside the CA lock; only its record is
 * taken under it.  Certificates of several threads that wait for the record at once go into
 * one transaction (one fsync, RECORD_BATCH_MAX at most): the first waiter records them, each
 * caller returns once its own row is durable, exactly as when it commits alone.  The lock was
 * held for one fsync per certificate before; with several issuing at once it was the queue
 * they stood in.
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

/* Build and sign the certificate: no CA state (the key and certificate are read-only after
 * open, OpenSSL signs with a shared key from several threads), so outside the lock. */
static int build_and_sign(struct cab_local *l, const struct cab_request *req, X509_REQ *csr,
			  X509_NAME *subject, int years, X509 **out, unsigned char **der, int *der_len,
			  char hex[48], struct cab_err *err)
{
	X509 *x = X509_new();
	ASN1_INTEGER *serial = NULL;
	int rc = 0;

	/* a fresh random serial; the recorder checks it against the index under the lock */
	if (x == NULL || cab_local_serial_new(NULL, &serial, hex) != 0 ||
	    !X509_set_version(x, X509_VERSION_3) || !X509_set_serialNumber(x, serial) ||
	    !X509_set_issuer_name(x, X509_get_subject_name(l->ca_cert)) ||
	    !X509_set_subject_name(x, subject) || !set_validity(x, years) ||
	    cab_spki_copy(X509_get_X509_PUBKEY(x), X509_REQ_get_X509_PUBKEY(csr)) != 0) {
		rc = cab_err_ossl(err, CAB_E_CA, "cannot build the certificate");
		goto out;
	}
	if ((rc = cab_local_extensions(l, x, l->ca_cert, req->cls, err)) != 0)
		goto out;
	if (X509_sign(x, l->ca_key, EVP_sha256()) <= 0 || (*der_len = i2d_X509(x, der)) <= 0) {
		rc = cab_err_ossl(err, CAB_E_CA, "cannot sign the certificate");
		goto out;
	}
	*out = x;
	x = NULL;
out:
	ASN1_INTEGER_free(serial);
	X509_free(x);
	return rc;
}

/*
 * Under the state lock: the batch's answers, then its new certificates in one transaction.
 * A request recorded meanwhile (another thread, process or an earlier entry of this batch)
 * gets that certificate; a serial already in the index (2^-128) is refused and the job's
 * retry signs anew.  If the transaction fails, every entry it held gets the error.
 */
static void record_batch(struct cab_local *l, struct cab_local_pending **p, int n)
{
	struct cab_err err = {0};
	int rc = cab_local_lock(l, &err), fresh = 0;
	int held = rc == 0; /* a failed cab_local_lock holds nothing */

	for (int i = 0; rc == 0 && i < n; i++) {
		int found =
			cab_local_store_find(l, p[i]->request_id, &p[i]->found, &p[i]->found_len, &p[i]->err);

		if (found < 0) {
			p[i]->rc = found;
			continue;
		}
		for (int k = 0; found == 0 && k < i; k++)
			if (p[k]->rc == 0 && p[k]->found == NULL &&
			    strcmp(p[k]->request_id, p[i]->request_id) == 0) {
				/* the same request twice in one batch: the first one's certificate */
				found = 1;
				p[i]->from_batch = 1;
				p[i]->found = malloc(p[k]->der_len);
				if (p[i]->found == NULL) {
					p[i]->rc = cab_err_set(&p[i]->err, CAB_E_NOMEM, "", "out of memory");
					break;
				}
				memcpy(p[i]->found, p[k]->der, p[k]->der_len);
				p[i]->found_len = p[k]->der_len;
			}
		if (found == 0 && cab_local_index_get(&l->index, p[i]->serial) != NULL)
			p[i]->rc = cab_err_set(&p[i]->err, CAB_E_CA, "serial", "serial %s is taken; retry",
					       p[i]->serial);
		fresh += found == 0 && p[i]->rc == 0;
	}
	if (rc == 0 && fresh > 0)
		rc = cab_local_store_issued(l, p, n, &err);
	if (held)
		cab_local_unlock(l);
	if (rc == 0)
		return;
	/* nothing of this batch was recorded: every entry that needed the record fails with it */
	for (int i = 0; i < n; i++)
		if (p[i]->rc == 0 && (p[i]->found == NULL || p[i]->from_batch)) {
			free(p[i]->found);
			p[i]->found = NULL;
			p[i]->rc = rc;
			p[i]->err = err;
		}
}

#define RECORD_BATCH_MAX 64 /* certificates per transaction of the record */

/* Queues e for the record and returns once it has its answer.  The first thread that finds
 * nobody recording takes what is queued (its own entry among it, oldest first) and records
 * it in one transaction; threads that queue meanwhile wait for the next one. */
static void record(struct cab_local *l, struct cab_local_pending *e)
{
	pthread_mutex_lock(&l->rec_lock);
	e->next = NULL;
	*(l->rec_queue != NULL ? &l->rec_last->next : &l->rec_queue) = e;
	l->rec_last = e;
	while (!e->done) {
		struct cab_local_pending *batch[RECORD_BATCH_MAX];
		int n = 0;

		if (l->rec_leader) {
			pthread_cond_wait(&l->rec_done, &l->rec_lock);
			continue;
		}
		l->rec_leader = 1;
		while (l->rec_queue != NULL && n < RECORD_BATCH_MAX) {
			batch[n++] = l->rec_queue;
			l->rec_queue = l->rec_queue->next;
		}
		pthread_mutex_unlock(&l->rec_lock);
		record_batch(l, batch, n);
		pthread_mutex_lock(&l->rec_lock);
		for (int k = 0; k < n; k++)
			batch[k]->done = 1;
		l->rec_leader = 0;
		pthread_cond_broadcast(&l->rec_done);
	}
	pthread_mutex_unlock(&l->rec_lock);
}

int cab_local_issue(struct cab *cab, const struct cab_request *req, X509_NAME *subject, int years,
		    struct cab_cert *out, struct cab_err *err)
{
	struct cab_local *l = cab_local_of(cab);
	struct cab_local_pending e = {0};
	X509_REQ *csr = NULL;
	EVP_PKEY *key = NULL;
	X509 *x = NULL;
	unsigned char *der = NULL;
	int der_len = 0;
	int rc = check_existing(l, req->request_id, out, err);

	if (rc != 0)
		return rc > 0 ? 0 : rc;
	/* the token signs the CSR, the CA key the certificate, outside the CA lock; only the
	 * record is taken under it, for as many certificates as wait for it at once */
	if ((rc = cab_request_csr(cab, req, &csr, &key, err)) != 0 ||
	    (rc = build_and_sign(l, req, csr, subject, years, &x, &der, &der_len, e.serial, err)) != 0)
		goto out;
	if ((rc = cab_cert_fill_x509(x, der, (size_t)der_len, out, err)) != 0)
		goto out;
	e.request_id = req->request_id;
	e.der = der;
	e.der_len = (size_t)der_len;
	e.not_after = out->not_after;
	record(l, &e);
	if (e.rc != 0 || e.found != NULL) {
		cab_cert_free(out);
		rc = e.rc;
		if (rc != 0)
			*err = e.err;
		else /* issued meanwhile: that one */
			rc = cab_cert_fill(e.found, e.found_len, out, err);
	}
out:
	free(e.found);
	OPENSSL_free(der);
	X509_free(x);
	X509_REQ_free(csr);
	EVP_PKEY_free(key);
	return rc;
}
