/* secret.c - constant-time comparison, webhook signatures, tokens and PINs; see secret.h. */
#include "ra/base/secret.h"

#include "ra/base/err.h"

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/rand.h>
#include <openssl/sha.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define PIN_SALT_LEN 16
#define PIN_KEY_LEN 32
/* scrypt cost for new PIN hashes: N = 2^15, r = 8 (32 MiB), p = 1, the RFC 7914 baseline. */
#define PIN_LOG2N 15
#define PIN_R 8
#define PIN_P 1
/* Bounds on stored parameters, so a corrupt row cannot make verify eat the machine. */
#define PIN_MAX_LOG2N 20
#define PIN_MAX_R 16
#define PIN_MAX_P 4

int secret_equal(const void *expected, size_t expected_len, const void *given, size_t given_len)
{
	if (expected == NULL || given == NULL || expected_len == 0)
		return 0;
	if (expected_len != given_len) {
		/* Same amount of work as a real comparison of given_len bytes. */
		(void)CRYPTO_memcmp(given, given, given_len);
		return 0;
	}
	return CRYPTO_memcmp(expected, given, given_len) == 0;
}

int secret_b64_decode(const char *in, uint8_t *out, size_t cap, size_t *out_len)
{
	EVP_ENCODE_CTX *ctx = NULL;
	size_t inlen = in ? strlen(in) : 0;
	uint8_t *tmp = NULL;
	int n1 = 0, n2 = 0, rc = RA_E_INVALID;

	if (in == NULL || inlen > INT32_MAX / 2)
		return RA_E_INVALID;
	/* The decoder writes up to 3/4 of the input (+ a block); decode into scratch first. */
	tmp = malloc(inlen / 4 * 3 + 3 + 1);
	ctx = EVP_ENCODE_CTX_new();
	if (tmp == NULL || ctx == NULL) {
		rc = RA_E_NOMEM;
		goto out;
	}
	EVP_DecodeInit(ctx);
	if (EVP_DecodeUpdate(ctx, tmp, &n1, (const unsigned char *)in, (int)inlen) < 0)
		goto out;
	if (EVP_DecodeFinal(ctx, tmp + n1, &n2) < 0)
		goto out;
	if ((size_t)(n1 + n2) > cap) {
		rc = RA_E_TOOLARGE;
		goto out;
	}
	memcpy(out, tmp, (size_t)(n1 + n2));
	*out_len = (size_t)(n1 + n2);
	rc = 0;
out:
	if (tmp != NULL) {
		OPENSSL_cleanse(tmp, inlen / 4 * 3 + 3 + 1);
		free(tmp);
	}
	EVP_ENCODE_CTX_free(ctx);
	return rc;
}

int secret_hmac_sha256_b64_ok(const char *secret, const void *body, size_t len, const char *sig_b64)
{
	uint8_t want[EVP_MAX_MD_SIZE], got[64];
	unsigned int want_len = 0;
	size_t got_len = 0;
	int ok = 0;

	if (secret == NULL || secret[0] == '\0' || sig_b64 == NULL || (body == NULL && len > 0))
		return 0;
	if (secret_b64_decode(sig_b64, got, sizeof(got), &got_len) != 0 || got_len != 32)
		goto out;
	/* HMAC() with a NULL data pointer and len 0 is fine: an empty body still has a MAC. */
	if (HMAC(EVP_sha256(), secret, (int)strlen(secret), body ? body : (const void *)"", len, want,
		 &want_len) == NULL)
		goto out;
	ok = want_len == 32 && CRYPTO_memcmp(want, got, 32) == 0;
out:
	OPENSSL_cleanse(want, sizeof(want));
	return ok;
}

/* Unpadded base64url of n bytes into out (cap checked by callers). */
static void b64url(const uint8_t *in, size_t n, char *out)
{
	int len = EVP_EncodeBlock((unsigned char *)out, in, (int)n);

	while (len > 0 && out[len - 1] == '=')
		len--;
	out[len] = '\0';
	for (int i = 0; i < len; i++) {
		if (out[i] == '+')
			out[i] = '-';
		else if (out[i] == '/')
			out[i] = '_';
	}
}

int secret_random_token(char *out, size_t cap)
{
	uint8_t raw[32];
	char buf[48]; /* EVP_EncodeBlock writes 44 + NUL */

	if (out == NULL || cap < SECRET_TOKEN_MAX)
		return RA_E_INVALID;
	if (RAND_bytes(raw, sizeof(raw)) != 1)
		return RA_E_INTERNAL;
	b64url(raw, sizeof(raw), buf);
	memcpy(out, buf, SECRET_TOKEN_MAX);
	OPENSSL_cleanse(raw, sizeof(raw));
	OPENSSL_cleanse(buf, sizeof(buf));
	return 0;
}

static void hex(const uint8_t *in, size_t n, char *out)
{
	static const char digits[] = "0123456789abcdef";

	for (size_t i = 0; i < n; i++) {
		out[2 * i] = digits[in[i] >> 4];
		out[2 * i + 1] = digits[in[i] & 0xf];
	}
	out[2 * n] = '\0';
}

int secret_token_hash(const char *token, char *out, size_t cap)
{
	uint8_t md[SHA256_DIGEST_LENGTH];

	if (token == NULL || out == NULL || cap < SECRET_HASH_HEX_MAX)
		return RA_E_INVALID;
	if (SHA256((const unsigned char *)token, strlen(token), md) == NULL)
		return RA_E_INTERNAL;
	hex(md, sizeof(md), out);
	return 0;
}

