/*
 * cmp_client.c - the "cmp" back-end: a CA over RFC 4210 CMP, profiled by RFC 9483
 * (lightweight CMP), through OpenSSL's OSSL_CMP_CTX.  Its operations table
 * (cab_cmp_backend), configuration check, open and close, issue and revoke; the CRL and the
 * chain are in cmp_crl.c, this side's record in cmp_record.c.
 *
 * Issuance is a P10CR carrying the CSR made and signed on the token (cab_request_csr), with
 * the class in the header's certProfile (cmp_asn.c) and implicit confirmation asked for;
 * revocation is an RR for the certificate's issuer and serial.  Messages are protected with
 * PBM (cmp_secret, cmp_reference) or with our key and certificate; the CA's answers, and
 * every certificate it returns, must validate against cmp_trusted.
 *
 * Each call makes its own OSSL_CMP_CTX (a context holds one transaction's state), so calls on
 * several threads do not share one.  Outcomes become codes the service can act on:
 *   CA said no (PKIStatus rejection)           CAB_E_REJECTED, with status, failInfo, text
 *     ... failInfo certRevoked / badCertId     CAB_E_ALREADY_REVOKED / CAB_E_NOTFOUND
 *     ... failInfo systemUnavail/systemFailure CAB_E_IO (the CA's own trouble: try again)
 *   no answer (connect, timeout, HTTP)         CAB_E_IO: transient, retried
 *   an answer we cannot trust or use           CAB_E_CA (protection, untrusted certificate)
 */
#include "ca-bridge/cmp/cmp_int.h"

#include <netinet/in.h>
#include <netinet/tcp.h>
#include <openssl/err.h>
#include <openssl/http.h>
#include <openssl/pem.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

BIO *cab_cmp_http_cb(BIO *bio, void *arg, int connect, int detail)
{
	int fd = -1, one = 1;

	(void)arg;
	(void)detail;
	/* without it each request waits ~40 ms: Nagle holds the body until the peer's delayed
	 * ACK of the headers */
	if (connect && BIO_get_fd(bio, &fd) > 0 && fd >= 0)
		setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	return bio;
}

/* OpenSSL's CMP log lines are not ours to print: errors come back through the error queue. */
static int quiet_log(const char *func, const char *file, int line, OSSL_CMP_severity level, const char *msg)
{
	(void)func;
	(void)file;
	(void)line;
	(void)level;
	(void)msg;
	return 1;
}

/* Where the CA is, how we protect our messages, what we trust; the profile's OIDs and URLs
 * are the CA's business. */
static int cmp_check(const struct cab_config *c, struct cab_err *err)
{
	int rc;

	if ((rc = cab_cfg_need(c->cmp_url, "cmp.url", err)) != 0 ||
	    (rc = cab_cfg_need(c->cmp_trusted, "cmp.trusted", err)) != 0)
		return rc;
	if (strncmp(c->cmp_url, "http://", 7) != 0)
		return cab_err_set(err, CAB_E_INVALID, "cmp.url",
				   "must be http://host:port/path (CMP messages are protected end to end; "
				   "https is not built, see docs/ca-bridge.md)");
	if (cab_cfg_set(c->cmp_secret) == (cab_cfg_set(c->cmp_client_cert) || cab_cfg_set(c->cmp_client_key)))
		return cab_err_set(
			err, CAB_E_INVALID, "cmp.secret",
			"give either cmp.secret (PBM) or cmp.client_cert and cmp.client_key (signature)");
	if (cab_cfg_set(c->cmp_secret))
		return cab_cfg_need(c->cmp_reference, "cmp.reference", err);
	if ((rc = cab_cfg_need(c->cmp_client_cert, "cmp.client_cert", err)) != 0)
		return rc;
	return cab_cfg_need(c->cmp_client_key, "cmp.client_key", err);
}

