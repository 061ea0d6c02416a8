/*
 * seal.h - encryption of registration evidence at rest (R18, issue #5).
 *
 * Identification evidence (document numbers, per-field statuses) is kept for years and must
 * not be readable in the database or its backups.  seal_encrypt() turns plaintext into a
 * self-describing blob with AES-256-GCM:
 *
 *     version (1 byte, 0x01) | nonce (12 random bytes) | ciphertext | tag (16 bytes)
 *
 * The AAD binds a blob to its row (e.g. "order:42:evidence"), so a blob copied to another row
 * does not decrypt.  The version byte is authenticated too.  Any changed byte, a wrong key or
 * a wrong AAD makes seal_decrypt() fail, with one error so there is no oracle.  Random
 * 96-bit nonces are safe for up to 2^32 blobs per key (NIST SP 800-38D); rotate before that.
 * Pure (OpenSSL only, no I/O); thread-safe.
 */
#ifndef RA_SEAL_H
#define RA_SEAL_H

#include <stddef.h>
#include <stdint.h>

#include "ra/base/err.h"

#define SEAL_KEY_LEN 32
#define SEAL_VERSION 0x01
#define SEAL_NONCE_LEN 12
#define SEAL_TAG_LEN 16
#define SEAL_OVERHEAD (1 + SEAL_NONCE_LEN + SEAL_TAG_LEN)

/*
 * Parses the configured key: 64 hex digits or base64 of exactly 32 bytes.  Returns 0 or
 * RA_E_CONFIG (err->msg never contains the key).  field names the config key for messages.
 */
int seal_key_parse(const char *text, const char *field, uint8_t key[SEAL_KEY_LEN], struct ra_err *err);

/*
 * Encrypts pt (pt_len may be 0) under key with aad (may be NULL when aad_len is 0).  On 0,
 * *blob holds pt_len + SEAL_OVERHEAD bytes; caller frees with seal_free(*blob, *blob_len).
 * Errors: RA_E_INVALID (bad arguments), RA_E_NOMEM, RA_E_INTERNAL.
 */
int seal_encrypt(const uint8_t key[SEAL_KEY_LEN], const void *aad, size_t aad_len, const void *pt,
		 size_t pt_len, uint8_t **blob, size_t *blob_len);

/*
 * Decrypts and authenticates a blob.  On 0, *pt holds *pt_len bytes plus a NUL (so text can
 * be used as a string); caller frees with seal_free(*pt, *pt_len).  A short, unknown-version,
 * tampered, wrong-key or wrong-AAD blob: RA_E_INVALID and *pt stays NULL.
 */
int seal_decrypt(const uint8_t key[SEAL_KEY_LEN], const void *aad, size_t aad_len, const uint8_t *blob,
		 size_t blob_len, uint8_t **pt, size_t *pt_len);

/* Wipes len bytes and frees p (p may be NULL). */
void seal_free(void *p, size_t len);

#endif
