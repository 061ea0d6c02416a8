/*
 * evidence.h - registration evidence of an identification (R18): what identified the person
 * as one JSON document, sealed with ra/base/vault.h under the configured evidence.key before it
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

/* The evidence document: provider, ident id, agent, time, result and reason, the document
 * (type, number, issuing country, issuer, issue date, validity) and every user field with
 * its status and original.  Caller frees with free(); NULL when out of memory. */
char *evidence_json(const struct idnow_ident *id, const char *provider);

#endif
