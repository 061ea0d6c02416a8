/*
 * cab_csr.c - the PKCS#10 request for a token key, signed on the token.  A fresh wrapped key
 * signs its own request at keygen, while it is still a session object (cab_keygen_csr): the
 * first certificate then needs no unwrap.
 *
 * No OpenSSL engine or provider for PKCS#11: OpenSSL builds the request and encodes its
 * CertificationRequestInfo (i2d_re_X509_REQ_tbs); we hash it, have the token sign the
 * digest (C_Sign) and put algorithm and signature into the request.  The result is checked
 * with X509_REQ_verify before anyone sees it.
 */
#include "ca-bridge/cab_int.h"

#include <openssl/err.h>
#include <openssl/objects.h>
#include <openssl/sha.h>
#include <stdlib.h>
#include <string.h>

static int set_signature(X509_REQ *req, enum cab_alg alg, const unsigned char *sig, size_t siglen,
			 struct cab_err *err)
{
	X509_ALGOR *algor = X509_ALGOR_new();
	ASN1_BIT_STRING *bs = ASN1_BIT_STRING_new();
	int rc = 0;

	if (algor == NULL || bs == NULL ||
	    !X509_ALGOR_set0(algor,
			     OBJ_nid2obj(alg == CAB_ALG_RSA_3072 ? NID_sha256WithRSAEncryption
								 : NID_ecdsa_with_SHA256),
			     alg == CAB_ALG_RSA_3072 ? V_ASN1_NULL : V_ASN1_UNDEF, NULL) ||
	    !X509_REQ_set1_signature_algo(req, algor) ||
	    !ASN1_BIT_STRING_set(bs, (unsigned char *)sig, (int)siglen)) {
		rc = cab_err_ossl(err, CAB_E_CA, "cannot set the request's signature");
		goto out;
	}
	/* a signature has no unused bits; without the flag OpenSSL would count trailing zeros */
	bs->flags &= ~(ASN1_STRING_FLAG_BITS_LEFT | 0x07);
	bs->flags |= ASN1_STRING_FLAG_BITS_LEFT;
	X509_REQ_set0_signature(req, bs);
	bs = NULL;
out:
	ASN1_BIT_STRING_free(bs);
	X509_ALGOR_free(algor);
	return rc;
}

/* The request for subject and the key spki, unsigned, and the SHA-256 of its
 * CertificationRequestInfo: what the key signs. */
static int request_tbs(const struct cab_subject *subject, const unsigned char *spki, size_t spki_len,
		       X509_REQ **out, unsigned char md[SHA256_DIGEST_LENGTH], struct cab_err *err)
{
	X509_REQ *req = NULL;
	X509_NAME *name = NULL;
	unsigned char *tbs = NULL;
	int n, rc;

	if ((rc = cab_profile_subject(subject, CAB_CLASS_NONE, &name, err)) != 0)
		return rc;
	req = X509_REQ_new();
	/* the key as its SPKI's fields: X509_REQ_set_pubkey would encode it and decode it again */
	if (req == NULL || !X509_REQ_set_version(req, X509_REQ_VERSION_1) ||
	    !X509_REQ_set_subject_name(req, name) ||
	    cab_spki_set(X509_REQ_get_X509_PUBKEY(req), spki, spki_len) != 0) {
		rc = cab_err_ossl(err, CAB_E_CA, "cannot build the request");
		goto out;
	}
	n = i2d_re_X509_REQ_tbs(req, &tbs);
	if (n <= 0) {
		rc = cab_err_ossl(err, CAB_E_CA, "cannot encode the request");
		goto out;
	}
	SHA256(tbs, (size_t)n, md);
	*out = req;
	req = NULL;
out:
	X509_REQ_free(req);
	X509_NAME_free(name);
	OPENSSL_free(tbs);
	return rc;
}

int cab_csr_first_digest(const struct cab_subject *subject, EVP_PKEY *pub, unsigned char dgst[32],
			 struct cab_err *err)
{
	X509_REQ *req = NULL;
	unsigned char *spki = NULL;
	int n = cab_spki_der(pub, &spki), rc;

	if (n <= 0)
		return cab_err_ossl(err, CAB_E_CA, "cannot encode the public key");
	rc = request_tbs(subject, spki, (size_t)n, &req, dgst, err);
	X509_REQ_free(req);
	OPENSSL_free(spki);
	return rc;
}

