/*
 * cert.h - the certificate flow: the service's side of the CA bridge.  Opens ca-bridge from
 * the configuration, serves the CRL and CA chain, and runs the issuance and revocation jobs
 * (cert.c), the certificates of an order (order_issue.c), the TransportPIN (tpin.c) and the
 * user-ID mail (usermail.c).  Every ca-bridge call runs on the thread pool (pool_run), never
 * on the loop thread.
 *
 * Job kinds (payload {"certificate_id": "..."}; idempotency keys "<kind>:<id>"):
 *   cert_issue  the key (pkcs11.key_storage wrapped: made, wrapped under the KEK and stored
 *               with the row first, state key_generated; token: on the token), certificate
 *               from the CA (the CSR signed from the blob), stored; enqueues transport_pin.
 *               When the certificate replaces another (re-key, modification: R15), the old
 *               one is revoked in the same transaction that stores the new one.
 *   ca_revoke   tells the CA about a revocation already recorded in the database (R14).
 *
 * Whoever wants a certificate inserts a certificates row (state 'requested', ident_id set)
 * and a cert_issue job in one transaction.
 */
#ifndef RA_CERT_H
#define RA_CERT_H

#include <jansson.h>

#include "ra/base/app.h"
#include "ra/db/outbox.h"
#include "ra/base/err.h"
#include "ra/jobs/jobs.h"

/* The AAD that binds a sealed TransportPIN to its certificate (ra/base/vault.h). */
#define TPIN_AAD_FMT "certificate:%s:transport_pin" /* %s: the certificate id */

/* The server module (server.c modules[]): the CRL and chain routes, the CA bridge. */
int cert_init(struct app *app, struct ra_err *err);

/* cert_issue's row load ($1 the certificate's id, $2 pkcs11.kek_label) and its wrapped key's
 * store (outbox move: $1 id, $2 the new state, $3 the old; $4 the blob in hex, $5 the KEK's
 * label, $6 its version, $7 the key's fingerprint, $8 the version it was made for: migration
 * 0024).  make bench's key preload runs the same statements (tests/bench/bench_keys.c). */
extern const char *const cert_sql_load;
extern const char *const cert_sql_key_store;

struct cab;
struct config;
/* Opens ca-bridge from the configuration (ca.*, cmp.*, pkcs11.*); errors name the RA's key.
 * 1 (err set, *out NULL): the CA's record is damaged or unreadable (/healthz says so). 
 * Blocks (token, CA files): start-up and the `ra kek` commands only. */
int cert_open_cab(const struct config *cfg, struct cab **out, struct ra_err *err);

struct cab_subject;
/* The subject attributes of a certificates row's subject (JSON, the keys order_issue.c
 * writes) as ca-bridge takes them; the strings stay the JSON's. */
void cert_subject_of(const json_t *subject, struct cab_subject *out);

/* cert_issue, ca_revoke, order_issue, transport_pin, user_id_mail (registered by server.c). */
extern const struct job_kind cert_job_kinds[];

/* Plans a revocation decided by the certificate machine (from -> r->next_state, R14) into
 * the caller's outbox unit: the state with its RFC 5280 reason, the ca_revoke job and the
 * audit record (actor, reason, the support's comment and the serial).  0, or RA_E_INTERNAL
 * when the unit is full. */
int cert_revoke_plan(struct outbox *ob, const char *id, int from, const struct wf_result *r,
		     const char *reason, const char *actor, const char *comment, const char *serial);

#endif
