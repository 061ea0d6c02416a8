/*
 * cab_int.h - private to ca-bridge/: the struct cab, and the functions its files share.
 * Nothing outside ca-bridge/ includes this; the public interface is cab.h.
 */
#ifndef CAB_INT_H
#define CAB_INT_H

#include "ca-bridge/cab.h"

#include <openssl/evp.h>
#include <openssl/x509.h>
#include <pthread.h>
#include <stdint.h>
#include <sys/types.h>

/* ---- errors (err.c) ---- */
int cab_err_set(struct cab_err *err, int code, const char *field, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));
/* Appends the first OpenSSL error queue entry to a message (and clears the queue). */
int cab_err_ossl(struct cab_err *err, int code, const char *what);

/* ---- growable byte buffer and DER helpers (der.c) ---- */
struct cab_buf {
	unsigned char *p;
	size_t len, cap;
};
int cab_buf_put(struct cab_buf *b, const void *data, size_t len);
void cab_buf_free(struct cab_buf *b);
/* Appends tag, DER length of len, then content. */
int cab_der_tlv(struct cab_buf *b, unsigned char tag, const void *content, size_t len);
/* Appends the DER OBJECT IDENTIFIER for a dotted OID. */
int cab_der_oid(struct cab_buf *b, const char *dotted);
void cab_hex(const unsigned char *in, size_t len, char *out); /* lowercase, NUL-terminated */
/* 1 when s is 1..64 characters of [A-Za-z0-9._-]: safe as a file name and a CKA_ID. */
int cab_id_ok(const char *s);

/* ---- PKCS#11 (p11.c) ---- */
struct cab_p11;
int cab_p11_open(struct cab_p11 **out, const char *module, const char *label, const char *pin,
		 struct cab_err *err);
void cab_p11_close(struct cab_p11 *p);
/* Generates (or finds) the key pair with CKA_ID key_id; returns its public key. */
int cab_p11_keygen(struct cab_p11 *p, const char *key_id, enum cab_alg alg, EVP_PKEY **pub,
		   enum cab_alg *got, int *existed, struct cab_err *err);
/* Finds the key pair with CKA_ID key_id; CAB_E_NOTFOUND when there is none. */
int cab_p11_find(struct cab_p11 *p, const char *key_id, EVP_PKEY **pub, enum cab_alg *alg,
		 struct cab_err *err);
/* Signs a SHA-256 digest with the private key key_id: DER ECDSA-Sig-Value for EC,
 * PKCS#1 v1.5 for RSA.  *sig is OPENSSL_malloc'd. */
int cab_p11_sign_digest(struct cab_p11 *p, const char *key_id, enum cab_alg alg,
			const unsigned char dgst[32], unsigned char **sig, size_t *siglen,
			struct cab_err *err);

/* ---- key helpers (keyinfo.c) ---- */
int cab_key_fill(EVP_PKEY *pub, enum cab_alg alg, struct cab_key *out, struct cab_err *err);
int cab_spki_sha256(EVP_PKEY *pub, char hex[65]);

/* ---- CSR (csr.c) ---- */
/* Builds and token-signs a request; *out is the X509_REQ. */
int cab_csr_build(struct cab *cab, const char *key_id, const struct cab_subject *subject,
		  X509_REQ **out, struct cab_err *err);

/* ---- profiles (profile.c) ---- */
/* Checks the request against the class's profile; *years gets the validity (default filled). */
int cab_profile_check(const struct cab_request *req, int *years, struct cab_err *err);
int cab_profile_subject(const struct cab_subject *s, enum cab_class cls, X509_NAME **out,
			struct cab_err *err);
int cab_profile_extensions(struct cab *cab, X509 *cert, X509 *issuer, enum cab_class cls,
			   struct cab_err *err);

/* ---- issue.c, shared with the CMP back-end ---- */
/* Fills out from a certificate's DER. */
int cab_cert_fill(const unsigned char *der, size_t len, struct cab_cert *out, struct cab_err *err);
/* The request's CSR: built on the token (key_id) or decoded (csr_der); signature and key
 * type checked either way. */
int cab_request_csr(struct cab *cab, const struct cab_request *req, X509_REQ **csr, struct cab_err *err);

/* ---- CMP back-end (cmp_client.c, cmp_record.c, cmp_crl.c) ---- */
struct cab_cmp;
int cab_cmp_open(struct cab *cab, const struct cab_config *cfg, struct cab_err *err);
void cab_cmp_close(struct cab_cmp *c);
/* After the profile checks: the CSR (token or given) goes to the CA as a P10CR. */
int cab_cmp_issue(struct cab *cab, const struct cab_request *req, X509_NAME *subject, int years,
		  struct cab_cert *out, struct cab_err *err);