int cab_csr_build(struct cab *cab, const char *key_id, const struct cab_wrapped *w,
		  const struct cab_subject *subject, const unsigned char *first_sig, size_t first_sig_len,
		  X509_REQ **out, EVP_PKEY **key, struct cab_err *err)
{
	X509_REQ *req = NULL;
	EVP_PKEY *pub = NULL;
	enum cab_alg alg;
	unsigned char *sig = NULL, *own = NULL, md[SHA256_DIGEST_LENGTH];
	const unsigned char *spki = NULL, *wk = NULL;
	size_t siglen = 0, spki_len = 0, wklen = 0;
	int n, rc;

	*key = NULL;
	if (w != NULL) {
		if ((rc = cab_wrapped_parts(cab, w, &alg, &spki, &spki_len, &wk, &wklen, err)) != 0)
			return rc;
		if ((pub = cab_spki_key(spki, spki_len)) == NULL)
			return cab_err_ossl(err, CAB_E_INVALID, "cannot decode the blob's public key");
	} else if (!cab_id_ok(key_id)) {
		return cab_err_set(err, CAB_E_INVALID, "key_id", "key id must be 1..64 of [A-Za-z0-9._-]");
	} else if ((rc = cab_p11_find(cab->p11, key_id, &pub, &alg, err)) != 0) {
		return rc;
	} else if ((n = cab_spki_der(pub, &own)) <= 0) {
		rc = cab_err_ossl(err, CAB_E_CA, "cannot encode the public key");
		goto out;
	} else {
		spki = own;
		spki_len = (size_t)n;
	}
	if ((rc = request_tbs(subject, spki, spki_len, &req, md, err)) != 0)
		goto out;
	/* a wrapped key's first signature, made at keygen over this same request (cab_keygen_csr):
	 * used when it verifies; one that does not (the subject changed since) is set aside and
	 * the request signed from the blob */
	if (w != NULL && first_sig != NULL && first_sig_len > 0 && first_sig_len <= 1024) {
		if ((rc = set_signature(req, alg, first_sig, first_sig_len, err)) != 0)
			goto out;
		if (X509_REQ_verify(req, pub) == 1)
			goto done;
		ERR_clear_error();
	}
	if (w != NULL)
		rc = cab_p11_sign_wrapped(cab->p11, w->kek_label, w->kek_version, alg, wk, wklen, md, &sig,
					  &siglen, err);
	else
		rc = cab_p11_sign_digest(cab->p11, key_id, alg, md, &sig, &siglen, err);
	if (rc != 0 || (rc = set_signature(req, alg, sig, siglen, err)) != 0)
		goto out;
	if (X509_REQ_verify(req, pub) != 1) {
		rc = cab_err_ossl(err, CAB_E_TOKEN, "the token's signature on the request does not verify");
		goto out;
	}
done:
	*out = req;
	req = NULL;
	*key = pub;
	pub = NULL;
out:
	X509_REQ_free(req);
	EVP_PKEY_free(pub);
	OPENSSL_free(own);
	OPENSSL_free(sig);
	return rc;
}

static int csr_der(struct cab *cab, const char *key_id, const struct cab_wrapped *w,
		   const struct cab_subject *subject, unsigned char **der, size_t *len, struct cab_err *err)
{
	X509_REQ *req = NULL;
	EVP_PKEY *key = NULL;
	unsigned char *enc = NULL;
	int n, rc;

	if (cab == NULL || subject == NULL || der == NULL || len == NULL)
		return cab_err_set(err, CAB_E_INVALID, "", "missing argument");
	if ((rc = cab_csr_build(cab, key_id, w, subject, NULL, 0, &req, &key, err)) != 0)
		return rc;
	n = i2d_X509_REQ(req, &enc);
	if (n <= 0) {
		rc = cab_err_ossl(err, CAB_E_CA, "cannot encode the request");
		goto out;
	}
	*der = malloc((size_t)n);
	if (*der == NULL) {
		rc = cab_err_set(err, CAB_E_NOMEM, "", "out of memory");
		goto out;
	}
	memcpy(*der, enc, (size_t)n);
	*len = (size_t)n;
out:
	OPENSSL_free(enc);
	X509_REQ_free(req);
	EVP_PKEY_free(key);
	return rc;
}

int cab_csr(struct cab *cab, const char *key_id, const struct cab_subject *subject, unsigned char **der,
	    size_t *len, struct cab_err *err)
{
	return csr_der(cab, key_id, NULL, subject, der, len, err);
}

int cab_csr_wrapped(struct cab *cab, const struct cab_wrapped *w, const struct cab_subject *subject,
		    unsigned char **der, size_t *len, struct cab_err *err)
{
	if (w == NULL)
		return cab_err_set(err, CAB_E_INVALID, "key_blob", "missing wrapped key");
	return csr_der(cab, NULL, w, subject, der, len, err);
}
