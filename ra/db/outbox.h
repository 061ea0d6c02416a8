/*
 * outbox.h - one state change as one unit of a transaction: the row's new state, the
 * statements that go with it, its audit records (R16) and the follow-up jobs it causes, all
 * committed together or not at all (docs/jobs.md, docs/audit.md).  Every `INSERT INTO
 * audit_log` and `INSERT INTO jobs` of the service is made here; `make check` refuses them
 * anywhere else.
 *
 * A caller decides with the workflows machines (wf_step) and plans the change:
 *
 *   struct outbox ob = {0};
 *   ob_step(&ob, sql_cert_state, &wf_cert, from, &r, cert_id, 1, (const char *const[]){reason});
 *   ob_job(&ob, &(struct ob_job){.kind = "ca_revoke", .payload = p, .key = k});
 *   ob_audit(&ob, actor, "cert.revoked", "certificate", cert_id, why, details);
 *   ob_commit(&ob, pool, on_done, data);         BEGIN, all of it pipelined, COMMIT
 *     or, inside a transaction the caller opened on conn:
 *   ob_queue(&ob, conn, on_done, data);          then the caller COMMITs or ROLLBACKs
 *
 * The state update's SQL is the caller's static statement with $1 the row's id, $2 the new
 * state and $3 the state it was decided from (ob_step, ob_move) or a text[] of them
 * (ob_move_any), and $4... the caller's extra parameters.  The names come from the machine
 * (wf_state_name), never from SQL literals.  A state update, and any statement added with
 * need_rows, that touches no row fails the whole unit with RA_E_CONFLICT: someone changed the
 * row since it was read, and the caller rolls back (ob_commit does) and may decide again.
 *
 * Statements run in the order they were added, pipelined (libpq): the statements up to the
 * last conditioned one in one round trip, then, only if every condition held, the rest (jobs,
 * audit records) and COMMIT together.  Add the audit records last: an append holds the log's
 * lock until COMMIT, and so it never waits for a round trip to this process.
 * Audit records go through audit_append (ra/db/audit.h).  A step whose result carries
 * WF_ACT_AUDIT without an audit record in the same unit is refused (RA_E_INTERNAL): the
 * machine said this change is audited.
 */
#ifndef RA_OUTBOX_H
#define RA_OUTBOX_H

#include <jansson.h>

#include "ra/base/err.h"
#include "ra/db/db.h"
#include "workflows/wf.h"

#define OB_MAX_OPS 16
#define OB_MAX_PARAMS 16

/* A follow-up job (docs/jobs.md).  Strings are copied; payload is stolen (NULL = {}). */
struct ob_job {
	const char *kind; /* required: a registered job kind */
	json_t *payload; /* the handler's arguments */
	const char *key; /* idempotency key: a second insert with it is a no-op; NULL = none */
	int priority; /* 0: the kind's (migrations 0007, 0009); higher is claimed first */
	const char *run_at; /* timestamptz text ("2026-12-01T10:00:00Z"); NULL = now */
};

/* One planned statement (the helper's; callers use the functions below). */
struct ob_op {
	int type; /* OB_OP_* (outbox.c) */
	const char *sql;
	int n;
	char *p[OB_MAX_PARAMS];
	int need_rows;
	json_t *details; /* audit records */
	int src; /* *_each: the statement whose rows it follows */
	int keep; /* a source of *_each: its rows are kept */
	int nkept; /* ... how many it returned */
	char **kept; /* ... columns 0 to 2 of each, 3 per row (NULL = SQL NULL) */
	db_result_cb read; /* ob_stmt_read */
	void *read_data;
};

/* A planned unit.  Zero-initialise; the ob_* functions fill it, ob_commit/ob_queue empty it
 * (it may go away after they return).  A planning error (too many statements, no memory) is
 * kept and reported by ob_commit/ob_queue. */
struct outbox {
	struct ob_op op[OB_MAX_OPS];
	int n;
	int overflow;
	unsigned audit_due; /* WF_ACT_AUDIT from a step: an audit record must be added */
	int audited;
};

/* The state change of one row decided by wf_step: from -> r->next_state of machine m; the
 * result's actions are checked (WF_ACT_AUDIT).  extra: $4.. (copied, NULL = SQL NULL).  The
 * state functions return the statement's index in the unit (rows[] of ob_cb; a source for
 * ob_*_each), -1 when the unit is full. */
int ob_step(struct outbox *ob, const char *sql, const struct wf_machine *m, int from,
	    const struct wf_result *r, const char *id, int nextra, const char *const *extra);
/* The same without a wf_result: a transition the caller has checked otherwise (a machine row
 * whose step was decided elsewhere, e.g. by an earlier job). */
int ob_move(struct outbox *ob, const char *sql, const struct wf_machine *m, int from, int to, const char *id,
	    int nextra, const char *const *extra);
