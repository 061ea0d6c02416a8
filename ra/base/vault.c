/*
 * vault.c - values sealed at rest under the configured evidence.key (seal.h's AES-256-GCM),
 * as hex text for PostgreSQL's decode($n, 'hex'); see vault.h.
 */
#include "ra/base/vault.h"

#include <openssl/crypto.h>
#include <stdlib.h>
#include <string.h>

#include "ra/base/seal.h"

static int load_key(const struct config *cfg, uint8_t key[SEAL_KEY_LEN], struct ra_err *err)
{
	const char *k = cfg_str(cfg, "evidence.key");

	if (k == NULL)
		return ra_err_set(err, RA_E_CONFIG, "evidence.key",
				  "evidence.key is not set: identification evidence cannot be stored (R18)");
	return seal_key_parse(k, "evidence.key", key, err);
}

int vault_seal(const struct config *cfg, const char *aad, const void *text, size_t len, char **hex,
	       struct ra_err *err)
{
	static const char digits[] = "0123456789abcdef";
	uint8_t key[SEAL_KEY_LEN], *blob = NULL;
	size_t blen = 0;
	int rc;

	*hex = NULL;
	if ((rc = load_key(cfg, key, err)) != 0)
		return rc;
	rc = seal_encrypt(key, aad, strlen(aad), text, len, &blob, &blen);
	OPENSSL_cleanse(key, sizeof(key));
	if (rc != 0)
		return ra_err_set(err, rc, "evidence", "cannot seal the evidence");
	*hex = malloc(blen * 2 + 1);
	if (*hex == NULL) {
		seal_free(blob, blen);
		return ra_err_set(err, RA_E_NOMEM, "", "out of memory");
	}
	for (size_t i = 0; i < blen; i++) {
		(*hex)[2 * i] = digits[blob[i] >> 4];
		(*hex)[2 * i + 1] = digits[blob[i] & 15];
	}
	(*hex)[blen * 2] = '\0';
	seal_free(blob, blen);
	return 0;
}

static int nibble(int c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

int vault_open(const struct config *cfg, const char *aad, const char *hex, char **text, size_t *len,
	       struct ra_err *err)
{
	uint8_t key[SEAL_KEY_LEN], *blob, *pt = NULL;
	size_t n, blen, ptlen = 0;
	int rc;

	*text = NULL;
	*len = 0;
	if (hex[0] == '\\' && hex[1] == 'x')
		hex += 2;
	n = strlen(hex);
	if (n % 2 != 0)
		return ra_err_set(err, RA_E_INVALID, "evidence", "evidence is not a sealed blob");
	blen = n / 2;
	blob = malloc(blen ? blen : 1);
	if (blob == NULL)
		return ra_err_set(err, RA_E_NOMEM, "", "out of memory");
	for (size_t i = 0; i < blen; i++) {
		int hi = nibble(hex[2 * i]), lo = nibble(hex[2 * i + 1]);
		if (hi < 0 || lo < 0) {
			free(blob);
			return ra_err_set(err, RA_E_INVALID, "evidence", "evidence is not a sealed blob");
		}
		blob[i] = (uint8_t)(hi << 4 | lo);
	}
	if ((rc = load_key(cfg, key, err)) != 0) {
		free(blob);
		return rc;
	}
	rc = seal_decrypt(key, aad, strlen(aad), blob, blen, &pt, &ptlen);
	OPENSSL_cleanse(key, sizeof(key));
	free(blob);
	if (rc != 0)
		return ra_err_set(err, RA_E_INVALID, "evidence",
				  "evidence does not open (tampered, wrong key or row)");
	*text = (char *)pt;
	*len = ptlen;
	return 0;
}

void vault_text_free(char *text, size_t len)
{
	seal_free(text, len);
}
