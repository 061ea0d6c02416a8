/*
 * srv_cmp.c - the local CA behind OpenSSL's CMP server (OSSL_CMP_SRV_CTX).
 *
 * OpenSSL checks each request's protection (PBM with our secret, or a client signature that
 * validates against client_trusted), the CSR's proof of possession, nonces and transaction,
 * and protects the answer.  The callbacks here do the CA's part:
 *
 *   p10cr  the CSR's subject attributes become a cab_subject, the class (and a non-default
 *          validity) comes from certProfile in generalInfo (cmp_asn.c) or the configured
 *          default, and the local CA's own issue path signs it: profile checks included.
 *          The CA's request id is "tx-" + the transactionID, so a client that repeats a
 *          transaction (a retry after a lost answer) gets the same certificate back.
 *   rr     revocation by issuer and serial, reason from the request; a second revocation is
 *          refused (certRevoked), an unknown serial too (badCertId).
 *   ir/cr/kur (CRMF) are refused with badRequest: OpenSSL 3.0 has no getter for a
 *          template's public key, and the RA sends P10CR.
 *   certConf  a client that did not ask for implicit confirmation (RFC 9483 4.1) confirms
 *          the certificate: its transaction (OpenSSL's server context, with transactionID
 *          and nonces) waits in the store (srv_tx.c) for it and answers pkiConf.  A
 *          certificate whose transaction ends any other way — the client rejects it, sends
 *          an error, its certConf is refused, the confirmation timeout passes, the server
 *          stops — is revoked (cessationOfOperation): nobody holds a certificate that was
 *          never confirmed.  The RA's own client asks for implicit confirmation (granted).
 *
 * A new transaction gets a new context; only a stored one is used again, by one request
 * at a time (it is taken out of the store while it works).
 */
#include "ca-bridge/srv/srv_int.h"
#include "ca-bridge/cab_int.h" /* cab_hex, cab_class_name */
#include "ca-bridge/cmp/cmp_asn.h" /* certProfile and the RR reason, as the client encodes them */

#include <fnmatch.h>
#include <stdarg.h>
#include <openssl/cmp.h>
#include <openssl/err.h>
#include <openssl/sha.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define FAIL(bit) (1 << OSSL_CMP_PKIFAILUREINFO_##bit)

/* PKIBody choices (RFC 4210 5.1.2) as OSSL_CMP_MSG_get_bodytype returns them; OpenSSL 3.0
 * keeps its names for them in a private header. */
enum body {
	BODY_IR = 0,
	BODY_IP = 1,
	BODY_CR = 2,
	BODY_CP = 3,
	BODY_P10CR = 4,
	BODY_KUR = 7,
	BODY_KUP = 8,
	BODY_PKICONF = 19,
	BODY_ERROR = 23,
	BODY_CERTCONF = 24,
};

__attribute__((format(printf, 2, 3))) static OSSL_CMP_PKISI *reject(int failbits, const char *fmt, ...)
{
	char text[300];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(text, sizeof(text), fmt, ap);
	va_end(ap);
	return OSSL_CMP_STATUSINFO_new(OSSL_CMP_PKISTATUS_rejection, failbits, text);
}

static int quiet_log(const char *func, const char *file, int line, OSSL_CMP_severity level, const char *msg)
{
	(void)func;
	(void)file;
	(void)line;
	if (level <= OSSL_CMP_LOG_WARNING)
		cab_srv_log("warn", "cmp", "detail=\"%s\"", msg);
	return 1;
}

/* "tx-" + hex transactionID (hashed when too long for a request id). */
static void request_id(const OSSL_CMP_MSG *req, char out[72])
{
	const ASN1_OCTET_STRING *tid = OSSL_CMP_HDR_get0_transactionID(OSSL_CMP_MSG_get0_header(req));
	const unsigned char *p = tid ? ASN1_STRING_get0_data(tid) : (const unsigned char *)"";
	size_t n = tid ? (size_t)ASN1_STRING_length(tid) : 0;
	unsigned char md[SHA256_DIGEST_LENGTH];

	if (n > 30) {
		SHA256(p, n, md);
		p = md;
		n = 16;
	}
	memcpy(out, "tx-", 3);
	cab_hex(p, n, out + 3);
}

