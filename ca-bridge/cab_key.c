/*
 * cab_key.c - a public key as the service stores it: DER SubjectPublicKeyInfo and its
 * SHA-256 fingerprint (the database's unique index that keeps one key to one certificate, R2),
 * and the wrapped form stored beside the certificate (key_storage "wrapped", issue #15).
 */
#include "ca-bridge/cab_int.h"

#include <openssl/sha.h>
#include <stdlib.h>
#include <string.h>

int cab_spki_sha256(EVP_PKEY *pub, char hex[65])
{
	unsigned char *der = NULL, md[SHA256_DIGEST_LENGTH];
	int n = i2d_PUBKEY(pub, &der);

	if (n <= 0)
		return CAB_E_CA;
	SHA256(der, (size_t)n, md);
	cab_hex(md, sizeof(md), hex);
	OPENSSL_free(der);
	return 0;
}

int cab_key_fill(EVP_PKEY *pub, enum cab_alg alg, struct cab_key *out, struct cab_err *err)
{
	unsigned char *der = NULL, md[SHA256_DIGEST_LENGTH];
	int n = i2d_PUBKEY(pub, &der);

	if (n <= 0)
		return cab_err_ossl(err, CAB_E_CA, "cannot encode the public key");
	out->spki_der = malloc((size_t)n);
	if (out->spki_der == NULL) {
		OPENSSL_free(der);
		return cab_err_set(err, CAB_E_NOMEM, "", "out of memory");
	}
	memcpy(out->spki_der, der, (size_t)n);
	out->spki_len = (size_t)n;
	SHA256(der, (size_t)n, md);
	cab_hex(md, sizeof(md), out->sha256_hex);
	out->alg = alg;
	OPENSSL_free(der);
	return 0;
}

void cab_key_free(struct cab_key *key)
{
	if (key == NULL)
		return;
	free(key->spki_der);
	key->spki_der = NULL;
	key->spki_len = 0;
	free(key->blob);
	key->blob = NULL;
	key->blob_len = 0;
}

/* The public key travels in the blob because the token cannot give it back: an unwrapped EC
 * private key has no CKA_EC_POINT.  It is not secret; a changed one gives a CSR whose
 * signature does not verify (cab_csr_build checks) and a fingerprint the database refuses. */
static const unsigned char blob_magic[4] = {'C', 'A', 'B', '1'};

int cab_blob_pack(enum cab_alg alg, EVP_PKEY *pub, const unsigned char *w, size_t wlen, unsigned char **blob,
		  size_t *len, struct cab_err *err)
{
	unsigned char *der = NULL;
	int n = i2d_PUBKEY(pub, &der);
	size_t total;

	if (n <= 0 || n > 0xffff)
		return cab_err_ossl(err, CAB_E_CA, "cannot encode the public key");
	total = sizeof(blob_magic) + 3 + (size_t)n + wlen;
	*blob = malloc(total);
	if (*blob == NULL) {
		OPENSSL_free(der);
		return cab_err_set(err, CAB_E_NOMEM, "", "out of memory");
	}
	memcpy(*blob, blob_magic, sizeof(blob_magic));
	(*blob)[4] = (unsigned char)alg;
	(*blob)[5] = (unsigned char)(n >> 8);
	(*blob)[6] = (unsigned char)(n & 0xff);
	memcpy(*blob + 7, der, (size_t)n);
	memcpy(*blob + 7 + n, w, wlen);
	*len = total;
	OPENSSL_free(der);
	return 0;
}

int cab_blob_unpack(const unsigned char *blob, size_t len, enum cab_alg *alg, EVP_PKEY **pub,
		    const unsigned char **w, size_t *wlen, struct cab_err *err)
{
	size_t n;
	const unsigned char *p;

	if (len < 7 + 16 || memcmp(blob, blob_magic, sizeof(blob_magic)) != 0 ||
	    (blob[4] != CAB_ALG_EC_P256 && blob[4] != CAB_ALG_RSA_3072))
		return cab_err_set(err, CAB_E_INVALID, "key_blob", "not a wrapped key blob");
	n = ((size_t)blob[5] << 8) | blob[6];
	if (7 + n + 16 > len)
		return cab_err_set(err, CAB_E_INVALID, "key_blob", "wrapped key blob is truncated");
	*alg = (enum cab_alg)blob[4];
	if (pub != NULL) {
		p = blob + 7;
		*pub = d2i_PUBKEY(NULL, &p, (long)n);
		if (*pub == NULL || p != blob + 7 + n)
			return cab_err_ossl(err, CAB_E_INVALID, "cannot decode the blob's public key");
	}
	*w = blob + 7 + n;
	*wlen = len - 7 - n;
	return 0;
}
