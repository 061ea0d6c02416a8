/*
 * audit.h - the append-only, hash-chained audit log (R16); the encoding, the trigger and
 * the verification are described in docs/audit.md.
 *
 * Every change of state writes its record IN ITS OWN TRANSACTION (outbox).  The append
 * takes no lock beyond its row (migrations/0018):
 *
 *   INSERT INTO audit_record (actor, action, object_type, object_id, reason, details)
 *   VALUES ($1, $2, $3, $4, $5, $6::jsonb)
 *
 * The database sets id, at and txid; the sequencer (audit_seq.h) later assigns seq,
 * prev_hash and hash in audit_chain.  `INSERT INTO audit_log` (the view over both) does the
 * same.  actor is 'system', 'shop', 'ident:<provider>' or 'support:<name>'; reason may be NULL.
 */
#ifndef RA_AUDIT_H
#define RA_AUDIT_H

#include <jansson.h>

#include "ra/base/config.h"
#include "ra/db/db.h"
#include "ra/base/err.h"

/* The statement above ($6 is JSON text; NULL means '{}'). */
extern const char *const audit_insert_sql;

struct audit_rec {
	const char *actor, *action; /* required */
	const char *object_type, *object_id; /* may be NULL */
	const char *reason; /* may be NULL */
	const json_t *details; /* borrowed; NULL means {} */
};

/* Queues the insert on conn, inside the caller's transaction.  cb gets a result with one
 * row (id, at) - the record's id; its seq is assigned when the sequencer chains it - or err.  Parameters are copied: rec may go away after the call. */
void audit_append(struct db_conn *conn, const struct audit_rec *rec, db_result_cb cb, void *data);

/* One stored record, every field as the database prints it (NULL = SQL NULL). */
struct audit_row {
	const char *seq, *at; /* at: UTC, "YYYY-MM-DDTHH:MM:SS.ffffffZ" */
	const char *actor, *action, *object_type, *object_id, *reason;
	const char *details; /* jsonb text */
	const char *prev_hash;
};

/* The record's hash: SHA-256 over "ra-audit-v1" and the length-prefixed fields, lower-case
 * hex into out (65 bytes).  The same computation as the trigger, done independently. */
int audit_hash(const struct audit_row *row, char out[65]);

#endif