struct subj {
	char v[8][200];
	struct cab_subject s;
};

/* The CSR's subject, attribute by attribute, into the CA's subject fields; anything else is
 * outside the profile and refused (nothing is dropped silently). */
static int read_subject(const X509_NAME *name, struct subj *out, char *bad, size_t cap)
{
	static const int nids[8] = {NID_countryName,
				    NID_givenName,
				    NID_surname,
				    NID_serialNumber,
				    NID_commonName,
				    NID_organizationName,
				    NID_organizationIdentifier,
				    NID_title};
	const char **fields[8] = {&out->s.country,
				  &out->s.given_name,
				  &out->s.surname,
				  &out->s.serial_number,
				  &out->s.common_name,
				  &out->s.organization,
				  &out->s.organization_identifier,
				  &out->s.title};

	memset(out, 0, sizeof(*out));
	for (int i = 0; i < X509_NAME_entry_count(name); i++) {
		const X509_NAME_ENTRY *e = X509_NAME_get_entry(name, i);
		int nid = OBJ_obj2nid(X509_NAME_ENTRY_get_object(e)), k;
		unsigned char *utf = NULL;
		int n;

		for (k = 0; k < 8 && nids[k] != nid; k++)
			;
		if (k == 8 || *fields[k] != NULL) {
			snprintf(bad, cap, "%s %s",
				 k == 8 ? "unexpected subject attribute" : "repeated subject attribute",
				 nid != NID_undef ? OBJ_nid2sn(nid) : "(unknown)");
			return -1;
		}
		n = ASN1_STRING_to_UTF8(&utf, X509_NAME_ENTRY_get_data(e));
		if (n < 0 || (size_t)n >= sizeof(out->v[k]) || memchr(utf, 0, (size_t)n) != NULL) {
			OPENSSL_free(utf);
			snprintf(bad, cap, "subject attribute %s cannot be read", OBJ_nid2sn(nid));
			return -1;
		}
		memcpy(out->v[k], utf, (size_t)n);
		out->v[k][n] = '\0';
		*fields[k] = out->v[k];
		OPENSSL_free(utf);
	}
	return 0;
}

/* The class and validity: certProfile, else the default. */
static OSSL_CMP_PKISI *read_profile(struct cab_srv *s, const OSSL_CMP_MSG *req, struct cab_request *r)
{
	char name[64];
	struct cab_err err = {0};
	int rc = cab_cmp_msg_profile(req, name, sizeof(name));

	if (rc == CAB_E_NOTFOUND && s->default_class != CAB_CLASS_NONE) {
		r->cls = s->default_class;
		return NULL;
	}
	if (rc == CAB_E_NOTFOUND)
		return reject(FAIL(badCertTemplate),
			      "no certProfile (qualified, advanced or seal) in generalInfo");
	if (rc != 0)
		return reject(FAIL(badDataFormat), "malformed generalInfo");
	if (cab_cmp_profile_parse(name, &r->cls, &r->validity_years, &err) != 0)
		return reject(FAIL(badCertTemplate), "%s", err.msg);
	return NULL;
}

/* A refusal from the local CA, as a PKIStatusInfo. */
static OSSL_CMP_PKISI *refusal(int rc, const struct cab_err *err)
{
	switch (rc) {
	case CAB_E_PROFILE:
		return reject(FAIL(badCertTemplate), "%s%s%s", err->field, err->field[0] ? ": " : "",
			      err->msg);
	case CAB_E_INVALID:
		return reject(strcmp(err->field, "csr") == 0 ? FAIL(badPOP) : FAIL(badRequest), "%s",
			      err->msg);
	case CAB_E_ALREADY_REVOKED:
		return reject(FAIL(certRevoked), "%s", err->msg);
	case CAB_E_NOTFOUND:
		return reject(FAIL(badCertId), "%s", err->msg);
	default:
		/* our own trouble (disk, signing): the client may try again */
		return reject(FAIL(systemFailure), "CA failure: %s", cab_strerror(rc));
	}
}

