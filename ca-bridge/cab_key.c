/*
 * cab_key.c - a public key as the service stores it: DER SubjectPublicKeyInfo and its
 * SHA-256 fingerprint (the database's unique index that keeps one key to one certificate, R2).
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
}
