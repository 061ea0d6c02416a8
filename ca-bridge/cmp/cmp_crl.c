/*
 * cmp_crl.c - CRL and chain for the "cmp" back-end.  CMP has no plain "give me the CRL"
 * (genm CRL update arrived with RFC 9483's crlStatusList, OpenSSL 3.4), so cab_crl fetches
 * the CA's published CRL over HTTP (cmp_crl_url; the ca-bridge server serves GET /crl) and
 * passes it on only after its signature verifies with a certificate from cmp_trusted.
 *
 * Cache: a CRL is kept for CACHE_S seconds and dropped after every revocation through this
 * handle (R14: the next call shows it); a revocation made elsewhere shows within CACHE_S.
 */
#include "ca-bridge/cmp/cmp_int.h"

#include <openssl/err.h>
#include <openssl/http.h>
#include <openssl/pem.h>
#include <stdlib.h>
#include <string.h>

#define CACHE_S 5
#define MAX_CRL (64u << 20)

/* The CRL's signature verifies with the key of a trust anchor named as its issuer. */
static int crl_trusted(struct cab_cmp *c, X509_CRL *crl)
{
	for (int i = 0; i < sk_X509_num(c->anchors); i++) {
		X509 *a = sk_X509_value(c->anchors, i);

		if (X509_NAME_cmp(X509_get_subject_name(a), X509_CRL_get_issuer(crl)) == 0 &&
		    X509_CRL_verify(crl, X509_get0_pubkey(a)) == 1)
			return 1;
	}
	ERR_clear_error();
	return 0;
}

static int fetch(struct cab_cmp *c, unsigned char **der, size_t *len, struct cab_err *err)
{
	BIO *rsp = OSSL_HTTP_get(c->crl_url, NULL, NULL, NULL, NULL, cab_cmp_http_cb, NULL, 0, NULL,
				 "application/pkix-crl", 1, MAX_CRL, c->timeout_s);
	X509_CRL *crl = NULL;
	const unsigned char *p;
	char *data;
	long n;
	int rc = 0;

	if (rsp == NULL) {
		return cab_err_ossl(err, CAB_E_IO, "cannot fetch the CA's CRL");
	}
	n = BIO_get_mem_data(rsp, &data);
	p = (const unsigned char *)data;
	crl = n > 0 ? d2i_X509_CRL(NULL, &p, n) : NULL;
	if (crl == NULL || p != (const unsigned char *)data + n) {
		rc = cab_err_ossl(err, CAB_E_CA, "the CA's CRL does not parse");
		goto out;
	}
	if (!crl_trusted(c, crl)) {
		rc = cab_err_set(err, CAB_E_CA, "cmp.trusted",
				 "the CA's CRL is not signed by a certificate in cmp.trusted");
		goto out;
	}
	*der = malloc((size_t)n);
	if (*der == NULL) {
		rc = cab_err_set(err, CAB_E_NOMEM, "", "out of memory");
		goto out;
	}
	memcpy(*der, data, (size_t)n);
	*len = (size_t)n;
out:
	X509_CRL_free(crl);
	BIO_free(rsp);
	return rc;
}

int cab_cmp_crl(struct cab *cab, unsigned char **der, size_t *len, struct cab_err *err)
{
	struct cab_cmp *c = cab_cmp_of(cab);
	time_t now = time(NULL);
	int rc = 0;

	pthread_mutex_lock(&c->crl_lock);
	if (c->crl == NULL || c->crl_at == 0 || now - c->crl_at >= CACHE_S || now < c->crl_at) {
		unsigned char *fresh = NULL;
		size_t flen = 0;

		if ((rc = fetch(c, &fresh, &flen, err)) != 0)
			goto out;
		free(c->crl);
		c->crl = fresh;
		c->crl_len = flen;
		c->crl_at = now;
	}
	*der = malloc(c->crl_len);
	if (*der == NULL) {
		rc = cab_err_set(err, CAB_E_NOMEM, "", "out of memory");
		goto out;
	}
	memcpy(*der, c->crl, c->crl_len);
	*len = c->crl_len;
out:
	pthread_mutex_unlock(&c->crl_lock);
	return rc;
}

int cab_cmp_chain_pem(struct cab *cab, char **pem, struct cab_err *err)
{
	struct cab_cmp *c = cab_cmp_of(cab);
	BIO *mem = BIO_new(BIO_s_mem());
	char *data;
	long len;
	int rc = 0;

	/* the CA certificates among the trust anchors (not, e.g., a CMP signer's own certificate) */
	for (int i = 0; mem != NULL && i < sk_X509_num(c->anchors); i++) {
		X509 *a = sk_X509_value(c->anchors, i);

		if (X509_check_ca(a) > 0 && !PEM_write_bio_X509(mem, a)) {
			rc = cab_err_ossl(err, CAB_E_NOMEM, "cannot encode the CA chain");
			goto out;
		}
	}
	if (mem == NULL) {
		rc = cab_err_set(err, CAB_E_NOMEM, "", "out of memory");
		goto out;
	}
	len = BIO_get_mem_data(mem, &data);
	*pem = malloc((size_t)len + 1);
	if (*pem == NULL) {
		rc = cab_err_set(err, CAB_E_NOMEM, "", "out of memory");
		goto out;
	}
	memcpy(*pem, data, (size_t)len);
	(*pem)[len] = '\0';
out:
	BIO_free(mem);
	return rc;
}
