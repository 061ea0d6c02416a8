/*
 * cab_int.h - private to ca-bridge/: what its folders truly share.  The struct cab and the
 * back-end operations table (struct cab_backend) that cab.c dispatches through, and the
 * helpers both back-ends use: errors, DER, files, the PKCS#11 token, keys, the CSR, the
 * profile checks and certificates.
 *
 * Include direction: local/ and cmp/ include this (and their own *_int.h), never each
 * other; srv/ includes cab.h, this for a few helpers, and cmp/cmp_asn.h; nothing in the top
 * level includes a sub-folder.  Nothing outside ca-bridge/ includes this; the public
 * interface is cab.h.
 */
#ifndef CAB_INT_H
#define CAB_INT_H

#include "ca-bridge/cab.h"

#include <openssl/evp.h>
#include <openssl/x509.h>
#include <stdint.h>
#include <sys/types.h>

/* ---- errors and names (cab_err.c) ---- */
int cab_err_set(struct cab_err *err, int code, const char *field, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));
/* Appends the first OpenSSL error queue entry to a message (and clears the queue). */
int cab_err_ossl(struct cab_err *err, int code, const char *what);
/* "qualified", "advanced", "seal"; NULL for others. */
const char *cab_class_name(enum cab_class cls);

/* ---- configuration checks both back-ends use (cab.c) ---- */
/* 1 when v is set and not empty. */
int cab_cfg_set(const char *v);
/* 0 when v is set, else CAB_E_INVALID "<field> is required" with field. */
int cab_cfg_need(const char *v, const char *field, struct cab_err *err);

/* ---- growable byte buffer and DER helpers (cab_der.c) ---- */
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

/* ---- files under ca_dir (cab_file.c) ---- */
/* Writes data to dir/name via a temp file, fsync, rename, fsync(dir). */
int cab_write_atomic(const char *dir, const char *name, const void *data, size_t len, int mode,
		     struct cab_err *err);
/* The whole file, malloc'd; CAB_E_NOTFOUND when it does not exist. */
int cab_read_file(const char *path, unsigned char **data, size_t *len);

/* ---- PKCS#11 (cab_p11.c) ---- */
struct cab_p11;
/* sessions: the size of the session pool (calls in parallel); 0 or less: 1. */
int cab_p11_open(struct cab_p11 **out, const char *module, const char *label, const char *pin, int sessions,
		 struct cab_err *err);
void cab_p11_stats(struct cab_p11 *p, int *sessions, int *max_in_use, unsigned long long *searches);
void cab_p11_close(struct cab_p11 *p);
/* Generates (or finds) the key pair with CKA_ID key_id; returns its public key.  A half-made
 * pair is destroyed first; *remnants counts its objects. */
int cab_p11_keygen(struct cab_p11 *p, const char *key_id, enum cab_alg alg, EVP_PKEY **pub, enum cab_alg *got,
		   int *existed, int *remnants, struct cab_err *err);
/* Finds the key pair with CKA_ID key_id; CAB_E_NOTFOUND when there is none. */
int cab_p11_find(struct cab_p11 *p, const char *key_id, EVP_PKEY **pub, enum cab_alg *alg,
		 struct cab_err *err);
/* Signs a SHA-256 digest with the private key key_id: DER ECDSA-Sig-Value for EC,
 * PKCS#1 v1.5 for RSA.  *sig is OPENSSL_malloc'd. */
int cab_p11_sign_digest(struct cab_p11 *p, const char *key_id, enum cab_alg alg, const unsigned char dgst[32],
			unsigned char **sig, size_t *siglen, struct cab_err *err);

/* Wrapped storage: op is an enum cab_kek_op; 1 from CAB_KEK_CREATE when one exists. */
int cab_p11_kek(struct cab_p11 *p, const char *label, int op, int *version, struct cab_err *err);
/* A first use of a fresh wrapped key (cab_p11_keygen_wrapped): digest(ctx, pub, dgst, err)
 * gives the SHA-256 of what the new private key signs before it is destroyed (the key's own
 * PKCS#10 request); the signature lands in sig (OPENSSL_malloc'd, caller frees). */