/* The same from any state of a set: $3 is a text[] of the names of the bits of from_mask
 * (bit 1u << state), for "WHERE state = ANY($3::text[])". */
int ob_move_any(struct outbox *ob, const char *sql, const struct wf_machine *m, unsigned from_mask, int to,
		const char *id, int nextra, const char *const *extra);
/* The same for rows that may not be there (the certificate a new one replaces, if any): no
 * row is no conflict.  A source for ob_*_each. */
int ob_move_set(struct outbox *ob, const char *sql, const struct wf_machine *m, unsigned from_mask, int to,
		const char *id, int nextra, const char *const *extra);
/* The names of the states in mask (bit 1u << state) as a text[] literal, "{issued,active}",
 * for a statement's "state = ANY($n::text[])" (reads too); NULL if cap is too small or mask
 * names no state. */
const char *ob_states(const struct wf_machine *m, unsigned mask, char *buf, size_t cap);
/* Any other statement of the change (sql static; params copied, NULL = SQL NULL).  Returns
 * its index in the unit (for ob_job_each, ob_audit_each), or -1 when the unit is full. */
int ob_stmt(struct outbox *ob, const char *sql, int n, const char *const *params, int need_rows);
/* The same for a statement whose answer the caller reads: read(res, NULL, data) gets its
 * result when it arrives (before the unit's callback; not when it failed).  read must not
 * queue statements. */
int ob_stmt_read(struct outbox *ob, const char *sql, int n, const char *const *params, int need_rows,
		 db_result_cb read, void *data);
/* The audit record: actor ('system', 'support:<name>', ...), action ("cert.revoked"), the
 * object, why (R16; may be NULL), details (stolen; NULL = {}). */
void ob_audit(struct outbox *ob, const char *actor, const char *action, const char *object_type,
	      const char *object_id, const char *reason, json_t *details);
/* A follow-up job: see struct ob_job. */
void ob_job(struct outbox *ob, const struct ob_job *job);

/*
 * Set-based changes (one statement creates several rows, e.g. a certificate per request of
 * an order): a job or an audit record for each row the statement src (an earlier statement of
 * the unit) returns.  Its rows are read before the rest of the unit is sent, so src ends the
 * first pipeline segment like a conditioned statement.  Column 0 of a row is the object's id;
 * ob_job_each gives the job the payload {member: id} (a JSON number when id is a decimal
 * number: orders have bigint ids) and the key key_prefix + id;
 * ob_audit_each gives the record object_id = id, details = column 1 (JSON text; absent or
 * NULL = {}) and the reason of column 2 when it is there and not NULL.  Add them after every
 * conditioned or source statement of the unit (else the unit is refused, RA_E_INTERNAL).
 */
void ob_job_each(struct outbox *ob, int src, const char *kind, const char *member, const char *key_prefix);
/* The same with the row's own key and payload: column 0 the idempotency key, column 1 the
 * payload (JSON text; NULL = {}). */
void ob_job_rows(struct outbox *ob, int src, const char *kind);
void ob_audit_each(struct outbox *ob, int src, const char *actor, const char *action, const char *object_type,
		   const char *reason);

/* rows[i]: rows returned (or affected) by statement i, in the order added.  err is NULL when
 * every statement succeeded (ob_commit: and COMMIT did). */
typedef void (*ob_cb)(const int *rows, const struct ra_err *err, void *data);

/* Sends the unit on conn, inside the transaction the caller opened there; cb exactly once,
 * from the loop (at once, before returning, for a planning error).  The caller ends the
 * transaction; after an error it must roll back (db_release does). */
void ob_queue(struct outbox *ob, struct db_conn *conn, ob_cb cb, void *data);
/* The same, and COMMIT with the unit's last statements (no round trip between the audit
 * records and COMMIT); err NULL: committed.  After an error the caller releases conn (which
 * rolls back). */
void ob_queue_commit(struct outbox *ob, struct db_conn *conn, ob_cb cb, void *data);
/* Leases a connection, BEGIN, the unit, COMMIT (ROLLBACK on any error); cb exactly once. */
void ob_commit(struct outbox *ob, struct db_pool *pool, ob_cb cb, void *data);
/* Blocking, for CLI commands and thread-pool work (ra/db/dbsync.h), never on the loop: runs
 * the unit on c inside the transaction the caller opened there; rows (may be NULL) as in
 * ob_cb.  0 or the first error (RA_E_CONFLICT as above); the caller COMMITs or ROLLBACKs.
 * ob is emptied either way. */
int ob_exec(struct outbox *ob, PGconn *c, int *rows, struct ra_err *err);
/* Frees a planned unit that is not run (an error after planning began). */
void ob_clear(struct outbox *ob);

#endif
