/* seal.c - AES-256-GCM blobs for evidence at rest (R18); see seal.h for the format. */
#include "ra/base/seal.h"

#include "ra/base/secret.h"

#include <ctype.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/rand.h>
#include <stdlib.h>
#include <string.h>

static int hexval(int c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	c = tolower(c);
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	return -1;
}

static int parse_hex(const char *text, uint8_t key[SEAL_KEY_LEN])
{
	for (size_t i = 0; i < SEAL_KEY_LEN; i++) {
		int hi = hexval((unsigned char)text[2 * i]);
		int lo = hexval((unsigned char)text[2 * i + 1]);

		if (hi < 0 || lo < 0)
			return -1;
		key[i] = (uint8_t)(hi << 4 | lo);
	}
	return 0;
}

int seal_key_parse(const char *text, const char *field, uint8_t key[SEAL_KEY_LEN], struct ra_err *err)
{
	uint8_t tmp[64];
	size_t n = 0;
	int rc = 0;

	if (text == NULL || text[0] == '\0')
		return ra_err_set(err, RA_E_CONFIG, field, "the evidence key is not set");
	if (strlen(text) == 2 * SEAL_KEY_LEN && parse_hex(text, tmp) == 0) {
		memcpy(key, tmp, SEAL_KEY_LEN);
		goto out;
	}
	if (secret_b64_decode(text, tmp, sizeof(tmp), &n) == 0 && n == SEAL_KEY_LEN) {
		memcpy(key, tmp, SEAL_KEY_LEN);
		goto out;
	}
	rc = ra_err_set(err, RA_E_CONFIG, field,
			"the evidence key must be 64 hex digits or base64 of 32 bytes");
out:
	OPENSSL_cleanse(tmp, sizeof(tmp));
	return rc;
}

void seal_free(void *p, size_t len)
{
	if (p == NULL)
		return;
	OPENSSL_cleanse(p, len);
	free(p);
}

/* Feeds the version byte and the caller's AAD as associated data. */
static int put_aad(EVP_CIPHER_CTX *ctx, const uint8_t *version, const void *aad, size_t aad_len)
{
	int n;

	if (EVP_CipherUpdate(ctx, NULL, &n, version, 1) != 1)
		return -1;
	if (aad_len > 0 && EVP_CipherUpdate(ctx, NULL, &n, aad, (int)aad_len) != 1)
		return -1;
	return 0;
}

int seal_encrypt(const uint8_t key[SEAL_KEY_LEN], const void *aad, size_t aad_len, const void *pt,
		 size_t pt_len, uint8_t **blob, size_t *blob_len)
{
	EVP_CIPHER_CTX *ctx = NULL;
	uint8_t *out = NULL;
	size_t total = pt_len + SEAL_OVERHEAD;
	int n = 0, rc = RA_E_INTERNAL;

	if (key == NULL || blob == NULL || blob_len == NULL || (pt == NULL && pt_len > 0) ||
	    (aad == NULL && aad_len > 0) || pt_len > INT32_MAX || aad_len > INT32_MAX)
		return RA_E_INVALID;
	*blob = NULL;
	out = malloc(total);
	ctx = EVP_CIPHER_CTX_new();
	if (out == NULL || ctx == NULL) {
		rc = RA_E_NOMEM;
		goto out;
	}
	out[0] = SEAL_VERSION;
	if (RAND_bytes(out + 1, SEAL_NONCE_LEN) != 1)
		goto out;
	if (EVP_EncryptInit_ex(ctx, EVP_aes_256_gcm(), NULL, key, out + 1) != 1)
		goto out;
	if (put_aad(ctx, out, aad, aad_len) != 0)
		goto out;
	if (pt_len > 0 && EVP_EncryptUpdate(ctx, out + 1 + SEAL_NONCE_LEN, &n, pt, (int)pt_len) != 1)
		goto out;
	if (EVP_EncryptFinal_ex(ctx, out + 1 + SEAL_NONCE_LEN + n, &n) != 1)
		goto out;
	if (EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_GCM_GET_TAG, SEAL_TAG_LEN, out + 1 + SEAL_NONCE_LEN + pt_len) !=
	    1)
		goto out;
	*blob = out;
	*blob_len = total;
	out = NULL;
	rc = 0;
out:
	seal_free(out, total);
	EVP_CIPHER_CTX_free(ctx);
	return rc;
}

int seal_decrypt(const uint8_t key[SEAL_KEY_LEN], const void *aad, size_t aad_len, const uint8_t *blob,
		 size_t blob_len, uint8_t **pt, size_t *pt_len)
{
	EVP_CIPHER_CTX *ctx = NULL;
	uint8_t *out = NULL, tag[SEAL_TAG_LEN];
	size_t len;
	int n = 0, rc = RA_E_INVALID;

	if (key == NULL || pt == NULL || pt_len == NULL || blob == NULL || (aad == NULL && aad_len > 0) ||
	    aad_len > INT32_MAX)
		return RA_E_INVALID;
	*pt = NULL;
	if (blob_len < SEAL_OVERHEAD || blob[0] != SEAL_VERSION || blob_len - SEAL_OVERHEAD > INT32_MAX)
		return RA_E_INVALID;
	len = blob_len - SEAL_OVERHEAD;
	memcpy(tag, blob + blob_len - SEAL_TAG_LEN, SEAL_TAG_LEN);
	out = malloc(len + 1);
	ctx = EVP_CIPHER_CTX_new();
	if (out == NULL || ctx == NULL) {
		rc = RA_E_NOMEM;
		goto out;
	}
	if (EVP_DecryptInit_ex(ctx, EVP_aes_256_gcm(), NULL, key, blob + 1) != 1)
		goto out;
	if (put_aad(ctx, blob, aad, aad_len) != 0)
		goto out;
	if (len > 0 && EVP_DecryptUpdate(ctx, out, &n, blob + 1 + SEAL_NONCE_LEN, (int)len) != 1)
		goto out;
	if (EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_GCM_SET_TAG, SEAL_TAG_LEN, tag) != 1)
		goto out;
	/* The tag is checked here; before it succeeds, out holds unauthenticated bytes. */
	if (EVP_DecryptFinal_ex(ctx, out + n, &n) != 1)
		goto out;
	out[len] = '\0';
	*pt = out;
	*pt_len = len;
	out = NULL;
	rc = 0;
out:
	seal_free(out, len + 1);
	EVP_CIPHER_CTX_free(ctx);
	return rc;
}
