/*
 * ca.h - the service's side of the CA bridge: opens ca-bridge from the configuration,
 * serves the CRL and CA chain, and runs the issuance and revocation jobs.  Every ca-bridge
 * call runs on the thread pool (pool_run), never on the loop thread.
 *
 * Job kinds (payload {"certificate_id": "..."}; idempotency keys "<kind>:<id>"):
 *   cert_issue  key on the token, certificate from the CA, stored; enqueues transport_pin.
 *               When the certificate replaces another (re-key, modification: R15), the old
 *               one is revoked in the same transaction that stores the new one.
 *   ca_revoke   tells the CA about a revocation already recorded in the database (R14).
 *
 * Whoever wants a certificate inserts a certificates row (state 'requested', ident_id set)
 * and a cert_issue job in one transaction.
 */
#ifndef RA_CA_H
#define RA_CA_H

#include "ra/base/app.h"

int ca_init(struct app *app, struct ra_err *err);

/* The SQL that records a revocation and enqueues ca_revoke, in one statement:
 * $1 certificate id, $2 reason (RFC 5280 name), $3 actor, $4 comment.  Returns one row
 * (id, serial) when the certificate was revocable, none otherwise. */
extern const char *ca_sql_revoke;

#endif
