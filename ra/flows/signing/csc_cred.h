/*
 * csc_cred.h - one certificate as a credential of the Cloud Signature Consortium API v2.0
 * (credentials/info, and each entry of credentials/list's credentialInfos), with the field
 * names as the specification writes them:
 *
 *   credentialID (list only), description, signatureQualifier,
 *   key {status enabled|disabled, algo [OIDs], len, curve},
 *   cert {status valid|expired|revoked|suspended, certificates [base64 DER, end entity first],
 *         issuerDN, serialNumber, subjectDN, validFrom, validTo},
 *   auth {mode, expression, objects [{type, id, format, label, description}]},
 *   SCAL "1"|"2", multisign
 *
 * The RA is the source of truth the signing service asks: the key is enabled only while the
 * certificate is active, within its validity and its user is neither locked nor closed, so a
 * revoked or locked credential shows as such at once (R13, R14, R20).  description names the
 * organisation and function of a variant 2 certificate (R4: how the user picks the one to sign
 * with).  auth carries the second factor the user approves with, SMS-TAN or the app, or none
 * for a lawful single factor (R9, R10); SCAL is 2 for qualified certificates.
 *
 * Pure computation on OpenSSL and Jansson (no I/O), but it parses X.509: callers run it on the
 * thread pool.
 */
#ifndef RA_SIGNING_CSC_CRED_H
#define RA_SIGNING_CSC_CRED_H

#include <jansson.h>

#include "ra/base/err.h"

enum csc_certs {
	CSC_CERTS_NONE,
	CSC_CERTS_SINGLE, /* the CSC default */
	CSC_CERTS_CHAIN,
};

/* The request's options (credentials/list and credentials/info share them). */
struct csc_opts {
	enum csc_certs certs; /* "certificates" */
	int cert_info; /* "certInfo": issuerDN, serialNumber, subjectDN, validFrom, validTo */
	int auth_info; /* "authInfo": auth/expression and auth/objects */
};

/* A certificate as the database has it (strings borrowed). */
struct csc_row {
	const char *id; /* the credential ID: certificates.id */
	const char *cls; /* qualified, advanced, seal */
	const char *state; /* the certificate machine's state */
	const char *user_state; /* the user machine's state */
	const char *subject; /* certificates.subject (JSON text) */
	const char *pem; /* the certificate */
	int expired; /* not_after has passed */
};

/* Reads the options from a request body: 0, or RA_E_INVALID with e->field the member. */
int csc_opts_parse(const json_t *body, struct csc_opts *o, struct ra_err *e);

/* "enabled" when the key may sign now, else "disabled". */
const char *csc_key_status(const struct csc_row *r);
/* "valid", "expired" or "revoked" ("suspended" is never used: revocation is final, R14). */
const char *csc_cert_status(const struct csc_row *r);
/* 1 when the credential can make a valid signature now (credentials/list onlyValid). */
int csc_usable(const struct csc_row *r);

/* The credential's info object; with_id adds credentialID (credentials/list).  chain_pem: the
 * CA certificates for certificates "chain" (issuing CA first; NULL: none known).  NULL with e
 * filled when the stored certificate cannot be read.  Caller decrefs. */
json_t *csc_credential(const struct csc_row *r, const struct csc_opts *o, const char *chain_pem, int with_id,
		       struct ra_err *e);

#endif