struct cab_p11_first_sign {
	int (*digest)(void *ctx, EVP_PKEY *pub, unsigned char dgst[32], struct cab_err *err);
	void *ctx;
	unsigned char *sig;
	size_t siglen;
};
/* A token pair with key_id (existed = 1, *w NULL), else a fresh pair as session objects, the
 * private key wrapped under the current KEK into *w (malloc'd), and, with first (not NULL),
 * its first signature made while the key is still there; both objects destroyed.  search 0:
 * the caller's first use of key_id (cab_keygen_csr_first), the token is not searched for a
 * pair with it.  want > 0: wrapped under that KEK version (the RA's current one), 0: the
 * token's highest. */
int cab_p11_keygen_wrapped(struct cab_p11 *p, const char *key_id, enum cab_alg alg, const char *label,
			   int search, int want, struct cab_p11_first_sign *first, EVP_PKEY **pub,
			   int *existed, int *remnants, unsigned char **w, size_t *wlen, int *kek_version,
			   struct cab_err *err);
/* Unwraps w under KEK version kek_version into a session object, signs, destroys it. */
int cab_p11_sign_wrapped(struct cab_p11 *p, const char *label, int kek_version, enum cab_alg alg,
			 const unsigned char *w, size_t wlen, const unsigned char dgst[32],
			 unsigned char **sig, size_t *siglen, struct cab_err *err);
/* Unwraps under version from, wraps under the current one (*to). */
int cab_p11_rewrap(struct cab_p11 *p, const char *label, int from, enum cab_alg alg, const unsigned char *w,
		   size_t wlen, unsigned char **out, size_t *outlen, int *to, struct cab_err *err);

/* The blob's parts after the checks every user of a wrapped key needs (cab.c):
 * CAB_E_DESTROYED without a blob, CAB_E_KEK for another KEK label; *spki and *wk point into it. */
int cab_wrapped_parts(struct cab *cab, const struct cab_wrapped *w, enum cab_alg *alg,
		      const unsigned char **spki, size_t *spki_len, const unsigned char **wk, size_t *wklen,
		      struct cab_err *err);

/* The token key key_id wrapped under the current KEK (the token key stays); CAB_E_CONFLICT
 * when it is not extractable. */
int cab_p11_wrap_token(struct cab_p11 *p, const char *key_id, const char *label, EVP_PKEY **pub,
		       enum cab_alg *alg, unsigned char **w, size_t *wlen, int *kek_version,
		       struct cab_err *err);
/* Destroys every token object with CKA_ID key_id; *destroyed counts them. */
int cab_p11_destroy(struct cab_p11 *p, const char *key_id, int *destroyed, struct cab_err *err);

/* ---- key helpers (cab_key.c) ---- */
/* The DER SubjectPublicKeyInfo of pub (OPENSSL_free it): its length, <= 0 on failure.  An EC
 * key on a named curve is written from its parameters, not through OpenSSL 3.0's encoders. */
int cab_spki_der(EVP_PKEY *pub, unsigned char **der);
/* Sets pk's algorithm and key bits to those of a DER SPKI without decoding the key.  pk must
 * be fresh (as X509_REQ_new and X509_new make it): an EVP_PKEY it already held would stay, as
 * OpenSSL leaves it.  A fresh pk then holds no EVP_PKEY (X509_PUBKEY_get0 fails); encoding and
 * hashing it work. */
int cab_spki_set(X509_PUBKEY *pk, const unsigned char *der, size_t len);
/* dst gets src's algorithm and key bits (cab_spki_set of src's encoding). */
int cab_spki_copy(X509_PUBKEY *dst, X509_PUBKEY *src);
/* The key of a DER SPKI (caller frees), for verifying: EC on a named curve imported from its
 * parameters, anything else decoded; NULL if it is not a valid key or not DER. */
EVP_PKEY *cab_spki_key(const unsigned char *der, size_t len);
/* SHA-256 of pk's DER encoding, in hex: the key fingerprint (R2). */
int cab_spki_sha256(X509_PUBKEY *pk, char hex[65]);
/* The stored blob: "CAB1", the algorithm (1 byte), the DER SubjectPublicKeyInfo's length
 * (2 bytes, big endian), the SPKI, then the RFC 5649 wrapped private key. */
int cab_blob_pack(enum cab_alg alg, const unsigned char *spki, size_t spki_len, const unsigned char *w,
		  size_t wlen, unsigned char **blob, size_t *len, struct cab_err *err);
/* Splits a blob; *spki and *w point into it. */
int cab_blob_unpack(const unsigned char *blob, size_t len, enum cab_alg *alg, const unsigned char **spki,
		    size_t *spki_len, const unsigned char **w, size_t *wlen, struct cab_err *err);