static int load_pem_file(const char *path, const char *field, struct cab_cmp *c, struct cab_err *err)
{
	BIO *in = BIO_new_file(path, "r");
	STACK_OF(X509_INFO) *infos = NULL;
	int rc = 0;

	if (in == NULL) {
		ERR_clear_error();
		return cab_err_set(err, CAB_E_INVALID, field, "cannot read %s", path);
	}
	infos = PEM_X509_INFO_read_bio(in, NULL, NULL, NULL);
	for (int i = 0; infos != NULL && i < sk_X509_INFO_num(infos); i++) {
		X509 *x = sk_X509_INFO_value(infos, i)->x509;

		if (x == NULL)
			continue;
		if (!X509_STORE_add_cert(c->trusted, x) || !X509_up_ref(x) || !sk_X509_push(c->anchors, x)) {
			rc = cab_err_ossl(err, CAB_E_NOMEM, "cannot keep a trusted certificate");
			break;
		}
	}
	if (rc == 0 && sk_X509_num(c->anchors) == 0)
		rc = cab_err_set(err, CAB_E_INVALID, field, "no certificate in %s", path);
	ERR_clear_error();
	sk_X509_INFO_pop_free(infos, X509_INFO_free);
	BIO_free(in);
	return rc;
}

static int load_client(struct cab_cmp *c, const struct cab_config *cfg, struct cab_err *err)
{
	BIO *in = BIO_new_file(cfg->cmp_client_cert, "r");

	c->client_cert = in ? PEM_read_bio_X509(in, NULL, NULL, NULL) : NULL;
	BIO_free(in);
	if (c->client_cert == NULL) {
		ERR_clear_error();
		return cab_err_set(err, CAB_E_INVALID, "cmp.client_cert", "cannot read a certificate from %s",
				   cfg->cmp_client_cert);
	}
	in = BIO_new_file(cfg->cmp_client_key, "r");
	c->client_key = in ? PEM_read_bio_PrivateKey(in, NULL, NULL, NULL) : NULL;
	BIO_free(in);
	if (c->client_key == NULL || X509_check_private_key(c->client_cert, c->client_key) != 1) {
		ERR_clear_error();
		return cab_err_set(err, CAB_E_INVALID, "cmp.client_key",
				   "cannot read a key for cmp.client_cert from %s", cfg->cmp_client_key);
	}
	return 0;
}

static int parse_url(struct cab_cmp *c, const struct cab_config *cfg, struct cab_err *err)
{
	int ssl = 0, port = 0;

	if (!OSSL_HTTP_parse_url(cfg->cmp_url, &ssl, NULL, &c->host, &c->port, &port, &c->path, NULL, NULL) ||
	    ssl) {
		ERR_clear_error();
		return cab_err_set(err, CAB_E_INVALID, "cmp.url", "cannot parse %s", cfg->cmp_url);
	}
	if (cfg->cmp_crl_url != NULL && cfg->cmp_crl_url[0] != '\0') {
		c->crl_url = strdup(cfg->cmp_crl_url);
	} else {
		size_t n = strlen(c->host) + strlen(c->port) + 32;

		/* the ca-bridge server's GET /crl on the same host and port */
		c->crl_url = malloc(n);
		if (c->crl_url != NULL)
			snprintf(c->crl_url, n, "http://%s%s%s:%s/crl", strchr(c->host, ':') ? "[" : "",
				 c->host, strchr(c->host, ':') ? "]" : "", c->port);
	}
	if (c->crl_url == NULL)
		return cab_err_set(err, CAB_E_NOMEM, "", "out of memory");
	return 0;
}

static void cmp_close(struct cab *cab)
{
	struct cab_cmp *c = cab_cmp_of(cab);

	if (c == NULL)
		return;
	OPENSSL_clear_free(c->secret, c->secret_len);
	free(c->reference);
	OPENSSL_free(c->host);
	OPENSSL_free(c->port);
	OPENSSL_free(c->path);
	free(c->crl_url);
	X509_free(c->client_cert);
	EVP_PKEY_free(c->client_key);
	X509_STORE_free(c->trusted);
	sk_X509_pop_free(c->anchors, X509_free);
	free(c->crl);
	pthread_mutex_destroy(&c->crl_lock);
	free(c->ca_dir);
	free(c);
	cab->be_ctx = NULL;
}

