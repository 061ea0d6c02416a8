/*
 * srv_int.h - private to ca-bridge/srv/, the ca-bridge server: the local CA served over CMP
 * (srv_cmp.c) behind an HTTP/1.1 listener on libh2o and libuv (srv_http.c); srv_main.c reads
 * the options and runs it.  Prefix cab_srv_.  The program only; libcab.a and the service never link it.
 * It reaches the CA through the public cab.h alone.
 */
#ifndef CAB_SRV_INT_H
#define CAB_SRV_INT_H

#include "ca-bridge/cab.h"

#include <openssl/cmp.h>
#include <openssl/evp.h>
#include <openssl/x509.h>
#include <pthread.h>
#include <stddef.h>
#include <time.h>

/* One CMP transaction (srv_cmp.c): OpenSSL's server context, which keeps transactionID and
 * nonces, and the certificate issued in it.  A transaction whose certificate waits for the
 * client's certConf stays in the store (srv_tx.c) until it is confirmed or expires. */
struct cab_srv_tx {
	struct cab_srv *s;
	OSSL_CMP_SRV_CTX *srv;
	char id[72]; /* "tx-" + transactionID hex: the store's key and the CA's request id */
	X509 *cert; /* issued in this transaction (NULL: none) */
	char serial[80]; /* its serial, hex */
	int reserved; /* holds one of the store's slots */
	int rejected; /* the client's certConf refused the certificate */
	time_t deadline; /* in the store: revoked unless confirmed by then (CLOCK_MONOTONIC s) */
	struct cab_srv_tx *next;
};

/* The transactions waiting for certConf: bounded (max), each for timeout_s. */
struct cab_srv_txs {
	pthread_mutex_t lock;
	struct cab_srv_tx *head;
	int used; /* stored + reserved */
	int max;
	unsigned timeout_s;
};

struct cab_srv {
	struct cab *cab; /* the local CA (thread-safe) */
	X509 *ca_cert; /* its certificate (cab_chain_pem, read once: fixed after open) */
	/* protection of our answers, and what we accept from clients */
	unsigned char *secret; /* PBM secret (clients protect with the same) */
	size_t secret_len;
	char *reference; /* our senderKID in PBM mode */
	X509 *cert; /* signature mode: our CMP signer certificate and key */
	EVP_PKEY *key;
	X509_STORE *client_trusted; /* signature mode: anchors for the clients' certificates */
	enum cab_class default_class; /* for requests without certProfile; NONE: refuse them */
	const char *refuse_cn; /* fnmatch(3) pattern: refuse subjects whose CN matches */
	const char *refuse_o; /* ... and those whose organisation (O) matches */
	struct cab_srv_limits {
		size_t max_body; /* request body bytes; larger: 413 */
		unsigned request_timeout_s; /* whole request (accept to last body byte), and the answer */
		int max_conns; /* open connections in all; more: 503 at once */
		int max_conns_per_addr; /* open connections from one peer address */
	} limits;
	struct cab_srv_txs txs;
};

/* The defaults of the limits (docs/ca-bridge.md). */
#define CAB_SRV_MAX_BODY (1u << 20)
#define CAB_SRV_REQUEST_TIMEOUT_S 10
#define CAB_SRV_MAX_CONNS 256
#define CAB_SRV_MAX_CONNS_PER_ADDR 32
#define CAB_SRV_CONFIRM_TIMEOUT_S 300
#define CAB_SRV_MAX_PENDING 1000

/* One CMP request (DER) in, the response (DER, OPENSSL_malloc'd) out.  0, or -1 when the
 * request is not a CMP message at all (then the HTTP answer is 400). */
int cab_srv_cmp(struct cab_srv *s, const unsigned char *req, size_t len, unsigned char **rsp, size_t *rlen);

/* srv_tx.c: the store.  All calls are thread-safe. */
void cab_srv_txs_init(struct cab_srv_txs *t, int max, unsigned timeout_s);
/* A slot for a transaction that will wait for certConf: 0, or -1 when all are taken. */
int cab_srv_txs_reserve(struct cab_srv_txs *t);
void cab_srv_txs_release(struct cab_srv_txs *t);
/* Stores tx (which holds a reservation) until now + timeout_s. */
void cab_srv_txs_put(struct cab_srv_txs *t, struct cab_srv_tx *tx);
/* Puts a taken transaction back, its deadline unchanged. */
void cab_srv_txs_put_back(struct cab_srv_txs *t, struct cab_srv_tx *tx);
/* Takes the transaction with this id out of the store; NULL when there is none. */
struct cab_srv_tx *cab_srv_txs_take(struct cab_srv_txs *t, const char *id);
/* Takes one transaction whose deadline has passed (all of them when all != 0); NULL: none. */
struct cab_srv_tx *cab_srv_txs_take_expired(struct cab_srv_txs *t, int all);
/* 1 when a stored transaction's deadline has passed (cheap: for the loop's timer). */
int cab_srv_txs_due(struct cab_srv_txs *t);
void cab_srv_txs_destroy(struct cab_srv_txs *t);

/* srv_cmp.c: ends a transaction whose certificate was not confirmed: revokes that
 * certificate (cessationOfOperation), logs why, frees tx.  Blocks: the thread pool only. */
void cab_srv_tx_unconfirmed(struct cab_srv_tx *tx, const char *why);
/* Frees a transaction (and gives back its slot). */
void cab_srv_tx_free(struct cab_srv_tx *tx);
/* Revokes every expired stored certificate (all != 0: every stored one, at shutdown). */
void cab_srv_sweep(struct cab_srv *s, int all);

/* Binds host:port (port 0: any free one); *bound gets "host:port" as bound. */
int cab_srv_listen(const char *addr, int *fd, char *bound, size_t cap);
/* Serves lfd on a libuv loop until SIGTERM or SIGINT, the CA work on libuv's thread pool;
 * then finishes the requests in flight.  0 on a clean stop. */
int cab_srv_serve(struct cab_srv *s, int lfd);

/* srv_log.c: a log line on stderr: "ca-bridge: level=... event=... k=v ..." (never secrets
 * nor names); nothing while cab_srv_log_quiet is set (the fuzz harness). */
extern int cab_srv_log_quiet;
void cab_srv_log(const char *level, const char *event, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

#endif