/* The CA's own policy (--refuse-cn, --refuse-o): the option it matched, NULL when none did. */
static const char *policy_refuses(const struct cab_srv *s, const struct cab_subject *subj)
{
	if (s->refuse_cn != NULL && subj->common_name != NULL &&
	    fnmatch(s->refuse_cn, subj->common_name, 0) == 0)
		return "refuse-cn";
	if (s->refuse_o != NULL && subj->organization != NULL &&
	    fnmatch(s->refuse_o, subj->organization, 0) == 0)
		return "refuse-o";
	return NULL;
}

static OSSL_CMP_PKISI *on_cert_request(OSSL_CMP_SRV_CTX *srv_ctx, const OSSL_CMP_MSG *req, int certReqId,
				       const OSSL_CRMF_MSG *crm, const X509_REQ *p10cr, X509 **certOut,
				       STACK_OF(X509) * *chainOut, STACK_OF(X509) * *caPubs)
{
	struct cab_srv_tx *tx = OSSL_CMP_SRV_CTX_get0_custom_ctx(srv_ctx);
	struct cab_srv *s = tx->s;
	struct cab_request r;
	struct cab_cert cert = {0};
	struct cab_err err = {0};
	struct subj *subj = NULL;
	OSSL_CMP_PKISI *si = NULL;
	unsigned char *csr = NULL;
	const unsigned char *p;
	char id[72], bad[160];
	const char *why;
	int n, rc;

	(void)certReqId;
	(void)crm;
	(void)caPubs;
	memset(&r, 0, sizeof(r));
	if (p10cr == NULL)
		return reject(FAIL(badRequest), "this CA takes P10CR (PKCS#10) requests only");
	if ((si = read_profile(s, req, &r)) != NULL)
		return si;
	subj = malloc(sizeof(*subj));
	if (subj == NULL)
		return reject(FAIL(systemFailure), "out of memory");
	if (read_subject(X509_REQ_get_subject_name(p10cr), subj, bad, sizeof(bad)) != 0) {
		si = reject(FAIL(badCertTemplate), "%s", bad);
		goto out;
	}
	request_id(req, id);
	if ((why = policy_refuses(s, &subj->s)) != NULL) {
		cab_srv_log("warn", "refused", "request=%s reason=%s", id, why);
		si = reject(FAIL(notAuthorized), "subject refused by this CA's policy");
		goto out;
	}
	r.request_id = id;
	r.subject = subj->s;
	if ((n = i2d_X509_REQ(p10cr, &csr)) <= 0) {
		si = reject(FAIL(badDataFormat), "cannot encode the CSR");
		goto out;
	}
	r.csr_der = csr;
	r.csr_len = (size_t)n;
	/* a certificate that will wait for certConf needs a place in the store before it exists */
	if (!cab_cmp_msg_implicit_confirm(req) && !tx->reserved) {
		if (cab_srv_txs_reserve(&s->txs) != 0) {
			cab_srv_log("warn", "issue_refused", "request=%s reason=confirmations_full max=%d",
				    id, s->txs.max);
			si = reject(FAIL(systemFailure),
				    "too many certificates wait for confirmation; try again later");
			goto out;
		}
		tx->reserved = 1;
	}
	rc = cab_issue(s->cab, &r, &cert, &err);
	if (rc != 0) {
		cab_srv_log("warn", "issue_refused", "request=%s error=\"%s\" field=%s", id, cab_strerror(rc),
			    err.field);
		si = refusal(rc, &err);
		goto out;
	}
	p = cert.der;
	*certOut = d2i_X509(NULL, &p, (long)cert.der_len);
	*chainOut = sk_X509_new_null();
	if (*certOut == NULL || *chainOut == NULL || !X509_up_ref(s->ca_cert) ||
	    !sk_X509_push(*chainOut, s->ca_cert)) {
		si = reject(FAIL(systemFailure), "cannot encode the certificate");
		goto out;
	}
	X509_free(tx->cert);
	tx->cert = X509_dup(*certOut);
	snprintf(tx->serial, sizeof(tx->serial), "%s", cert.serial_hex);
	cab_srv_log("info", "issued", "request=%s serial=%s class=%s", id, cert.serial_hex,
		    cab_class_name(r.cls));
	si = OSSL_CMP_STATUSINFO_new(OSSL_CMP_PKISTATUS_accepted, 0, NULL);
out:
	OPENSSL_free(csr);
	cab_cert_free(&cert);
	free(subj);
	return si;
}

