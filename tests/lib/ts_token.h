/*
 * ts_token.h - test helper: a throwaway SoftHSM2 token in a directory (the C twin of
 * tests/lib/token.sh), and removing a test's temp directory.
 */
#ifndef TS_TOKEN_H
#define TS_TOKEN_H

/* Writes dir/softhsm2.conf (tokens in dir/tokens), sets SOFTHSM2_CONF, and initialises a
 * token labelled label with softhsm2-util.  0 on success, -1 otherwise. */
int ts_token_init(const char *dir, const char *label, const char *so_pin, const char *pin);

/* The SoftHSM2 PKCS#11 module: $SOFTHSM2_MODULE, else the Debian path that exists. */
const char *ts_softhsm_module(void);

/* What a crash inside C_GenerateKeyPair leaves (issue #19): publics times, an EC key pair
 * with CKA_ID id made with pkcs11-tool on the token labelled label (SOFTHSM2_CONF from the
 * environment, as ts_token_init set it) and its private half deleted.  0 on success. */
int ts_token_remnant(const char *label, const char *pin, const char *id, int publics);

/* What an operator does to a KEK version that wraps nothing any more (docs/ca-bridge.md): the
 * secret key labelled key_label with CKA_ID id (its version, "1") deleted with pkcs11-tool,
 * from another process.  0 on success. */
int ts_token_delete_secret(const char *label, const char *pin, const char *key_label, const char *id);

/* A secret key (AES-256) labelled key_label with CKA_ID id made with pkcs11-tool, from another
 * process: a KEK version that no `ra kek` command made.  0 on success. */
int ts_token_secret_make(const char *label, const char *pin, const char *key_label, const char *id);

/* rm -rf dir (no shell).  0 on success. */
int ts_rmtree(const char *dir);

#endif
