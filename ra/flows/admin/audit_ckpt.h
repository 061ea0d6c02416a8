/*
 * audit_ckpt.h - signed checkpoints of the audit chain (docs/audit.md "Checkpoints"): every
 * audit.checkpoint_interval_s or audit.checkpoint_records, one node (transaction-scoped
 * advisory lock 7310017) computes the RFC 9162 tree head over records 1..n (ra/db/audit_tree.h),
 * signs the note with the audit key on the token (ca-bridge cab_sign_digest, on the thread
 * pool) and stores it (audit_checkpoint, migrations/0013).  Routes: GET /v1/audit/key,
 * GET /v1/audit/checkpoints, GET /v1/audit/consistency/{first}/{second} (public: hashes only),
 * GET /v1/admin/audit/proof/{seq} (support: the record with its inclusion proof).
 */
#ifndef RA_AUDIT_CKPT_H
#define RA_AUDIT_CKPT_H

#include <jansson.h>

#include "ra/base/app.h"
#include "ra/base/err.h"

/* Module init: routes, and the checkpointer when the token is configured (app->cab). */
int audit_ckpt_init(struct app *app, struct ra_err *err);

/* Blocking (thread pool or CLI).  The inclusion proof of record seq in the newest checkpoint,
 * with the record's fields and that checkpoint; *out is the answer (caller decrefs). */
int audit_ckpt_inclusion(const char *conninfo, long long seq, json_t **out, struct ra_err *err);
/* The consistency proof between the checkpoints of tree sizes first < second. */
int audit_ckpt_consistency(const char *conninfo, long long first, long long second, json_t **out,
			   struct ra_err *err);

#endif