static OSSL_CMP_PKISI *on_rr(OSSL_CMP_SRV_CTX *srv_ctx, const OSSL_CMP_MSG *req, const X509_NAME *issuer,
			     const ASN1_INTEGER *serial)
{
	struct cab_srv *s = ((struct cab_srv_tx *)OSSL_CMP_SRV_CTX_get0_custom_ctx(srv_ctx))->s;
	int reason = cab_cmp_msg_rr_reason(req), rc;
	struct cab_err err = {0};
	BIGNUM *bn = NULL;
	char *hex = NULL;
	OSSL_CMP_PKISI *si;

	if (issuer == NULL || serial == NULL || X509_NAME_cmp(issuer, X509_get_subject_name(s->ca_cert)) != 0)
		return reject(FAIL(badCertId), "not a certificate of this CA");
	if (cab_reason_name((enum cab_reason)reason) == NULL)
		return reject(FAIL(badRequest), "revocation reason %d is not one this CA uses", reason);
	if ((bn = ASN1_INTEGER_to_BN(serial, NULL)) == NULL || (hex = BN_bn2hex(bn)) == NULL) {
		BN_free(bn);
		return reject(FAIL(badCertId), "unreadable serial");
	}
	rc = cab_revoke(s->cab, hex, (enum cab_reason)reason, 0, &err);
	if (rc == 0) {
		cab_srv_log("info", "revoked", "serial=%s reason=%s", hex,
			    cab_reason_name((enum cab_reason)reason));
		si = OSSL_CMP_STATUSINFO_new(OSSL_CMP_PKISTATUS_accepted, 0, NULL);
	} else {
		cab_srv_log("warn", "revoke_refused", "serial=%s error=\"%s\"", hex, cab_strerror(rc));
		si = refusal(rc, &err);
	}
	OPENSSL_free(hex);
	BN_free(bn);
	return si;
}

/* The client's certConf for the certificate of its (stored) transaction: the hash must be
 * the one of that certificate; a rejection is remembered and the certificate revoked after
 * the pkiConf is made (cab_srv_cmp). */
static int on_cert_conf(OSSL_CMP_SRV_CTX *srv_ctx, const OSSL_CMP_MSG *req, int certReqId,
			const ASN1_OCTET_STRING *certHash, const OSSL_CMP_PKISI *si)
{
	struct cab_srv_tx *tx = OSSL_CMP_SRV_CTX_get0_custom_ctx(srv_ctx);
	ASN1_OCTET_STRING *hash = NULL;
	char text[OSSL_CMP_PKISI_BUFLEN];
	int ok;

	(void)req;
	(void)certReqId;
	if (tx->cert == NULL)
		return 0; /* nothing was issued in this transaction */
	hash = X509_digest_sig(tx->cert, NULL, NULL);
	ok = certHash != NULL && hash != NULL && ASN1_OCTET_STRING_cmp(certHash, hash) == 0;
	ASN1_OCTET_STRING_free(hash);
	if (!ok) {
		cab_srv_log("warn", "cert_conf_refused", "request=%s serial=%s reason=cert_hash", tx->id,
			    tx->serial);
		return 0;
	}
	if (si != NULL && OSSL_CMP_snprint_PKIStatusInfo(si, text, sizeof(text)) != NULL &&
	    strstr(text, "rejection")) {
		cab_srv_log("warn", "cert_rejected_by_client", "request=%s serial=%s status=\"%s\"", tx->id,
			    tx->serial, text);
		tx->rejected = 1;
	}
	return 1;
}

static void on_error(OSSL_CMP_SRV_CTX *srv_ctx, const OSSL_CMP_MSG *req, const OSSL_CMP_PKISI *statusInfo,
		     const ASN1_INTEGER *errorCode, const OSSL_CMP_PKIFREETEXT *errDetails)
{
	(void)srv_ctx;
	(void)req;
	(void)statusInfo;
	(void)errorCode;
	(void)errDetails;
	cab_srv_log("warn", "client_error", "detail=\"error message from the client\"");
}