static int cmp_open(struct cab *cab, const struct cab_config *cfg, struct cab_err *err)
{
	struct cab_cmp *c = calloc(1, sizeof(*c));
	int rc;

	if (c == NULL)
		return cab_err_set(err, CAB_E_NOMEM, "", "out of memory");
	pthread_mutex_init(&c->crl_lock, NULL);
	cab->be_ctx = c; /* from here on cmp_close frees it, also after a failure below */
	c->timeout_s = cfg->cmp_timeout_s > 0 ? cfg->cmp_timeout_s : 30;
	c->ca_dir = strdup(cfg->ca_dir);
	c->trusted = X509_STORE_new();
	c->anchors = sk_X509_new_null();
	if (c->ca_dir == NULL || c->trusted == NULL || c->anchors == NULL)
		return cab_err_set(err, CAB_E_NOMEM, "", "out of memory");
	if ((rc = parse_url(c, cfg, err)) != 0 ||
	    (rc = load_pem_file(cfg->cmp_trusted, "cmp.trusted", c, err)) != 0)
		return rc;
	if (cfg->cmp_secret != NULL && cfg->cmp_secret[0] != '\0') {
		c->secret_len = strlen(cfg->cmp_secret);
		c->secret = OPENSSL_memdup(cfg->cmp_secret, c->secret_len);
		c->reference = strdup(cfg->cmp_reference);
		if (c->secret == NULL || c->reference == NULL)
			return cab_err_set(err, CAB_E_NOMEM, "", "out of memory");
	} else if ((rc = load_client(c, cfg, err)) != 0) {
		return rc;
	}
	return cab_cmp_rec_open(c->ca_dir, err);
}

/* A client context for one transaction. */
static OSSL_CMP_CTX *new_ctx(struct cab_cmp *c, struct cab_err *err)
{
	OSSL_CMP_CTX *ctx = OSSL_CMP_CTX_new(NULL, NULL);
	int ok;

	ok = ctx != NULL && OSSL_CMP_CTX_set_log_cb(ctx, quiet_log) &&
	     OSSL_CMP_CTX_set1_server(ctx, c->host) && OSSL_CMP_CTX_set_serverPort(ctx, atoi(c->port)) &&
	     OSSL_CMP_CTX_set1_serverPath(ctx, c->path) && OSSL_CMP_CTX_set_http_cb(ctx, cab_cmp_http_cb) &&
	     OSSL_CMP_CTX_set_option(ctx, OSSL_CMP_OPT_MSG_TIMEOUT, c->timeout_s) &&
	     OSSL_CMP_CTX_set_option(ctx, OSSL_CMP_OPT_TOTAL_TIMEOUT, 4 * c->timeout_s) &&
	     OSSL_CMP_CTX_set_option(ctx, OSSL_CMP_OPT_IMPLICIT_CONFIRM, 1) && X509_STORE_up_ref(c->trusted);
	if (ok && !OSSL_CMP_CTX_set0_trustedStore(ctx, c->trusted)) {
		X509_STORE_free(c->trusted);
		ok = 0;
	}
	/* the certificate we receive must validate against the trust anchor before we confirm it */
	ok = ok && OSSL_CMP_CTX_set_certConf_cb_arg(ctx, c->trusted);
	if (ok && c->secret != NULL)
		ok = OSSL_CMP_CTX_set1_secretValue(ctx, c->secret, (int)c->secret_len) &&
		     OSSL_CMP_CTX_set1_referenceValue(ctx, (const unsigned char *)c->reference,
						      (int)strlen(c->reference));
	else if (ok)
		ok = OSSL_CMP_CTX_set1_cert(ctx, c->client_cert) &&
		     OSSL_CMP_CTX_set1_pkey(ctx, c->client_key);
	if (!ok) {
		OSSL_CMP_CTX_free(ctx);
		cab_err_ossl(err, CAB_E_NOMEM, "cannot set up a CMP context");
		return NULL;
	}
	return ctx;
}

