/*
 * evidence.h - registration evidence of an identification (R18): what identified the person
 * as one JSON document, sealed with ra/seal.h under the configured evidence.key before it
 * reaches the database, and opened again for support.  The key never leaves this module's
 * stack buffers and is wiped after use.
 */
#ifndef RA_EVIDENCE_H
#define RA_EVIDENCE_H

#include <stddef.h>
#include <stdint.h>

#include "ra/base/config.h"
#include "ra/base/err.h"
#include "ra/flows/ident/idnow.h"

/* The AAD that binds a sealed blob to its row. */
#define EVIDENCE_AAD_FMT "identification:%s:evidence" /* %s: the transaction number */
#define TPIN_AAD_FMT "certificate:%s:transport_pin"   /* %s: the certificate id */

/* The evidence document: provider, ident id, agent, time, result and reason, the document
 * (type, number, issuing country, issuer, issue date, validity) and every user field with
 * its status and original.  Caller frees with free(); NULL when out of memory. */
char *evidence_json(const struct idnow_ident *id, const char *provider);

/* Seals text (len bytes) under evidence.key with the AAD; *hex gets the blob as lower-case
 * hex (for decode($n, 'hex')), caller frees.  RA_E_CONFIG when evidence.key is unset or
 * malformed, RA_E_NOMEM, RA_E_INTERNAL. */
int evidence_seal(const struct config *cfg, const char *aad, const void *text, size_t len, char **hex,
		  struct ra_err *err);

/* Opens a blob given as hex (as PostgreSQL prints bytea: "\x..." or plain hex).  *text is
 * NUL-terminated; caller frees with evidence_text_free(*text, *len).  RA_E_INVALID for a
 * tampered blob, a wrong key or a wrong AAD. */
int evidence_open(const struct config *cfg, const char *aad, const char *hex, char **text, size_t *len,
		  struct ra_err *err);
void evidence_text_free(char *text, size_t len);

#endif