int secret_pin_generate(char *out, size_t cap, unsigned digits)
{
	uint8_t buf[32];
	size_t have = 0, used = sizeof(buf);

	if (out == NULL || digits < SECRET_PIN_MIN_DIGITS || digits > SECRET_PIN_MAX_DIGITS ||
	    cap < (size_t)digits + 1)
		return RA_E_INVALID;
	while (have < digits) {
		if (used == sizeof(buf)) {
			if (RAND_bytes(buf, sizeof(buf)) != 1)
				return RA_E_INTERNAL;
			used = 0;
		}
		/* Rejection sampling: 250 is the largest multiple of 10 below 256, so bytes
		 * 250..255 are dropped and every digit is exactly equally likely. */
		uint8_t b = buf[used++];
		if (b < 250)
			out[have++] = (char)('0' + b % 10);
	}
	out[have] = '\0';
	OPENSSL_cleanse(buf, sizeof(buf));
	return 0;
}

static int pin_derive(const char *pin, const uint8_t *salt, size_t salt_len, unsigned log2n, unsigned r,
		      unsigned p, uint8_t key[PIN_KEY_LEN])
{
	uint64_t n = (uint64_t)1 << log2n;
	/* scrypt needs 128 * r * (N + p) bytes; allow that plus slack. */
	uint64_t maxmem = 128ULL * r * (n + p) + (1u << 20);

	if (EVP_PBE_scrypt(pin, strlen(pin), salt, salt_len, n, r, p, maxmem, key, PIN_KEY_LEN) != 1)
		return RA_E_INTERNAL;
	return 0;
}

int secret_pin_hash(const char *pin, char *out, size_t cap)
{
	uint8_t salt[PIN_SALT_LEN], key[PIN_KEY_LEN];
	char salt_b64[32], key_b64[48];
	int rc, n;

	if (pin == NULL || pin[0] == '\0' || out == NULL || cap < SECRET_PIN_HASH_MAX)
		return RA_E_INVALID;
	if (RAND_bytes(salt, sizeof(salt)) != 1)
		return RA_E_INTERNAL;
	rc = pin_derive(pin, salt, sizeof(salt), PIN_LOG2N, PIN_R, PIN_P, key);
	if (rc != 0)
		goto out;
	EVP_EncodeBlock((unsigned char *)salt_b64, salt, sizeof(salt));
	EVP_EncodeBlock((unsigned char *)key_b64, key, sizeof(key));
	n = snprintf(out, cap, "scrypt$%d$%d$%d$%s$%s", PIN_LOG2N, PIN_R, PIN_P, salt_b64, key_b64);
	rc = (n > 0 && (size_t)n < cap) ? 0 : RA_E_INTERNAL;
out:
	OPENSSL_cleanse(key, sizeof(key));
	OPENSSL_cleanse(key_b64, sizeof(key_b64));
	return rc;
}

/* Splits "scrypt$L$R$P$salt$hash" in a scratch copy; fields point into buf. */
static int pin_parse(char *buf, unsigned *log2n, unsigned *r, unsigned *p, char **salt, char **hash)
{
	char *f[6], *save = NULL, *end;
	unsigned long v[3];
	int i = 0;

	for (char *t = strtok_r(buf, "$", &save); t != NULL; t = strtok_r(NULL, "$", &save)) {
		if (i == 6)
			return RA_E_INVALID;
		f[i++] = t;
	}
	if (i != 6 || strcmp(f[0], "scrypt") != 0)
		return RA_E_INVALID;
	for (int k = 0; k < 3; k++) {
		v[k] = strtoul(f[k + 1], &end, 10);
		if (*end != '\0' || end == f[k + 1])
			return RA_E_INVALID;
	}
	if (v[0] < 1 || v[0] > PIN_MAX_LOG2N || v[1] < 1 || v[1] > PIN_MAX_R || v[2] < 1 || v[2] > PIN_MAX_P)
		return RA_E_INVALID;
	*log2n = (unsigned)v[0];
	*r = (unsigned)v[1];
	*p = (unsigned)v[2];
	*salt = f[4];
	*hash = f[5];
	return 0;
}

int secret_pin_verify(const char *pin, const char *stored)
{
	char buf[SECRET_PIN_HASH_MAX], *salt_b64, *hash_b64;
	uint8_t salt[64], want[64], got[PIN_KEY_LEN];
	size_t salt_len, want_len;
	unsigned log2n, r, p;
	int rc;

	if (pin == NULL || stored == NULL || strlen(stored) >= sizeof(buf))
		return RA_E_INVALID;
	memcpy(buf, stored, strlen(stored) + 1);
	rc = pin_parse(buf, &log2n, &r, &p, &salt_b64, &hash_b64);
	if (rc != 0)
		goto out;
	if (secret_b64_decode(salt_b64, salt, sizeof(salt), &salt_len) != 0 || salt_len < 8 ||
	    secret_b64_decode(hash_b64, want, sizeof(want), &want_len) != 0 || want_len != PIN_KEY_LEN) {
		rc = RA_E_INVALID;
		goto out;
	}
	rc = pin_derive(pin, salt, salt_len, log2n, r, p, got);
	if (rc == 0)
		rc = CRYPTO_memcmp(got, want, PIN_KEY_LEN) == 0;
out:
	OPENSSL_cleanse(got, sizeof(got));
	OPENSSL_cleanse(want, sizeof(want));
	OPENSSL_cleanse(buf, sizeof(buf));
	return rc;
}