void cab_srv_tx_free(struct cab_srv_tx *tx)
{
	if (tx == NULL)
		return;
	if (tx->reserved)
		cab_srv_txs_release(&tx->s->txs);
	OSSL_CMP_SRV_CTX_free(tx->srv);
	X509_free(tx->cert);
	free(tx);
}

void cab_srv_tx_unconfirmed(struct cab_srv_tx *tx, const char *why)
{
	struct cab_err err = {0};
	int rc;

	if (tx->cert != NULL) {
		rc = cab_revoke(tx->s->cab, tx->serial, CAB_REASON_CESSATION_OF_OPERATION, 0, &err);
		if (rc == 0 || rc == CAB_E_ALREADY_REVOKED)
			cab_srv_log("warn", "unconfirmed_revoked", "request=%s serial=%s why=%s", tx->id,
				    tx->serial, why);
		else
			cab_srv_log("error", "unconfirmed_not_revoked",
				    "request=%s serial=%s why=%s error=\"%s\"", tx->id, tx->serial, why,
				    cab_strerror(rc));
	}
	cab_srv_tx_free(tx);
}

void cab_srv_sweep(struct cab_srv *s, int all)
{
	struct cab_srv_tx *tx;

	while ((tx = cab_srv_txs_take_expired(&s->txs, all)) != NULL) {
		cab_srv_tx_unconfirmed(tx, all ? "shutdown" : "confirm_timeout");
		ERR_clear_error();
	}
}

static struct cab_srv_tx *new_tx(struct cab_srv *s, const char *id)
{
	struct cab_srv_tx *tx = calloc(1, sizeof(*tx));
	OSSL_CMP_SRV_CTX *srv = tx ? OSSL_CMP_SRV_CTX_new(NULL, NULL) : NULL;
	OSSL_CMP_CTX *ctx = srv ? OSSL_CMP_SRV_CTX_get0_cmp_ctx(srv) : NULL;
	int ok = ctx != NULL &&
		 OSSL_CMP_SRV_CTX_init(srv, tx, on_cert_request, on_rr, NULL, on_error, on_cert_conf, NULL) &&
		 OSSL_CMP_SRV_CTX_set_grant_implicit_confirm(srv, 1) &&
		 OSSL_CMP_CTX_set_log_cb(ctx, quiet_log);

	if (tx == NULL)
		return NULL;
	tx->s = s;
	tx->srv = srv;
	snprintf(tx->id, sizeof(tx->id), "%s", id);
	if (ok && s->secret != NULL)
		ok = OSSL_CMP_CTX_set1_secretValue(ctx, s->secret, (int)s->secret_len) &&
		     OSSL_CMP_CTX_set1_referenceValue(ctx, (const unsigned char *)s->reference,
						      (int)strlen(s->reference));
	if (ok && s->cert != NULL)
		ok = OSSL_CMP_CTX_set1_cert(ctx, s->cert) && OSSL_CMP_CTX_set1_pkey(ctx, s->key);
	if (ok && s->client_trusted != NULL) {
		ok = X509_STORE_up_ref(s->client_trusted);
		if (ok && !OSSL_CMP_CTX_set0_trustedStore(ctx, s->client_trusted)) {
			X509_STORE_free(s->client_trusted);
			ok = 0;
		}
	}
	if (!ok) {
		cab_srv_tx_free(tx);
		return NULL;
	}
	return tx;
}

/* After OpenSSL answered: does the transaction now wait for certConf?  It does when a
 * certificate went out in an accepted ip/cp/kup and implicit confirmation was not granted. */
static int waits_for_conf(struct cab_srv_tx *tx, const OSSL_CMP_MSG *out)
{
	int t = out ? OSSL_CMP_MSG_get_bodytype(out) : -1;

	return tx->cert != NULL && (t == BODY_IP || t == BODY_CP || t == BODY_KUP) &&
	       OSSL_CMP_CTX_get_option(OSSL_CMP_SRV_CTX_get0_cmp_ctx(tx->srv),
				       OSSL_CMP_OPT_IMPLICIT_CONFIRM) != 1;
}

