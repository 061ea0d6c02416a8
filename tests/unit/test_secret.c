/* test_secret.c - unit tests for ra/secret.h: comparisons, webhook signatures, tokens, PINs. */
#include "ra/base/secret.h"

#include "ra/base/err.h"
#include "tests/unit/fixture.h"

#include <criterion/criterion.h>
#include <ctype.h>
#include <string.h>

Test(secret, equal_only_for_identical_bytes)
{
	const char a[] = "correct horse battery staple";
	char b[sizeof(a)];

	cr_expect_eq(secret_equal(a, strlen(a), a, strlen(a)), 1);
	for (size_t i = 0; i < strlen(a); i++) {
		memcpy(b, a, sizeof(a));
		b[i] ^= 0x01;
		cr_expect_eq(secret_equal(a, strlen(a), b, strlen(a)), 0, "byte %zu", i);
	}
	/* a prefix or an extension of the secret is not the secret */
	cr_expect_eq(secret_equal(a, strlen(a), a, strlen(a) - 1), 0);
	cr_expect_eq(secret_equal(a, strlen(a) - 1, a, strlen(a)), 0);
}

Test(secret, empty_or_null_secret_matches_nothing)
{
	cr_expect_eq(secret_equal("", 0, "", 0), 0);
	cr_expect_eq(secret_equal(NULL, 0, "x", 1), 0);
	cr_expect_eq(secret_equal("x", 1, NULL, 0), 0);
}

/* RFC 4231 test case 2 (key "Jefe"), base64 as WooCommerce sends it. */
Test(secret, hmac_sha256_b64_known_answer_rfc4231)
{
	const char *body = "what do ya want for nothing?";
	const char *sig = "W9zBRr9gdU5qBCQmCJV1x1oAPwidJzmDnexYuWTsOEM=";

	cr_expect_eq(secret_hmac_sha256_b64_ok("Jefe", body, strlen(body), sig), 1);
	cr_expect_eq(secret_hmac_sha256_b64_ok("Jeff", body, strlen(body), sig), 0);
	cr_expect_eq(secret_hmac_sha256_b64_ok("Jefe", body, strlen(body) - 1, sig), 0);
}

/* Signature made with `openssl dgst -sha256 -hmac whsec-test-1 -binary FILE | base64`. */
Test(secret, hmac_sha256_b64_over_fixture_bytes_as_received)
{
	const char *sig = "0nkspB3ekcItFfxcYqjid1rK2ThkO+xrklV+zc0BqaU=";
	size_t len;
	char *body = fixture_read("woocommerce-order-paid.json", &len);

	cr_expect_eq(secret_hmac_sha256_b64_ok("whsec-test-1", body, len, sig), 1);
	/* any single changed byte, a truncated body, or the wrong secret fail */
	for (size_t i = 0; i < len; i += 97) {
		body[i] ^= 0x20;
		cr_expect_eq(secret_hmac_sha256_b64_ok("whsec-test-1", body, len, sig), 0, "byte %zu", i);
		body[i] ^= 0x20;
	}
	cr_expect_eq(secret_hmac_sha256_b64_ok("whsec-test-1", body, len - 1, sig), 0);
	cr_expect_eq(secret_hmac_sha256_b64_ok("whsec-test-2", body, len, sig), 0);
	free(body);
}

Test(secret, hmac_sha256_b64_rejects_malformed_headers)
{
	const char *body = "what do ya want for nothing?";
	static const char *const bad[] = {
		"",
		"not base64 at all!",
		"W9zBRr9gdU5qBCQmCJV1x1oAPwidJzmDnexYuWTsOE==", /* 31 bytes */
		"W9zBRr9gdU5qBCQmCJV1x1oAPwidJzmDnexYuWTsOEMA", /* 33 bytes */
		"5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843", /* hex */
	};

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		cr_expect_eq(secret_hmac_sha256_b64_ok("Jefe", body, strlen(body), bad[i]), 0, "%s", bad[i]);
	cr_expect_eq(secret_hmac_sha256_b64_ok("Jefe", body, strlen(body), NULL), 0);
	cr_expect_eq(secret_hmac_sha256_b64_ok("", body, strlen(body),
					       "W9zBRr9gdU5qBCQmCJV1x1oAPwidJzmDnexYuWTsOEM="),
		     0);
	cr_expect_eq(secret_hmac_sha256_b64_ok(NULL, body, strlen(body),
					       "W9zBRr9gdU5qBCQmCJV1x1oAPwidJzmDnexYuWTsOEM="),
		     0);
}

Test(secret, b64_decode_checks_capacity)
{
	uint8_t out[4];
	size_t n = 0;

	cr_expect_eq(secret_b64_decode("YWJj", out, sizeof(out), &n), 0);
	cr_expect_eq(n, 3);
	cr_expect_eq(memcmp(out, "abc", 3), 0);
	cr_expect_eq(secret_b64_decode("YWJjZGVm", out, sizeof(out), &n), RA_E_TOOLARGE);
	cr_expect_eq(secret_b64_decode("Y*Jj", out, sizeof(out), &n), RA_E_INVALID);
}

