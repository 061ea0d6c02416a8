/*
 * secret.h - the RA's small secret-handling primitives, kept in one place so that every
 * comparison is constant-time and every stored secret is a hash:
 *   - constant-time equality (bearer tokens, callback secrets);
 *   - the WooCommerce webhook signature (base64 HMAC-SHA256 of the raw body);
 *   - random bearer/API tokens and their SHA-256 storage form;
 *   - TransportPINs (R11): uniform random digits, stored only as a salted scrypt hash.
 * Pure computation on OpenSSL (no I/O); thread-safe.  Return values: predicates return 1 or
 * 0; everything else 0 or a negative RA_E_* code (ra/err.h).
 */
#ifndef RA_SECRET_H
#define RA_SECRET_H

#include <stddef.h>
#include <stdint.h>

/*
 * 1 when the two byte strings are equal, else 0.  `expected` is the secret we hold, `given`
 * what the caller sent: the time taken depends only on given_len (and on whether the lengths
 * are equal), never on where the bytes differ.  An empty expected secret matches nothing,
 * so an unset secret cannot be "guessed" with an empty one.
 */
int secret_equal(const void *expected, size_t expected_len, const void *given, size_t given_len);

/*
 * 1 when sig_b64 is base64(HMAC-SHA256(body, secret)), else 0 (e.g. WooCommerce's
 * X-WC-Webhook-Signature, woo.h).  Computed over the body bytes exactly as received; compares
 * the 32 raw bytes in constant time.  NULL or empty secret, or not base64 of 32 bytes: 0.
 */
int secret_hmac_sha256_b64_ok(const char *secret, const void *body, size_t len, const char *sig_b64);

/*
 * Decodes padded standard base64 (line breaks ignored) into out.  Returns
 * 0 and sets *out_len, or RA_E_INVALID (not base64) / RA_E_TOOLARGE (more than cap bytes).
 */
int secret_b64_decode(const char *in, uint8_t *out, size_t cap, size_t *out_len);

/* A token is 32 random bytes in unpadded base64url: 43 characters. */
#define SECRET_TOKEN_LEN 43
#define SECRET_TOKEN_MAX (SECRET_TOKEN_LEN + 1)
/* Writes a fresh random token (cap >= SECRET_TOKEN_MAX).  0, RA_E_INVALID, RA_E_INTERNAL. */
int secret_random_token(char *out, size_t cap);

/*
 * Storage form of a token: lower-case hex SHA-256 (64 characters + NUL).  A plain hash is
 * enough here because tokens carry 256 bits of entropy; PINs (below) do not.
 */
#define SECRET_HASH_HEX_MAX 65
int secret_token_hash(const char *token, char *hex, size_t cap);

/* R11: a TransportPIN of `digits` decimal digits (4..16), each uniform over 0-9. */
#define SECRET_PIN_MIN_DIGITS 4
#define SECRET_PIN_MAX_DIGITS 16
int secret_pin_generate(char *out, size_t cap, unsigned digits);

/*
 * R11: storage form of a PIN, "scrypt$<log2 N>$<r>$<p>$<salt b64>$<hash b64>" with a random
 * 16-byte salt, so the parameters can be raised later without breaking old rows.
 */
#define SECRET_PIN_HASH_MAX 128
int secret_pin_hash(const char *pin, char *out, size_t cap);
/* 1 when pin matches a secret_pin_hash() string, 0 when not, RA_E_INVALID when malformed. */
int secret_pin_verify(const char *pin, const char *stored);

#endif
