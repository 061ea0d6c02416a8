/*
 * keyjobs.h - jobs on subscriber keys (issue #15, docs/ca-bridge.md "Wrapped key storage"):
 *
 *   key_destroy  {"certificate_id"}: the key of a certificate that ended (revoked, expired,
 *                failed) is destroyed: the token object (token storage), or the blob when the
 *                operator's keys.destroy_delay_hours held it back.  Enqueued by the database
 *                in the transaction that ended the certificate (migration 0012); a wrapped
 *                key without a delay is erased right there and needs no job.
 *   kek_rewrap   {"label", "version", "batch", "after"}: after `ra kek rotate` made KEK
 *                version `version`, re-wraps the blobs under older versions, pkcs11.rewrap_batch
 *                of them per run (ordered by certificate id, after the id `after`), each run
 *                committing its blobs and the next run's job (due pkcs11.rewrap_pause_ms later)
 *                together.  Resumable: a run that crashed is retried and finds only the blobs
 *                still under an older version; every update is compare-and-set on the old
 *                version, so two runs over the same rows change each once.
 */
#ifndef RA_KEYJOBS_H
#define RA_KEYJOBS_H

#include "ra/base/app.h"
#include "ra/base/err.h"
#include "ra/db/outbox.h"
#include "ra/jobs/jobs.h"

#define KEY_DESTROY_MAX_ATTEMPTS 20

#define KEK_REWRAP_MAX_ATTEMPTS 20

void key_destroy_run(struct job *job);
void kek_rewrap_run(struct job *job);

/* The first kek_rewrap job after a rotation to version (outbox: with the rotation's audit). */
void kek_rewrap_plan(struct outbox *ob, const char *label, int version);

/* Writes keys.destroy_delay_hours to the database's key policy (the trigger reads it there). */
void keys_policy_apply(struct app *app);

#endif