/* Did the error queue come from the way to the CA rather than from what it said? */
static int transport_error(void)
{
	unsigned long e;
	int lib, reason;

	for (int i = 0; (e = ERR_peek_error_all(NULL, NULL, NULL, NULL, NULL)) != 0 && i < 64; i++) {
		lib = ERR_GET_LIB(e);
		reason = ERR_GET_REASON(e);
		if (lib == ERR_LIB_HTTP || lib == ERR_LIB_BIO || lib == ERR_LIB_SYS ||
		    (lib == ERR_LIB_CMP && (reason == CMP_R_TRANSFER_ERROR || reason == CMP_R_TOTAL_TIMEOUT)))
			return 1;
		ERR_get_error(); /* next one */
	}
	return 0;
}

/* The first error queue entry with its detail text, then clear the queue. */
static void ossl_text(char *out, size_t cap)
{
	const char *data = NULL;
	int flags = 0;
	unsigned long e = ERR_peek_error_data(&data, &flags);
	char buf[160] = "";

	if (e != 0)
		ERR_error_string_n(e, buf, sizeof(buf));
	snprintf(out, cap, "%s%s%s", buf, data != NULL && (flags & ERR_TXT_STRING) && data[0] ? ": " : "",
		 data != NULL && (flags & ERR_TXT_STRING) ? data : "");
}

/* Maps the outcome of a failed transaction to a code (see the top of the file). */
static int status_error(OSSL_CMP_CTX *ctx, const char *what, struct cab_err *err)
{
	char text[OSSL_CMP_PKISI_BUFLEN], ossl[256];
	int status = OSSL_CMP_CTX_get_status(ctx), fi = OSSL_CMP_CTX_get_failInfoCode(ctx), transport;

	ossl_text(ossl, sizeof(ossl));
	if (status != OSSL_CMP_PKISTATUS_rejection) {
		transport = transport_error();
		ERR_clear_error();
		if (transport)
			return cab_err_set(err, CAB_E_IO, "cmp.url", "%s: CA not reachable: %s", what, ossl);
		return cab_err_set(err, CAB_E_CA, "cmp.url", "%s: unusable answer from the CA: %s", what,
				   ossl);
	}
	ERR_clear_error();
	if (OSSL_CMP_CTX_snprint_PKIStatus(ctx, text, sizeof(text)) == NULL)
		snprintf(text, sizeof(text), "rejection");
	if (fi > 0 && (fi & (1 << OSSL_CMP_PKIFAILUREINFO_certRevoked)))
		return cab_err_set(err, CAB_E_ALREADY_REVOKED, "serial", "%s: %s", what, text);
	if (fi > 0 && (fi & (1 << OSSL_CMP_PKIFAILUREINFO_badCertId)))
		return cab_err_set(err, CAB_E_NOTFOUND, "serial", "%s: %s", what, text);
	if (fi > 0 && (fi & ((1 << OSSL_CMP_PKIFAILUREINFO_systemUnavail) |
			     (1 << OSSL_CMP_PKIFAILUREINFO_systemFailure))))
		return cab_err_set(err, CAB_E_IO, "cmp.url", "%s: CA unavailable: %s", what, text);
	return cab_err_set(err, CAB_E_REJECTED, "ca", "%s: %s", what, text);
}

