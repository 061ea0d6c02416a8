/*
 * local_crl.c - the local CA's CRL (R14): v2, CRL number, reason codes, ExpiredCertsOnCRL
 * (2.5.29.60, EN 319 411-2: revoked certificates stay listed after they expire), nextUpdate
 * crl_validity_hours after thisUpdate.
 *
 * Fast at 100,000 entries: the signed CRL is cached and rebuilt only after a revocation or
 * when half its validity has passed.  A rebuild does not hand 100,000 X509_REVOKED objects
 * to OpenSSL: each entry was DER-encoded once when it was revoked (local_revoke.c), OpenSSL
 * encodes a CRL without entries (header and extensions), and the entries are spliced in as
 * one SEQUENCE before the extensions; then the new TBSCertList is signed once.
 */
#include "ca-bridge/local/local_int.h"

#include <openssl/objects.h>
#include <openssl/x509v3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define OID_EXPIRED_CERTS_ON_CRL "2.5.29.60"

static int next_crl_number(struct cab_local *l, long long *num, struct cab_err *err)
{
	char path[4096], text[32];
	unsigned char *data = NULL;
	size_t len = 0;
	long long last = 0;
	int rc;

	snprintf(path, sizeof(path), "%s/crlnumber", l->ca_dir);
	rc = cab_read_file(path, &data, &len);
	if (rc == 0 && len > 0 && len < sizeof(text)) {
		memcpy(text, data, len);
		text[len] = '\0';
		last = strtoll(text, NULL, 10);
	} else if (rc != CAB_E_NOTFOUND && rc != 0) {
		return cab_err_set(err, rc, "ca.dir", "cannot read %s", path);
	}
	free(data);
	*num = last + 1;
	/* written before the CRL is published, so a number is never used twice */
	len = (size_t)snprintf(text, sizeof(text), "%lld\n", *num);
	return cab_write_atomic(l->ca_dir, "crlnumber", text, len, 0644, err);
}

static int add_expired_certs_on_crl(struct cab_local *l, X509_CRL *crl)
{
	ASN1_GENERALIZEDTIME *since = ASN1_TIME_to_generalizedtime(X509_get0_notBefore(l->ca_cert), NULL);
	ASN1_OBJECT *obj = OBJ_txt2obj(OID_EXPIRED_CERTS_ON_CRL, 1);
	ASN1_OCTET_STRING *os = ASN1_OCTET_STRING_new();
	X509_EXTENSION *ext = NULL;
	unsigned char *der = NULL;
	int n = -1, ok = 0;

	/* every certificate this CA ever revoked is listed: since the CA's own start */
	if (since != NULL)
		n = i2d_ASN1_GENERALIZEDTIME(since, &der);
	if (n > 0 && obj != NULL && os != NULL && ASN1_OCTET_STRING_set(os, der, n))
		ext = X509_EXTENSION_create_by_OBJ(NULL, obj, 0, os);
	if (ext != NULL)
		ok = X509_CRL_add_ext(crl, ext, -1);
	X509_EXTENSION_free(ext);
	OPENSSL_free(der);
	ASN1_OCTET_STRING_free(os);
	ASN1_OBJECT_free(obj);
	ASN1_GENERALIZEDTIME_free(since);
	return ok;
}

/* A signed CRL without entries: OpenSSL encodes header, extensions and the algorithm. */
static X509_CRL *crl_template(struct cab_local *l, long long number, time_t now)
{
	X509_CRL *crl = X509_CRL_new();
	ASN1_INTEGER *num = ASN1_INTEGER_new();
	ASN1_TIME *t1 = ASN1_TIME_set(NULL, now),
		  *t2 = ASN1_TIME_set(NULL, now + (time_t)l->crl_hours * 3600);
	X509_EXTENSION *aki = NULL;
	X509V3_CTX ctx;
	int ok;

	X509V3_set_ctx(&ctx, l->ca_cert, NULL, NULL, crl, 0);
	X509V3_set_ctx_nodb(&ctx);
	ok = crl != NULL && num != NULL && t1 != NULL && t2 != NULL && ASN1_INTEGER_set_int64(num, number) &&
	     X509_CRL_set_version(crl, X509_CRL_VERSION_2) &&
	     X509_CRL_set_issuer_name(crl, X509_get_subject_name(l->ca_cert)) &&
	     X509_CRL_set1_lastUpdate(crl, t1) && X509_CRL_set1_nextUpdate(crl, t2) &&
	     X509_CRL_add1_ext_i2d(crl, NID_crl_number, num, 0, 0) == 1 &&
	     (aki = X509V3_EXT_nconf_nid(NULL, &ctx, NID_authority_key_identifier, "keyid:always")) != NULL &&
	     X509_CRL_add_ext(crl, aki, -1) && add_expired_certs_on_crl(l, crl) &&
	     X509_CRL_sign(crl, l->ca_key, EVP_sha256()) > 0;
	X509_EXTENSION_free(aki);
	ASN1_TIME_free(t1);
	ASN1_TIME_free(t2);
	ASN1_INTEGER_free(num);
	if (!ok) {
		X509_CRL_free(crl);
		return NULL;
	}
	return crl;
}

