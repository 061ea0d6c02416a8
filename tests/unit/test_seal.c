/* test_seal.c - unit tests for ra/seal.h: AES-256-GCM evidence blobs (R18). */
#include "ra/base/seal.h"

#include <criterion/criterion.h>
#include <string.h>

static const char *const KEY_HEX =
	"000102030405060708090a0b0c0d0e0f"
	"101112131415161718191A1B1C1D1E1F";
static const char *const AAD = "order:42:evidence";

static void key(uint8_t k[SEAL_KEY_LEN])
{
	struct ra_err err = {0};

	cr_assert_eq(seal_key_parse(KEY_HEX, "evidence_key", k, &err), 0, "%s", err.msg);
}

static void seal(const uint8_t k[SEAL_KEY_LEN], const char *pt, uint8_t **blob, size_t *len)
{
	cr_assert_eq(seal_encrypt(k, AAD, strlen(AAD), pt, strlen(pt), blob, len), 0);
}

Test(seal, r18_round_trip_restores_plaintext)
{
	uint8_t k[SEAL_KEY_LEN], *blob, *pt;
	size_t blob_len, pt_len;
	const char *doc = "{\"document\":{\"number\":\"P1234567\",\"type\":\"IDCARD\"}}";

	key(k);
	seal(k, doc, &blob, &blob_len);
	cr_expect_eq(blob_len, strlen(doc) + SEAL_OVERHEAD);
	cr_expect_eq(blob[0], SEAL_VERSION);
	cr_expect_null(memmem(blob, blob_len, "P1234567", 8), "plaintext visible in blob");
	cr_assert_eq(seal_decrypt(k, AAD, strlen(AAD), blob, blob_len, &pt, &pt_len), 0);
	cr_expect_eq(pt_len, strlen(doc));
	cr_expect_str_eq((const char *)pt, doc);
	seal_free(pt, pt_len);
	seal_free(blob, blob_len);
}

Test(seal, r18_same_plaintext_seals_differently)
{
	uint8_t k[SEAL_KEY_LEN], *a, *b;
	size_t al, bl;

	key(k);
	seal(k, "P1234567", &a, &al);
	seal(k, "P1234567", &b, &bl);
	cr_assert_eq(al, bl);
	cr_expect_neq(memcmp(a + 1, b + 1, SEAL_NONCE_LEN), 0, "nonce reused");
	cr_expect_neq(memcmp(a, b, al), 0);
	seal_free(a, al);
	seal_free(b, bl);
}

Test(seal, r18_every_tampered_byte_is_detected)
{
	uint8_t k[SEAL_KEY_LEN], *blob, *pt = NULL;
	size_t blob_len, pt_len;

	key(k);
	seal(k, "U7654321", &blob, &blob_len);
	for (size_t i = 0; i < blob_len; i++) {
		for (int bit = 0; bit < 8; bit++) {
			blob[i] ^= (uint8_t)(1u << bit);
			cr_expect_eq(seal_decrypt(k, AAD, strlen(AAD), blob, blob_len, &pt, &pt_len),
				     RA_E_INVALID, "byte %zu bit %d", i, bit);
			cr_expect_null(pt);
			blob[i] ^= (uint8_t)(1u << bit);
		}
	}
	/* restored, it still opens: the failures above were the flips */
	cr_assert_eq(seal_decrypt(k, AAD, strlen(AAD), blob, blob_len, &pt, &pt_len), 0);
	seal_free(pt, pt_len);
	seal_free(blob, blob_len);
}

Test(seal, r18_truncated_or_extended_blob_fails)
{
	uint8_t k[SEAL_KEY_LEN], *blob, *pt = NULL, longer[64];
	size_t blob_len, pt_len;

	key(k);
	seal(k, "abc", &blob, &blob_len);
	for (size_t n = 0; n < blob_len; n++)
		cr_expect_eq(seal_decrypt(k, AAD, strlen(AAD), blob, n, &pt, &pt_len), RA_E_INVALID,
			     "length %zu", n);
	memcpy(longer, blob, blob_len);
	longer[blob_len] = 0;
	cr_expect_eq(seal_decrypt(k, AAD, strlen(AAD), longer, blob_len + 1, &pt, &pt_len), RA_E_INVALID);
	seal_free(blob, blob_len);
}

Test(seal, r18_wrong_aad_or_key_fails)
{
	uint8_t k[SEAL_KEY_LEN], k2[SEAL_KEY_LEN], *blob, *pt = NULL;
	size_t blob_len, pt_len;
	const char *other = "order:43:evidence";

	key(k);
	memcpy(k2, k, sizeof(k2));
	k2[31] ^= 1;
	seal(k, "P1234567", &blob, &blob_len);
	cr_expect_eq(seal_decrypt(k, other, strlen(other), blob, blob_len, &pt, &pt_len), RA_E_INVALID);
	cr_expect_eq(seal_decrypt(k, NULL, 0, blob, blob_len, &pt, &pt_len), RA_E_INVALID);
	cr_expect_eq(seal_decrypt(k2, AAD, strlen(AAD), blob, blob_len, &pt, &pt_len), RA_E_INVALID);
	cr_expect_null(pt);
	seal_free(blob, blob_len);
}

Test(seal, empty_plaintext_and_empty_aad_round_trip)
{
	uint8_t k[SEAL_KEY_LEN], *blob, *pt;
	size_t blob_len, pt_len;

	key(k);
	cr_assert_eq(seal_encrypt(k, NULL, 0, NULL, 0, &blob, &blob_len), 0);
	cr_expect_eq(blob_len, SEAL_OVERHEAD);
	cr_assert_eq(seal_decrypt(k, NULL, 0, blob, blob_len, &pt, &pt_len), 0);
	cr_expect_eq(pt_len, 0);
	seal_free(pt, pt_len);
	seal_free(blob, blob_len);
}

Test(seal, key_parses_from_hex_or_base64)
{
	uint8_t a[SEAL_KEY_LEN], b[SEAL_KEY_LEN];
	struct ra_err err = {0};

	key(a);
	for (int i = 0; i < SEAL_KEY_LEN; i++)
		cr_expect_eq(a[i], i);
	/* base64 of bytes 0x00..0x1f */
	cr_assert_eq(seal_key_parse("AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=", "k", b, &err), 0, "%s",
		     err.msg);
	cr_expect_eq(memcmp(a, b, SEAL_KEY_LEN), 0);
}

Test(seal, bad_keys_are_config_errors_naming_the_key)
{
	static const char *const bad[] = {
		"",
		"000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e", /* 62 */
		"000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1g", /* not hex */
		"AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHg==", /* 31 bytes */
		"secret",
	};
	uint8_t k[SEAL_KEY_LEN];
	struct ra_err err;

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		memset(&err, 0, sizeof(err));
		cr_expect_eq(seal_key_parse(bad[i], "evidence_key", k, &err), RA_E_CONFIG, "%s", bad[i]);
		cr_expect_str_eq(err.field, "evidence_key");
		if (bad[i][0] != '\0')
			cr_expect_null(strstr(err.msg, bad[i]), "key echoed in message");
	}
	cr_expect_eq(seal_key_parse(NULL, "evidence_key", k, NULL), RA_E_CONFIG);
}