/* Sends the P10CR and records the certificate; under the request's lock. */
static int request(struct cab_cmp *c, const struct cab_request *req, X509_REQ *csr, EVP_PKEY *key,
		   const unsigned char txid[16], struct cab_cert *out, struct cab_err *err)
{
	OSSL_CMP_CTX *ctx = new_ctx(c, err);
	ASN1_OCTET_STRING *tid = ASN1_OCTET_STRING_new();
	OSSL_CMP_ITAV *profile = NULL;
	unsigned char *der = NULL;
	char name[40], want[65];
	X509 *x;
	int n, rc = 0;

	cab_cmp_profile_name(req->cls, req->validity_years, name, sizeof(name));
	if (ctx == NULL) {
		rc = CAB_E_NOMEM; /* err filled by new_ctx */
		goto out;
	}
	/* the request's key given as the new key (public only), the key OpenSSL compares the
	 * certificate's with (it looks there first, then in the CSR): a CSR built here holds its
	 * key as an encoding only (cab_spki_set).  OpenSSL copies the CSR (set1), decoding it */
	if (tid == NULL || !ASN1_OCTET_STRING_set(tid, txid, 16) ||
	    !OSSL_CMP_CTX_set1_transactionID(ctx, tid) || !OSSL_CMP_CTX_set1_p10CSR(ctx, csr) ||
	    !EVP_PKEY_up_ref(key) || (!OSSL_CMP_CTX_set0_newPkey(ctx, 0, key) && (EVP_PKEY_free(key), 1)) ||
	    (profile = cab_cmp_profile_itav(name)) == NULL ||
	    !OSSL_CMP_CTX_push0_geninfo_ITAV(ctx, profile)) {
		OSSL_CMP_ITAV_free(profile);
		rc = cab_err_ossl(err, CAB_E_NOMEM, "cannot build the P10CR");
		goto out;
	}
	x = OSSL_CMP_exec_P10CR_ses(ctx);
	if (x == NULL) {
		rc = status_error(ctx, "p10cr", err);
		goto out;
	}
	/* OpenSSL compared the key with the CSR's already (badCertTemplate otherwise); we record
	 * the fingerprint the service will compare with the token key (R2) */
	if ((n = i2d_X509(x, &der)) <= 0 || (rc = cab_cert_fill(der, (size_t)n, out, err)) != 0 ||
	    cab_spki_sha256(X509_REQ_get_X509_PUBKEY(csr), want) != 0 ||
	    strcmp(want, out->spki_sha256_hex) != 0) {
		cab_cert_free(out);
		rc = rc ? rc
			: cab_err_set(err, CAB_E_CA, "key", "the CA returned a certificate for another key");
		goto out;
	}
	if ((rc = cab_cmp_rec_store(c->ca_dir, req->request_id, out, err)) != 0)
		cab_cert_free(out);
out:
	OPENSSL_free(der);
	ASN1_OCTET_STRING_free(tid);
	OSSL_CMP_CTX_free(ctx);
	return rc;
}

/* After the profile checks (cab.c): the CSR (token or given) goes to the CA as a P10CR. */
static int cmp_issue(struct cab *cab, const struct cab_request *req, X509_NAME *subject, int years,
		     struct cab_cert *out, struct cab_err *err)
{
	struct cab_cmp *c = cab_cmp_of(cab);
	unsigned char txid[16];
	X509_REQ *csr = NULL;
	EVP_PKEY *key = NULL;
	int fd = -1, rc;

	(void)years; /* the profile default is the CA's: only an explicit validity is sent */
	if ((rc = cab_cmp_rec_lock(c->ca_dir, req->request_id, txid, &fd, err)) != 0)
		return rc;
	rc = cab_cmp_rec_cert(c->ca_dir, req->request_id, out, err);
	if (rc != 0) {
		rc = rc > 0 ? 0 : rc; /* issued before: the same certificate */
		goto out;
	}
	if ((rc = cab_request_csr(cab, req, &csr, &key, err)) != 0)
		goto out;
	/* over CMP the CSR goes to the CA as it is: its subject must be the verified one */
	if (X509_NAME_cmp(X509_REQ_get_subject_name(csr), subject) != 0) {
		rc = cab_err_set(err, CAB_E_PROFILE, "csr", "the CSR's subject is not the request's subject");
		goto out;
	}
	rc = request(c, req, csr, key, txid, out, err);
out:
	X509_REQ_free(csr);
	EVP_PKEY_free(key);
	cab_cmp_rec_unlock(fd);
	return rc;
}

