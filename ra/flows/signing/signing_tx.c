/* signing_tx.c - one state change of the signing flow as one transaction; see signing_tx.h. */
#include "ra/flows/signing/signing_tx.h"

#include <stdlib.h>
#include <string.h>

#include "ra/db/audit.h"

void sg_tx_stmt(struct sg_tx *t, const char *sql, int n, const char *const *params, int need_rows)
{
	struct dbtx_stmt *s;

	if (t->n == DBTX_MAX_STMTS || n > DBTX_MAX_PARAMS) {
		t->overflow = 1;
		return;
	}
	s = &t->st[t->n];
	s->sql = sql;
	s->n = n;
	s->need_rows = need_rows;
	for (int i = 0; i < n; i++) {
		t->own[t->n][i] = params[i] ? strdup(params[i]) : NULL;
		if (params[i] && t->own[t->n][i] == NULL)
			abort(); /* out of memory */
		s->params[i] = t->own[t->n][i];
	}
	t->n++;
}

void sg_tx_audit(struct sg_tx *t, const char *actor, const char *action, const char *object_type,
		 const char *object_id, const char *reason, json_t *details)
{
	char *d = details ? json_dumps(details, JSON_COMPACT) : NULL;
	const char *p[6] = {actor, action, object_type, object_id, reason, d};

	/* the log's fixed statement (ra/db/audit.h); the database chains and hashes the record */
	sg_tx_stmt(t, audit_insert_sql, 6, p, 0);
	free(d);
	json_decref(details);
}

static void tx_clear(struct sg_tx *t)
{
	for (int i = 0; i < t->n; i++)
		for (int k = 0; k < t->st[i].n; k++)
			free(t->own[i][k]);
	t->n = 0;
}

void sg_tx_run(struct app *app, struct sg_tx *t, dbtx_cb cb, void *data)
{
	struct ra_err e;
	int rows[DBTX_MAX_STMTS] = {0};

	if (t->overflow || t->n == 0) {
		tx_clear(t);
		ra_err_set(&e, RA_E_INTERNAL, "", "a signing state change has too many statements");
		cb(rows, &e, data);
		return;
	}
	dbtx_run(app->db, t->st, t->n, cb, data); /* copies the parameters */
	tx_clear(t);
}
