/*
 * vault.h - sealing a value for the database under the configured evidence.key: the
 * identification evidence (R18) and the TransportPIN while its SMS is pending (R11).  The
 * key is read from the configuration for each call, kept only in stack buffers and wiped.
 * Blocking-free but CPU work: small values only on the loop thread.
 */
#ifndef RA_VAULT_H
#define RA_VAULT_H

#include <stddef.h>

#include "ra/base/config.h"
#include "ra/base/err.h"

/* Seals text (len bytes) under evidence.key with the AAD; *hex gets the blob as lower-case
 * hex (for decode($n, 'hex')), caller frees.  RA_E_CONFIG when evidence.key is unset or
 * malformed, RA_E_NOMEM, RA_E_INTERNAL. */
int vault_seal(const struct config *cfg, const char *aad, const void *text, size_t len, char **hex,
	       struct ra_err *err);

/* Opens a blob given as hex (as PostgreSQL prints bytea: "\x..." or plain hex).  *text is
 * NUL-terminated; caller frees with vault_text_free(*text, *len).  RA_E_INVALID for a
 * tampered blob, a wrong key or a wrong AAD. */
int vault_open(const struct config *cfg, const char *aad, const char *hex, char **text, size_t *len,
	       struct ra_err *err);
void vault_text_free(char *text, size_t len);

#endif