/* The certificate to name in the RR: ours from the record, else issuer and serial alone
 * (OpenSSL's RR takes only those from it), with the first trust anchor as issuer. */
static int rr_cert(struct cab_cmp *c, const char *serial, X509 **out, struct cab_err *err)
{
	BIGNUM *bn = NULL;
	ASN1_INTEGER *num = NULL;
	EVP_PKEY *key = NULL;
	X509 *x;
	int rc = cab_cmp_rec_by_serial(c->ca_dir, serial, out, err);

	if (rc != CAB_E_NOTFOUND)
		return rc;
	/* OpenSSL wants a whole certificate: the rest is filler, signed by a throwaway key */
	x = X509_new();
	key = EVP_EC_gen("P-256");
	if (x == NULL || key == NULL || !BN_hex2bn(&bn, serial) ||
	    (num = BN_to_ASN1_INTEGER(bn, NULL)) == NULL || !X509_set_version(x, X509_VERSION_3) ||
	    !X509_set_serialNumber(x, num) ||
	    !X509_set_issuer_name(x, X509_get_subject_name(sk_X509_value(c->anchors, 0))) ||
	    !X509_gmtime_adj(X509_getm_notBefore(x), 0) || !X509_gmtime_adj(X509_getm_notAfter(x), 0) ||
	    !X509_set_pubkey(x, key) || X509_sign(x, key, EVP_sha256()) <= 0) {
		X509_free(x);
		x = NULL;
	}
	EVP_PKEY_free(key);
	ASN1_INTEGER_free(num);
	BN_free(bn);
	*out = x;
	return x ? 0 : cab_err_ossl(err, CAB_E_NOMEM, "cannot name the certificate to revoke");
}

/* The CA sets the revocation time: when is not sent. */
static int cmp_revoke(struct cab *cab, const char *serial, enum cab_reason reason, time_t when,
		      struct cab_err *err)
{
	struct cab_cmp *c = cab_cmp_of(cab);
	OSSL_CMP_CTX *ctx = NULL;
	X509 *old = NULL;
	int rc;

	(void)when;
	if ((rc = rr_cert(c, serial, &old, err)) != 0)
		return rc;
	ctx = new_ctx(c, err);
	if (ctx == NULL) {
		rc = CAB_E_NOMEM;
		goto out;
	}
	/* RFC 5280 5.3.1: no reasonCode rather than "unspecified" */
	if (!OSSL_CMP_CTX_set1_oldCert(ctx, old) ||
	    (reason != CAB_REASON_UNSPECIFIED &&
	     !OSSL_CMP_CTX_set_option(ctx, OSSL_CMP_OPT_REVOCATION_REASON, (int)reason))) {
		rc = cab_err_ossl(err, CAB_E_NOMEM, "cannot build the RR");
		goto out;
	}
	if (OSSL_CMP_exec_RR_ses(ctx) != 1) {
		rc = status_error(ctx, "rr", err);
		goto out;
	}
	/* R14: the next cab_crl must show it, so the cached CRL goes */
	pthread_mutex_lock(&c->crl_lock);
	c->crl_at = 0;
	pthread_mutex_unlock(&c->crl_lock);
out:
	OSSL_CMP_CTX_free(ctx);
	X509_free(old);
	return rc;
}

const struct cab_backend cab_cmp_backend = {
	.name = "cmp",
	.needs_token = 1, /* keys and CSRs are made here, on the token; the CA only signs */
	.check = cmp_check,
	.open = cmp_open,
	.close = cmp_close,
	.issue = cmp_issue,
	.revoke = cmp_revoke,
	.crl = cab_cmp_crl,
	.chain_pem = cab_cmp_chain_pem,
};
