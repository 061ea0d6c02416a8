/*
 * signing_tx.h - how the signing flow writes: the statements of one state change, each
 * conditioned on the state it was decided on (need_rows: no row means someone else changed
 * it first, and everything rolls back with RA_E_CONFLICT), and the change's audit records,
 * committed as one transaction (ra/db/dbtx.h).  State names come from the workflows machines
 * (wf_state_name) as $n parameters, never as SQL literals.  This file is the flow's only
 * writer of the audit log, so that moving the flow onto the outbox helper (#12) touches one
 * file.
 */
#ifndef RA_SIGNING_TX_H
#define RA_SIGNING_TX_H

#include <jansson.h>

#include "ra/base/app.h"
#include "ra/db/dbtx.h"

struct sg_tx {
	struct dbtx_stmt st[DBTX_MAX_STMTS];
	char *own[DBTX_MAX_STMTS][DBTX_MAX_PARAMS]; /* copies of the parameters */
	int n;
	int overflow; /* more statements than fit: sg_tx_run fails */
};

/* Adds a statement (sql static; params copied, NULL = SQL NULL). */
void sg_tx_stmt(struct sg_tx *t, const char *sql, int n, const char *const *params, int need_rows);
/* Adds the audit record: actor "signing:<name>", action ("cert.activated"), object, why (R16),
 * details (stolen; NULL = {}). */
void sg_tx_audit(struct sg_tx *t, const char *actor, const char *action, const char *object_type,
		 const char *object_id, const char *reason, json_t *details);
/* Runs the statements as one transaction; cb as dbtx_run's (exactly once, on the loop).  t may
 * go away once this returns. */
void sg_tx_run(struct app *app, struct sg_tx *t, dbtx_cb cb, void *data);

#endif