Test(secret, random_tokens_are_base64url_and_distinct)
{
	char a[SECRET_TOKEN_MAX], b[SECRET_TOKEN_MAX], small[10];

	cr_assert_eq(secret_random_token(a, sizeof(a)), 0);
	cr_assert_eq(secret_random_token(b, sizeof(b)), 0);
	cr_expect_eq(strlen(a), SECRET_TOKEN_LEN);
	for (size_t i = 0; i < strlen(a); i++)
		cr_expect(isalnum((unsigned char)a[i]) || a[i] == '-' || a[i] == '_', "char %c", a[i]);
	cr_expect_str_neq(a, b);
	cr_expect_eq(secret_random_token(small, sizeof(small)), RA_E_INVALID);
}

/* FIPS 180-2 known answer: SHA-256("abc"). */
Test(secret, token_hash_is_sha256_hex)
{
	char hex[SECRET_HASH_HEX_MAX];

	cr_assert_eq(secret_token_hash("abc", hex, sizeof(hex)), 0);
	cr_expect_str_eq(hex, "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
	cr_expect_eq(secret_token_hash("abc", hex, 64), RA_E_INVALID);
}

/* R11: the TransportPIN is random and every digit equally likely. */
Test(secret, r11_transport_pin_digits_are_uniform)
{
	enum { PINS = 2500, DIGITS = 8 };
	unsigned count[10] = {0};
	char pin[DIGITS + 1];

	for (int i = 0; i < PINS; i++) {
		cr_assert_eq(secret_pin_generate(pin, sizeof(pin), DIGITS), 0);
		cr_assert_eq(strlen(pin), DIGITS);
		for (int k = 0; k < DIGITS; k++) {
			cr_assert(isdigit((unsigned char)pin[k]));
			count[pin[k] - '0']++;
		}
	}
	/* 20000 digits: 2000 expected per digit, sd ~42; +-300 is over 7 sd. */
	for (int d = 0; d < 10; d++)
		cr_expect(count[d] > 1700 && count[d] < 2300, "digit %d seen %u times", d, count[d]);
}

Test(secret, r11_transport_pin_length_is_bounded)
{
	char pin[32];

	cr_expect_eq(secret_pin_generate(pin, sizeof(pin), 3), RA_E_INVALID);
	cr_expect_eq(secret_pin_generate(pin, sizeof(pin), 17), RA_E_INVALID);
	cr_expect_eq(secret_pin_generate(pin, 6, 6), RA_E_INVALID); /* no room for NUL */
	cr_expect_eq(secret_pin_generate(pin, sizeof(pin), 6), 0);
	cr_expect_eq(strlen(pin), 6);
}

/* R11: only a salted hash of the TransportPIN is stored, and it verifies the PIN. */
Test(secret, r11_transport_pin_hash_verifies_and_hides_the_pin)
{
	char h1[SECRET_PIN_HASH_MAX], h2[SECRET_PIN_HASH_MAX];

	cr_assert_eq(secret_pin_hash("482915", h1, sizeof(h1)), 0);
	cr_assert_eq(secret_pin_hash("482915", h2, sizeof(h2)), 0);
	cr_expect_null(strstr(h1, "482915"));
	cr_expect_eq(strncmp(h1, "scrypt$", 7), 0);
	cr_expect_str_neq(h1, h2, "same PIN, same salt?");
	cr_expect_eq(secret_pin_verify("482915", h1), 1);
	cr_expect_eq(secret_pin_verify("482915", h2), 1);
	cr_expect_eq(secret_pin_verify("482916", h1), 0);
	cr_expect_eq(secret_pin_verify("", h1), 0);
}

Test(secret, r11_pin_verify_rejects_malformed_or_tampered_hashes)
{
	char h[SECRET_PIN_HASH_MAX];
	char *last;

	cr_assert_eq(secret_pin_hash("1234", h, sizeof(h)), 0);
	cr_expect_eq(secret_pin_verify("1234", "1234"), RA_E_INVALID);
	cr_expect_eq(secret_pin_verify("1234", "pbkdf2$15$8$1$AAAA$AAAA"), RA_E_INVALID);
	/* absurd cost parameters from a corrupt row are refused, not run */
	cr_expect_eq(secret_pin_verify("1234",
				       "scrypt$40$8$1$AAAAAAAAAAAAAAAAAAAAAA==$"
				       "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA="),
		     RA_E_INVALID);
	/* change one character of the stored hash value */
	last = strrchr(h, '$');
	cr_assert_not_null(last);
	last[1] = last[1] == 'A' ? 'B' : 'A';
	cr_expect_eq(secret_pin_verify("1234", h), 0);
	cr_expect_eq(secret_pin_hash("1234", h, 16), RA_E_INVALID);
}
