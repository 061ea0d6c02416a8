/*
 * cab.h - the CA bridge: everything CA-side behind one small interface.
 *
 * Subscriber keys live on a PKCS#11 token (R2); certificates follow the ETSI profiles for
 * qualified, advanced and seal certificates (R1, R4, R5); the CA back-end issues, revokes
 * (R14) and publishes a signed CRL.  Back-ends: "local" (an embedded OpenSSL CA under
 * ca_dir, the default) and "cmp" (a CA reached over RFC 4210 / RFC 9483 lightweight CMP:
 * the key and the CSR are still made on the token here, the CA issues on a P10CR and revokes
 * on an RR; ca_dir then keeps only this side's record of what was requested and received).
 *
 * Every call blocks (token, signing, fsync) and is meant for libuv's thread pool, never the
 * loop thread.  All calls on one struct cab are thread-safe.  Nothing here includes ra/.
 * See docs/ca-bridge.md for the profiles, OIDs and where the state lives.
 */
#ifndef CAB_H
#define CAB_H

#include <stddef.h>
#include <time.h>

#ifdef __cplusplus
extern "C" {
#endif

enum cab_errcode {
	CAB_OK = 0,
	CAB_E_INVALID = -1, /* bad argument or configuration */
	CAB_E_PROFILE = -2, /* request outside the certificate profile (err.field names it) */
	CAB_E_NOTFOUND = -3, /* unknown serial, key or request */
	CAB_E_ALREADY_REVOKED = -4, /* R14: revocation is final */
	CAB_E_TOKEN = -5, /* PKCS#11 module or token failure */
	CAB_E_CA = -6, /* CA state or signing failure */
	CAB_E_IO = -7, /* file system */
	CAB_E_NOMEM = -8,
	CAB_E_CONFLICT = -9, /* e.g. key id exists with another algorithm */
	CAB_E_REJECTED = -10, /* the CA refused the request (CMP PKIStatus rejection); msg
				     * has the CA's status, failInfo and text; retrying will not help */
	CAB_E_KEK = -11, /* the wrapped key's KEK (label, version) is not on the token,
				     * or the blob does not unwrap under it */
	CAB_E_DESTROYED = -12, /* the key was destroyed (revocation, expiry): no blob */
};

struct cab_err {
	int code;
	char field[64];
	char msg[256];
};

const char *cab_strerror(int code);

/*
 * Configuration, filled by the service from its JSON config (suggested keys in
 * docs/ca-bridge.md).  Strings are copied by cab_open; NULL means "not set".
 * Call cab_config_defaults() first: it sets backend "local", key_alg "ec-p256",
 * advanced_ncp_plus 1 and crl_validity_hours 24.
 *
 * Backend "local" needs ca_dir, the pkcs11_* fields (pkcs11_module NULL: no token, for a CA
 * that only signs CSRs made elsewhere, as the ca-bridge server does), policy_oid, qcpds_*,
 * crl_url.  Backend "cmp" needs ca_dir, pkcs11_*, cmp_url, cmp_trusted and either
 * cmp_secret + cmp_reference (PBM) or cmp_client_cert + cmp_client_key (signature); the
 * profile fields are the CA's business there and are ignored.
 */
struct cab_config {
	const char *backend; /* "local" or "cmp" */
	const char *ca_dir; /* local CA state; created if missing */
	const char *pkcs11_module; /* path of the PKCS#11 module (dlopen) */
	const char *pkcs11_token; /* token label; never a slot number */
	const char *pkcs11_pin; /* user PIN; never logged nor put in messages */
	const char *policy_oid; /* the operator's own certificate policy OID */
	const char *qcpds_url; /* QcPDS (EN 319 412-5) URL, https:// */
	const char *qcpds_lang; /* QcPDS language, ISO 639-1, e.g. "en" */
	const char *key_alg; /* default key algorithm: "ec-p256" or "rsa-3072" */
	int advanced_ncp_plus; /* 1: NCP+ 0.4.0.2042.1.2 (default); 0: NCP 0.4.0.2042.1.1 */
	int advanced_digital_signature; /* 1: advanced/seal keyUsage adds digitalSignature */
	const char *ca_subject; /* "C=AT,O=Example,CN=Example CA" (written order), first start */
	const char *crl_url; /* CRL distribution point put into issued certificates */
	int crl_validity_hours; /* nextUpdate - thisUpdate; default 24 (R14 outer limit) */

	/* backend "cmp" (docs/ca-bridge.md "CMP back-end") */
	const char *cmp_url; /* http://host:port/path of the CMP server (POST application/pkixcmp) */
	const char *cmp_secret; /* PBM shared secret; never logged nor put in messages */
	const char *cmp_reference; /* PBM reference value (senderKID) the CA knows the secret by */
	const char *cmp_trusted; /* PEM file: the CA's trust anchor(s); validates the CA's
				      * signatures, every certificate received and the CRL */
	const char *cmp_client_cert; /* PEM: our certificate for signature protection */
	const char *cmp_client_key; /* PEM: its private key (unencrypted, owner-only file) */
	const char *cmp_crl_url; /* where cab_crl fetches the CA's CRL; default: the scheme,
				      * host and port of cmp_url with path /crl (the ca-bridge server) */
	int cmp_timeout_s; /* per message (and per CRL fetch); 0: 30.  OpenSSL retries a
				      * refused connection until it passes, so a CA that is down
				      * costs this long per call */

	/* key storage (docs/ca-bridge.md "Wrapped key storage") */
	const char *key_storage; /* "wrapped" (default): subscriber keys are made as session
				      * objects and leave the token only wrapped under the KEK;
				      * "token": every key is a token object (the old way) */
	const char *kek_label; /* CKA_LABEL of the KEK's versions; default "cab-kek" */
	int pkcs11_sessions; /* logged-in sessions in the pool: token calls in parallel;
				      * 0: 4 */
};

void cab_config_defaults(struct cab_config *cfg);

struct cab;
struct cab_subject;

/* Opens the back-end and the token (by label, logged in).  NULL on error (err filled). */
struct cab *cab_open(const struct cab_config *cfg, struct cab_err *err);
void cab_close(struct cab *cab); /* accepts NULL */

/* ---- keys on the token (R2) ---- */

enum cab_alg { CAB_ALG_DEFAULT = 0, CAB_ALG_EC_P256, CAB_ALG_RSA_3072 };

/* "ec-p256" / "rsa-3072" -> enum; CAB_E_INVALID otherwise. */
int cab_alg_parse(const char *s, enum cab_alg *out);

struct cab_key {
	enum cab_alg alg;
	unsigned char *spki_der; /* DER SubjectPublicKeyInfo; freed by cab_key_free */
	size_t spki_len;
	char sha256_hex[65]; /* SHA-256 of spki_der, lowercase hex: the unique fingerprint */
	int existed; /* 1 when keygen found the key already on the token (a token
				  * key, also under key_storage "wrapped": blob stays NULL) */
	int remnants; /* objects of a half-made pair with this id that keygen destroyed
				  * before it made the pair (a crash inside C_GenerateKeyPair) */
	/* key_storage "wrapped": the key as the service stores it (freed by cab_key_free) */
	unsigned char *blob; /* private key wrapped under the KEK (RFC 5649) + public key */
	size_t blob_len;
	char kek_label[64];
	int kek_version;
	/* cab_keygen_csr with a fresh wrapped key: the key's signature over its PKCS#10 request
	 * for the subject given, made before the key left the token (freed by cab_key_free) */
	unsigned char *first_sig;
	size_t first_sig_len;
};

/* A wrapped key as stored beside the certificate (cab_key's blob, label and version). */
struct cab_wrapped {
	const unsigned char *blob; /* NULL or len 0: the key was destroyed (CAB_E_DESTROYED) */
	size_t len;
	const char *kek_label;
	int kek_version;
};

/*
 * Generates a key pair on the token with CKA_ID = key_id and CKA_LABEL "cab-<key_id>"
 * (sensitive, non-extractable, token object).  Idempotent: when a key with that CKA_ID
 * exists it is returned (existed = 1), so a retried job never makes a second key.  A
 * half-made pair (a public key without its private one, or several of either, left by a
 * crash inside C_GenerateKeyPair) is destroyed first (remnants counts the objects) and one
 * fresh pair made.
 * key_id: 1..64 characters of [A-Za-z0-9._-] (the RA's certificate id).
 * alg CAB_ALG_DEFAULT uses the configured default.  Caller frees out with cab_key_free.
 */
int cab_keygen(struct cab *cab, const char *key_id, enum cab_alg alg, struct cab_key *out,
	       struct cab_err *err);
void cab_key_free(struct cab_key *key);
/* The same, and under key_storage "wrapped" a fresh key also signs its PKCS#10 request for
 * subject while it is still a session object (out->first_sig): passed to cab_issue with the
 * blob (cab_request.first_sig), the first certificate needs no unwrap.  A token key (existed)
 * or token storage gives no first_sig. */
int cab_keygen_csr(struct cab *cab, const char *key_id, enum cab_alg alg, const struct cab_subject *subject,
		   struct cab_key *out, struct cab_err *err);
/* cab_keygen_csr for a key_id no earlier call used (the RA: a cert_issue job's first attempt;
 * the certificate's id is its key_id).  Under key_storage "wrapped" the token is then not
 * searched for a pair with that id: a token pair (made under key_storage "token") or a
 * half-made one can only be left by an earlier call, and in SoftHSM2 the search reads the
 * token's object files again (docs/ca-bridge.md "Wrapped key storage").  A wrong promise
 * makes a fresh wrapped key all the same and leaves that token pair unused on the token.
 * Under token storage it is cab_keygen_csr (find-or-create stays one step).  kek_version > 0
 * wraps under that version (the RA's current one, from its database: no search for the
 * highest, and the version's handle is kept once found); CAB_E_KEK when the token has no such
 * version.  0: the token's highest version, as cab_keygen_csr. */
int cab_keygen_csr_first(struct cab *cab, const char *key_id, enum cab_alg alg,
			 const struct cab_subject *subject, int kek_version, struct cab_key *out,
			 struct cab_err *err);
/* The same as a token key whatever key_storage says: for the service's own long-lived keys
 * (the audit checkpoint key), which must stay on the token and be found by CKA_ID. */
int cab_keygen_token(struct cab *cab, const char *key_id, enum cab_alg alg, struct cab_key *out,
		     struct cab_err *err);

/*
 * Signs a SHA-256 digest with the token key key_id (C_Sign, the key never leaves the token):
 * a DER ECDSA-Sig-Value for EC keys, PKCS#1 v1.5 over the DigestInfo for RSA keys, i.e. what
 * `openssl dgst -sha256 -verify` checks.  *sig is malloc'd; the caller frees it with free().
 */
int cab_sign_digest(struct cab *cab, const char *key_id, const unsigned char dgst[32], unsigned char **sig,
		    size_t *siglen, struct cab_err *err);

/* ---- certificates ---- */

enum cab_class { CAB_CLASS_NONE = 0, CAB_CLASS_QUALIFIED, CAB_CLASS_ADVANCED, CAB_CLASS_SEAL };

/* "qualified" / "advanced" / "seal" -> enum; CAB_E_PROFILE (field "class") otherwise. */
int cab_class_parse(const char *s, enum cab_class *out, struct cab_err *err);

/*
 * Subject attributes, verified by the RA (UTF-8).  Natural persons (qualified, advanced):
 * country, given_name, surname, serial_number (ETSI EN 319 412-1, e.g. "PNOAT-1234"),
 * common_name required; variant 2 (R4) adds organization AND title, organization_identifier
 * where known (e.g. "VATAT-U12345678").  Seal: country, organization, organization_identifier
 * and common_name required; person fields must be empty.
 */
struct cab_subject {
	const char *country; /* ISO 3166-1 alpha-2 */
	const char *given_name;
	const char *surname;
	const char *serial_number;
	const char *common_name;
	const char *organization;
	const char *organization_identifier;
	const char *title;
};

struct cab_request {
	const char *request_id; /* the RA's certificate id; 1..64 of [A-Za-z0-9._-] */
	enum cab_class cls;
	struct cab_subject subject;
	int validity_years; /* 0: the profile's default (R5) */
	/* exactly one of: */
	const char *key_id; /* key on the token (cab_keygen); the CA builds and checks the CSR */
	const struct cab_wrapped *wrapped; /* with key_id: the key is this blob, not a token object */
	/* with wrapped: the blob's first signature (cab_keygen_csr's first_sig) over this
	 * request; used when it verifies, else the request is signed from the blob */
	const unsigned char *first_sig;
	size_t first_sig_len;
	const unsigned char *csr_der; /* or a PKCS#10 request made elsewhere */
	size_t csr_len;
};

struct cab_cert {
	unsigned char *der; /* freed by cab_cert_free */
	size_t der_len;
	char *pem;
	char serial_hex[48]; /* uppercase hex, no leading zeros */
	char spki_sha256_hex[65];
	time_t not_before;
	time_t not_after;
};

/*
 * Issues a certificate per the class's profile.  Idempotent by request_id: a repeat returns
 * the certificate already issued for it, so one request never yields two certificates.
 * A request outside the profile gets CAB_E_PROFILE with err.field set.
 */
int cab_issue(struct cab *cab, const struct cab_request *req, struct cab_cert *out, struct cab_err *err);

/* A serial as 1..40 hex digits (either case, leading zeros or not) -> uppercase, no leading
 * zeros: the form every index and file uses, cab_cert.serial_hex's, and the one to compare
 * serials in (BN_bn2hex pads to whole octets: "0A1B" is "A1B").  0, or CAB_E_INVALID. */
int cab_serial_canon(const char *in, char out[48]);

/*
 * The profile checks cab_issue makes on a subject of class cls, without a key or a CA: the
 * class's required and forbidden attributes (R1, R4) and each attribute's X.520 type and
 * length.  0, or CAB_E_PROFILE with err.field naming the attribute ("subject.organization").
 * For a caller that must refuse a subject before it asks for a certificate (the support
 * desk's modification); pure computation, no I/O.
 */
int cab_subject_check(const struct cab_subject *subject, enum cab_class cls, struct cab_err *err);
void cab_cert_free(struct cab_cert *cert);

/* Builds a PKCS#10 request for the token key key_id, signed on the token (C_Sign).
 * *der is malloc'd; the caller frees it with free(). */
int cab_csr(struct cab *cab, const char *key_id, const struct cab_subject *subject, unsigned char **der,
	    size_t *len, struct cab_err *err);

/* The same for a wrapped key: unwrapped into a session object, used, destroyed. */
int cab_csr_wrapped(struct cab *cab, const struct cab_wrapped *w, const struct cab_subject *subject,
		    unsigned char **der, size_t *len, struct cab_err *err);

/* ---- the key-encryption key (wrapped storage) ---- */

enum cab_kek_op {
	CAB_KEK_CURRENT, /* the newest version; CAB_E_NOTFOUND when there is none */
	CAB_KEK_CREATE, /* version 1 when there is none (returns 0); else 1 and the current */
	CAB_KEK_ROTATE, /* a new version, current + 1, used for every wrap from now on */
};
int cab_kek(struct cab *cab, enum cab_kek_op op, int *version, struct cab_err *err);
/* The token session pool: its size and the most sessions in use at once so far; and how many
 * object searches (C_FindObjectsInit) the handle made so far. */
struct cab_stats {
	int sessions;
	int sessions_max_used;
	unsigned long long searches;
};
void cab_stats(struct cab *cab, struct cab_stats *st);

/* 1 when the handle stores keys wrapped (key_storage "wrapped"). */
int cab_wraps(const struct cab *cab);

/* Unwraps w under its KEK version and wraps it again under the current one: out gets blob,
 * kek_label, kek_version (unchanged when w is already under the current version) and the
 * public key.  The plaintext key stays a session object on the token. */
int cab_rewrap(struct cab *cab, const struct cab_wrapped *w, struct cab_key *out, struct cab_err *err);

/* Wrapped storage: the token key key_id (made under key_storage "token") wrapped under the
 * current KEK into out (blob, kek_label, kek_version, fingerprint), for moving it into
 * storage; the token key stays until cab_key_destroy.  CAB_E_CONFLICT when the key is not
 * extractable (every key this library made on the token: CKA_EXTRACTABLE false is final). */
int cab_key_wrap_token(struct cab *cab, const char *key_id, struct cab_key *out, struct cab_err *err);

/* Destroys the token key key_id (every object with that CKA_ID: the key of a certificate
 * that was revoked or expired, token storage).  *destroyed counts the objects; 0 objects is
 * not an error (destroyed before).  A wrapped key is destroyed by erasing its blob. */
int cab_key_destroy(struct cab *cab, const char *key_id, int *destroyed, struct cab_err *err);

/* ---- revocation and CRL (R14) ---- */

enum cab_reason {
	CAB_REASON_UNSPECIFIED = 0,
	CAB_REASON_KEY_COMPROMISE = 1,
	CAB_REASON_AFFILIATION_CHANGED = 3,
	CAB_REASON_SUPERSEDED = 4,
	CAB_REASON_CESSATION_OF_OPERATION = 5,
	CAB_REASON_PRIVILEGE_WITHDRAWN = 9,
};

/* RFC 5280 names ("keyCompromise", ...) -> code; CAB_E_INVALID for others. */
int cab_reason_parse(const char *s, enum cab_reason *out);
const char *cab_reason_name(enum cab_reason r);

/*
 * Revokes the certificate with serial_hex (either case).  when = 0 means now.  Final: a
 * second revocation returns CAB_E_ALREADY_REVOKED and changes nothing; an unknown serial
 * CAB_E_NOTFOUND.  Durable (fsync) before it returns; the next cab_crl shows it.
 */
int cab_revoke(struct cab *cab, const char *serial_hex, enum cab_reason reason, time_t when,
	       struct cab_err *err);

/* The current signed CRL (DER), rebuilt only after a change or when half its validity has
 * passed.  Backend "cmp": fetched from cmp_crl_url, verified against cmp_trusted, cached for
 * a few seconds and dropped after every revocation through this handle.
 * *der is malloc'd; the caller frees it with free(). */
int cab_crl(struct cab *cab, unsigned char **der, size_t *len, struct cab_err *err);

/* The CA chain (PEM, issuing CA first; the local CA is self-signed, so one certificate;
 * backend "cmp": the CA certificates in cmp_trusted).
 * *pem is malloc'd; the caller frees it with free(). */
int cab_chain_pem(struct cab *cab, char **pem, struct cab_err *err);

#ifdef __cplusplus
}
#endif

#endif