int cab_cmp_revoke(struct cab *cab, const char *serial, enum cab_reason reason, struct cab_err *err);
int cab_cmp_crl(struct cab *cab, unsigned char **der, size_t *len, struct cab_err *err);
int cab_cmp_chain_pem(struct cab *cab, char **pem, struct cab_err *err);

/* ---- CMP encoding details both sides share (cmp_asn.c) ---- */
#define CAB_OID_CERT_PROFILE "1.3.6.1.5.5.7.4.21" /* id-it-certProfile, RFC 9483 4.1.1 */
struct ossl_cmp_itav_st;
struct ossl_cmp_msg_st;
/* "qualified", "advanced", "seal"; NULL for others. */
const char *cab_class_name(enum cab_class cls);
/* The certProfile name for a class and validity: "advanced", or "advanced:3" for 3 years. */
void cab_cmp_profile_name(enum cab_class cls, int years, char *out, size_t cap);
/* Parses a certProfile name back; CAB_E_PROFILE (field "certProfile") when it is not ours. */
int cab_cmp_profile_parse(const char *name, enum cab_class *cls, int *years, struct cab_err *err);
/* generalInfo ITAV id-it-certProfile with one UTF8String. */
struct ossl_cmp_itav_st *cab_cmp_profile_itav(const char *name);
/* The first certProfile name in the message's generalInfo; 0 found, CAB_E_NOTFOUND if none. */
int cab_cmp_msg_profile(const struct ossl_cmp_msg_st *msg, char *out, size_t cap);
/* The reasonCode of the first RevDetails of an rr message; CAB_REASON_UNSPECIFIED when absent. */
int cab_cmp_msg_rr_reason(const struct ossl_cmp_msg_st *msg);

/* ---- local CA state (store.c) ---- */
struct cab_entry {
	char serial[48];     /* canonical uppercase hex; "" = empty slot */
	int revoked;
	int reason;
	time_t when;
};
struct cab_index {
	struct cab_entry *slots;
	size_t cap, count;
};
int cab_serial_canon(const char *in, char out[48]);
struct cab_entry *cab_index_get(struct cab_index *ix, const char *serial);
struct cab_entry *cab_index_add(struct cab_index *ix, const char *serial);
void cab_index_free(struct cab_index *ix);

/* Writes data to dir/name via a temp file, fsync, rename, fsync(dir). */
int cab_write_atomic(const char *dir, const char *name, const void *data, size_t len, int mode,
		     struct cab_err *err);
int cab_read_file(const char *path, unsigned char **data, size_t *len);
/* Appends one line with O_APPEND and fsyncs it. */
int cab_append_line(int fd, const char *line, struct cab_err *err);

/* ---- the handle ---- */
struct cab {
	char *ca_dir;
	char *policy_oid, *qcpds_url, *qcpds_lang, *crl_url;
	enum cab_alg key_alg;
	int ncp_plus, adv_digital_signature;
	int crl_hours;

	struct cab_p11 *p11; /* thread-safe by its own lock; NULL when opened without a token */
	struct cab_cmp *cmp; /* backend "cmp"; NULL for "local" (then the CA state below is used) */

	/* CA state: everything below is guarded by lock (and, across processes, by lock_fd). */
	pthread_mutex_t lock;
	int lock_fd;                    /* flock(2) on ca_dir/lock */
	EVP_PKEY *ca_key;
	X509 *ca_cert;
	int issued_fd, revoked_fd;      /* append-only logs */
	off_t issued_off, revoked_off;  /* how far this process has read them */
	struct cab_index index;         /* every serial issued, with its revocation */
	struct cab_buf revoked_der;     /* CRL entries, DER, concatenated in revocation order */
	size_t revoked_count;
	unsigned char *crl;             /* cached signed CRL */
	size_t crl_len;
	time_t crl_this_update;
	int crl_dirty;
};

/* store.c: take / release the CA state (mutex + flock) and catch up with the logs. */
int cab_state_lock(struct cab *cab, struct cab_err *err);
void cab_state_unlock(struct cab *cab);
int cab_store_open(struct cab *cab, const char *subject, struct cab_err *err);
void cab_store_close(struct cab *cab);
/* Records a new serial (issued.log) under the state lock. */
int cab_store_issued(struct cab *cab, const char *serial, time_t not_after,
		     const char *request_id, struct cab_err *err);

/* revoke.c: appends the DER of one CRL entry to cab->revoked_der. */
int cab_revoked_entry_add(struct cab *cab, const struct cab_entry *e, struct cab_err *err);

/* ca.c: create or load the CA key and certificate. */
int cab_ca_load_or_create(struct cab *cab, const char *subject, struct cab_err *err);
/* 128 random bits, positive, not yet in the index (cab may be NULL). */
int cab_serial_new(struct cab *cab, ASN1_INTEGER **out, char hex[48]);

#endif
