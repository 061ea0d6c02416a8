/*
 * audit_seq.h - the audit sequencer of `ra serve` (docs/audit.md "Sequencer"): transactions
 * append their records unsequenced (audit_record); one node at a time - whichever holds the
 * session-level advisory lock on its own connection - chains the committed ones in batches
 * (SQL function audit_sequence, migrations/0018) every audit.sequencer_interval_ms, on a
 * NOTIFY of ra_jobs, and at once again after a full batch.  Every node tries the lock on each
 * tick, so when the sequencer's connection goes (the node died) another one takes over at its
 * next tick.  Gauges: ra_audit_sequencer_leader, ra_audit_pending_records,
 * ra_audit_pending_oldest_seconds, ra_audit_chain_head_seq.
 */
#ifndef RA_AUDIT_SEQ_H
#define RA_AUDIT_SEQ_H

#include "ra/base/app.h"
#include "ra/base/err.h"

/* Checks audit.sequencer_* and starts the sequencer on its own connection (module init). */
int audit_seq_init(struct app *app, struct ra_err *err);
/* Stops the timer and closes the connection; done(data) once closed (also when never started). */
void audit_seq_stop(void (*done)(void *data), void *data);

#endif