/* TBSCertList of the template with the cached entries inserted before crlExtensions [0]. */
static int splice_entries(struct cab_local *l, const unsigned char *tbs, long tbslen, struct cab_buf *out)
{
	const unsigned char *p = tbs, *start, *ext = NULL, *end;
	struct cab_buf body = {0};
	long len;
	int tag, cls, children = 0, rc = CAB_E_CA;

	if (ASN1_get_object(&p, &len, &tag, &cls, tbslen) & 0x80 || tag != V_ASN1_SEQUENCE)
		return CAB_E_CA;
	start = p;
	end = p + len;
	while (p < end && ext == NULL) {
		const unsigned char *child = p;

		if (ASN1_get_object(&p, &len, &tag, &cls, end - p) & 0x80)
			return CAB_E_CA;
		if (cls == V_ASN1_CONTEXT_SPECIFIC && tag == 0)
			ext = child;
		else
			children++;
		p += len;
	}
	/* version, signature, issuer, thisUpdate, nextUpdate: no entries in the template */
	if (ext == NULL || children != 5)
		return CAB_E_CA;
	if (cab_buf_put(&body, start, (size_t)(ext - start)) != 0 ||
	    (l->revoked_count > 0 && cab_der_tlv(&body, 0x30, l->revoked_der.p, l->revoked_der.len) != 0) ||
	    cab_buf_put(&body, ext, (size_t)(end - ext)) != 0 ||
	    cab_der_tlv(out, 0x30, body.p, body.len) != 0)
		goto out;
	rc = 0;
out:
	cab_buf_free(&body);
	return rc;
}

static int sign_tbs(struct cab_local *l, X509_CRL *tmpl, const struct cab_buf *tbs, struct cab_buf *out)
{
	const X509_ALGOR *alg = NULL;
	EVP_MD_CTX *md = EVP_MD_CTX_new();
	unsigned char *sig = NULL, *algder = NULL;
	size_t siglen = 0;
	struct cab_buf body = {0}, bits = {0};
	int n, rc = CAB_E_CA;

	X509_CRL_get0_signature(tmpl, NULL, &alg);
	if (md == NULL || EVP_DigestSignInit(md, NULL, EVP_sha256(), NULL, l->ca_key) != 1 ||
	    EVP_DigestSign(md, NULL, &siglen, tbs->p, tbs->len) != 1 ||
	    (sig = OPENSSL_malloc(siglen)) == NULL ||
	    EVP_DigestSign(md, sig, &siglen, tbs->p, tbs->len) != 1 ||
	    (n = i2d_X509_ALGOR(alg, &algder)) <= 0)
		goto out;
	if (cab_buf_put(&bits, "\0", 1) != 0 || cab_buf_put(&bits, sig, siglen) != 0 ||
	    cab_buf_put(&body, tbs->p, tbs->len) != 0 || cab_buf_put(&body, algder, (size_t)n) != 0 ||
	    cab_der_tlv(&body, 0x03, bits.p, bits.len) != 0 || cab_der_tlv(out, 0x30, body.p, body.len) != 0)
		goto out;
	rc = 0;
out:
	cab_buf_free(&body);
	cab_buf_free(&bits);
	OPENSSL_free(algder);
	OPENSSL_free(sig);
	EVP_MD_CTX_free(md);
	return rc;
}

static int rebuild(struct cab_local *l, time_t now, struct cab_err *err)
{
	X509_CRL *tmpl = NULL;
	unsigned char *tbs = NULL;
	struct cab_buf full = {0}, crl = {0};
	long long number;
	int n, rc;

	if ((rc = next_crl_number(l, &number, err)) != 0)
		return rc;
	tmpl = crl_template(l, number, now);
	if (tmpl == NULL || (n = i2d_re_X509_CRL_tbs(tmpl, &tbs)) <= 0 ||
	    splice_entries(l, tbs, n, &full) != 0 || sign_tbs(l, tmpl, &full, &crl) != 0) {
		rc = cab_err_ossl(err, CAB_E_CA, "cannot build the CRL");
		cab_buf_free(&crl);
		goto out;
	}
	free(l->crl);
	l->crl = crl.p;
	l->crl_len = crl.len;
	l->crl_this_update = now;
	l->crl_dirty = 0;
out:
	cab_buf_free(&full);
	OPENSSL_free(tbs);
	X509_CRL_free(tmpl);
	return rc;
}

int cab_local_crl(struct cab *cab, unsigned char **der, size_t *len, struct cab_err *err)
{
	struct cab_local *l = cab_local_of(cab);
	time_t now = time(NULL);
	int rc;

	if ((rc = cab_local_lock(l, err)) != 0)
		return rc;
	/* R14: fresh after every change; reissued at half-life, well before nextUpdate */
	if (l->crl == NULL || l->crl_dirty || now - l->crl_this_update >= (time_t)l->crl_hours * 1800 ||
	    now < l->crl_this_update)
		rc = rebuild(l, now, err);
	if (rc == 0) {
		*der = malloc(l->crl_len);
		if (*der == NULL) {
			rc = cab_err_set(err, CAB_E_NOMEM, "", "out of memory");
		} else {
			memcpy(*der, l->crl, l->crl_len);
			*len = l->crl_len;
		}
	}
	cab_local_unlock(l);
	return rc;
}
