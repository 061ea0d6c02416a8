/*
 * cmp_int.h - private to ca-bridge/cmp/, the "cmp" back-end (cmp_client.c, cmp_record.c,
 * cmp_crl.c): the client's configuration, parsed once at open (struct cab_cmp, cab->be_ctx),
 * and its local record under ca_dir.  Prefix cab_cmp_.  Only cmp/ includes this; cab.c
 * reaches the back-end through cab_cmp_backend (cab_int.h).
 */
#ifndef CAB_CMP_INT_H
#define CAB_CMP_INT_H

#include "ca-bridge/cab_int.h"
#include "ca-bridge/cmp/cmp_asn.h"

#include <openssl/cmp.h>
#include <pthread.h>

struct cab_cmp {
	char *ca_dir; /* this side's record (cmp_record.c) */
	char *host, *port, *path; /* from cmp_url */
	unsigned char *secret; /* PBM; cleansed at close */
	size_t secret_len;
	char *reference;
	X509 *client_cert; /* signature protection */
	EVP_PKEY *client_key;
	X509_STORE *trusted; /* cmp_trusted: shared, reference-counted by each OSSL_CMP_CTX */
	STACK_OF(X509) * anchors; /* the same certificates, for the chain, CRL and RR issuer */
	char *crl_url;
	int timeout_s; /* per message; the whole transaction may take 4 times that */

	pthread_mutex_t crl_lock; /* guards the CRL cache */
	unsigned char *crl;
	size_t crl_len;
	time_t crl_at;
};

static inline struct cab_cmp *cab_cmp_of(struct cab *cab)
{
	return cab->be_ctx;
}

/* ---- the record (cmp_record.c) ---- */
/* Creates ca_dir/{txid,issued,serial}. */
int cab_cmp_rec_open(const char *ca_dir, struct cab_err *err);
/*
 * Locks request id (flock on ca_dir/txid/<id>: between threads and processes) and returns its
 * transactionID: the one stored by an earlier attempt, or a new random one, stored and synced
 * before this returns, so every retry of the request is the same CMP transaction.
 * *fd is the lock; release it with cab_cmp_rec_unlock.
 */
int cab_cmp_rec_lock(const char *ca_dir, const char *id, unsigned char txid[16], int *fd,
		     struct cab_err *err);
void cab_cmp_rec_unlock(int fd);
/* The certificate recorded for request id: 1 found (out filled), 0 none, < 0 error. */
int cab_cmp_rec_cert(const char *ca_dir, const char *id, struct cab_cert *out, struct cab_err *err);
/* Records the certificate for id (issued/<id>.der, then serial/<SERIAL>). */
int cab_cmp_rec_store(const char *ca_dir, const char *id, const struct cab_cert *c, struct cab_err *err);
/* The recorded certificate with that serial; CAB_E_NOTFOUND when none. */
int cab_cmp_rec_by_serial(const char *ca_dir, const char *serial, X509 **cert, struct cab_err *err);

/* ---- cmp_client.c, shared with cmp_crl.c ---- */
/* TCP_NODELAY on the connection OpenSSL's HTTP client just opened. */
BIO *cab_cmp_http_cb(BIO *bio, void *arg, int connect, int detail);

/* ---- cmp_crl.c: operations of cab_cmp_backend (cmp_client.c) ---- */
int cab_cmp_crl(struct cab *cab, unsigned char **der, size_t *len, struct cab_err *err);
int cab_cmp_chain_pem(struct cab *cab, char **pem, struct cab_err *err);

#endif
