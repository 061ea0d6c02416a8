/*
 * fuzz_csr.c - libFuzzer target: a PKCS#10 request made elsewhere (cab_request_csr: DER
 * decode, nothing trailing, signature verified, key within the profile) and a certificate
 * the CA answered with (cab_cert_fill: serial, SPKI hash, validity, PEM), and the same bytes
 * as the public key a wrapped key's blob carries (cab_spki_key, cab_spki_set: read without
 * OpenSSL's decoders).
 */
#include <openssl/x509.h>
#include <stdint.h>

#include "ca-bridge/cab_int.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct cab_request req = {.request_id = "fuzz", .csr_der = data, .csr_len = size};
	struct cab_err err = {0};
	struct cab_cert cert = {0};
	X509_REQ *csr = NULL;
	EVP_PKEY *key = NULL;
	X509_PUBKEY *pk = X509_PUBKEY_new();

	(void)cab_request_csr(NULL, &req, &csr, &key, &err);
	X509_REQ_free(csr);
	EVP_PKEY_free(key);
	EVP_PKEY_free(cab_spki_key(data, size));
	if (pk != NULL && cab_spki_set(pk, data, size) == 0) {
		char hex[65];

		(void)cab_spki_sha256(pk, hex);
	}
	X509_PUBKEY_free(pk);
	if (cab_cert_fill(data, size, &cert, &err) == 0)
		cab_cert_free(&cert);
	return 0;
}