/* out's SPKI, fingerprint and algorithm: from a key, or from its SPKI. */
int cab_key_fill(EVP_PKEY *pub, enum cab_alg alg, struct cab_key *out, struct cab_err *err);
int cab_key_fill_der(const unsigned char *spki, size_t n, enum cab_alg alg, struct cab_key *out,
		     struct cab_err *err);

/* ---- CSR (cab_csr.c) ---- */
/* Builds and token-signs a request and checks its signature; *out is the X509_REQ, whose
 * public key is set as fields (cab_spki_set): the key it verified with is *key (caller frees). */
int cab_csr_build(struct cab *cab, const char *key_id, const struct cab_wrapped *w,
		  const struct cab_subject *subject, const unsigned char *first_sig, size_t first_sig_len,
		  X509_REQ **out, EVP_PKEY **key, struct cab_err *err);
/* The digest a fresh key signs as its first signature: its request for subject, built from its
 * public key pub (cab_keygen_csr, through struct cab_p11_first_sign). */
int cab_csr_first_digest(const struct cab_subject *subject, EVP_PKEY *pub, unsigned char dgst[32],
			 struct cab_err *err);

/* ---- profile checks (cab_profile.c; the local CA's extensions are local/local_profile.c) ---- */
/* Checks the request against the class's profile; *years gets the validity (default filled). */
int cab_profile_check(const struct cab_request *req, int *years, struct cab_err *err);
int cab_profile_subject(const struct cab_subject *s, enum cab_class cls, X509_NAME **out,
			struct cab_err *err);

/* ---- certificates and serials (cab_cert.c) ---- */
/* Fills out from a certificate's DER; cab_cert_fill_x509 from the certificate just encoded
 * as der (nothing decoded again). */
int cab_cert_fill(const unsigned char *der, size_t len, struct cab_cert *out, struct cab_err *err);
int cab_cert_fill_x509(X509 *x, const unsigned char *der, size_t len, struct cab_cert *out,
		       struct cab_err *err);
/* The request's CSR and its public key (*key, caller frees): built on the token (key_id) or
 * decoded (csr_der); signature and key type checked either way.  A built CSR's X509_PUBKEY
 * holds the key's encoding only (cab_spki_set): use *key where an EVP_PKEY is needed. */
int cab_request_csr(struct cab *cab, const struct cab_request *req, X509_REQ **csr, EVP_PKEY **key,
		    struct cab_err *err);

/* ---- the back-end operations table ---- */
/*
 * What the back-ends differ in, chosen once by cab_open from cfg->backend (as curl's
 * struct Curl_ssl).  cab.c checks the arguments and the profile before it calls an
 * operation, so an operation gets only requests that are well-formed and inside the profile.
 */
struct cab_backend {
	const char *name; /* the value of ca.backend */
	int needs_token; /* 1: pkcs11.* required; 0: a token is optional */
	/* The back-end's own configuration keys, after the common ones passed. */
	int (*check)(const struct cab_config *cfg, struct cab_err *err);
	/* Sets cab->be_ctx; on failure cab_open still calls close, so it frees what it made. */
	int (*open)(struct cab *cab, const struct cab_config *cfg, struct cab_err *err);
	void (*close)(struct cab *cab);
	/* subject: the verified subject of req; years: the validity, default filled in. */
	int (*issue)(struct cab *cab, const struct cab_request *req, X509_NAME *subject, int years,
		     struct cab_cert *out, struct cab_err *err);
	/* serial: canonical (cab_serial_canon); reason: one cab_reason_name knows. */
	int (*revoke)(struct cab *cab, const char *serial, enum cab_reason reason, time_t when,
		      struct cab_err *err);
	int (*crl)(struct cab *cab, unsigned char **der, size_t *len, struct cab_err *err);
	int (*chain_pem)(struct cab *cab, char **pem, struct cab_err *err);
};

extern const struct cab_backend cab_local_backend; /* local/local.c: the embedded OpenSSL CA */
extern const struct cab_backend cab_cmp_backend; /* cmp/cmp_client.c: a CA over CMP */

/* ---- the handle ---- */
struct cab {
	const struct cab_backend *be;
	void *be_ctx; /* the back-end's own state (struct cab_local, struct cab_cmp) */
	enum cab_alg key_alg;
	struct cab_p11 *p11; /* thread-safe by its own lock; NULL when opened without a token */
	int wrapped; /* key_storage "wrapped" */
	char kek_label[64];
};

#endif