/* Whether the message's protection is valid for this server (PBM with our secret, or a
 * signature that validates against the clients' anchors): what OpenSSL checks first, asked
 * on a scratch context so that a stored transaction's state is not touched. */
static int authentic(struct cab_srv *s, const OSSL_CMP_MSG *in)
{
	struct cab_srv_tx *scratch = new_tx(s, "");
	int ok = scratch != NULL &&
		 OSSL_CMP_validate_msg(OSSL_CMP_SRV_CTX_get0_cmp_ctx(scratch->srv), in) == 1;

	cab_srv_tx_free(scratch);
	ERR_clear_error();
	return ok;
}

int cab_srv_cmp(struct cab_srv *s, const unsigned char *req, size_t len, unsigned char **rsp, size_t *rlen)
{
	const unsigned char *p = req;
	OSSL_CMP_MSG *in = d2i_OSSL_CMP_MSG(NULL, &p, (long)len), *out = NULL;
	struct cab_srv_tx *tx = NULL, *old = NULL;
	char id[72];
	int n, type, rc = -1, stored = 0;

	*rsp = NULL;
	if (in == NULL || p != req + len)
		goto out;
	request_id(in, id);
	type = OSSL_CMP_MSG_get_bodytype(in);
	/* certConf, or an error message, continue a stored transaction, but only when it is the
	 * client's (valid protection): anyone who saw the transactionID could otherwise end it
	 * and have the certificate revoked.  Anything else starts a transaction. */
	if (type == BODY_CERTCONF || type == BODY_ERROR) {
		tx = cab_srv_txs_take(&s->txs, id);
		if (tx != NULL && !authentic(s, in)) {
			cab_srv_log("warn", "cert_conf_ignored", "request=%s reason=protection", tx->id);
			cab_srv_txs_put_back(&s->txs, tx);
			tx = NULL;
		}
	}
	if (tx == NULL && (tx = new_tx(s, id)) == NULL) {
		cab_srv_log("error", "cmp", "detail=\"cannot set up the CMP server context\"");
		goto out;
	}
	/* an error message (protected as configured) when OpenSSL refuses the request itself */
	out = OSSL_CMP_SRV_process_request(tx->srv, in);
	if (tx->cert != NULL && (type == BODY_CERTCONF || type == BODY_ERROR)) {
		/* the stored transaction ends here: confirmed, or its certificate goes */
		if (type == BODY_CERTCONF && !tx->rejected && out != NULL &&
		    OSSL_CMP_MSG_get_bodytype(out) == BODY_PKICONF) {
			cab_srv_log("info", "confirmed", "request=%s serial=%s", tx->id, tx->serial);
		} else {
			cab_srv_tx_unconfirmed(tx, type == BODY_ERROR ? "client_error"
						   : tx->rejected     ? "rejected_by_client"
								      : "cert_conf_refused");
			tx = NULL;
		}
	} else if (tx->cert != NULL) {
		/* a certificate went out: a stored transaction of the same id (the client started
		 * it again) is replaced; its certificate goes unless it is this one */
		old = cab_srv_txs_take(&s->txs, id);
		if (old != NULL && old->cert != NULL && strcmp(old->serial, tx->serial) != 0)
			cab_srv_tx_unconfirmed(old, "replaced");
		else
			cab_srv_tx_free(old);
		if (waits_for_conf(tx, out) && tx->reserved) {
			cab_srv_txs_put(&s->txs, tx);
			stored = 1;
		}
	}
	if (out == NULL || (n = i2d_OSSL_CMP_MSG(out, rsp)) <= 0) {
		cab_srv_log("warn", "cmp", "detail=\"no answer to a request\"");
		goto out;
	}
	*rlen = (size_t)n;
	rc = 0;
out:
	ERR_clear_error();
	OSSL_CMP_MSG_free(out);
	OSSL_CMP_MSG_free(in);
	if (!stored)
		cab_srv_tx_free(tx);
	return rc;
}
