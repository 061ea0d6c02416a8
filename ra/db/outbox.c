/*
 * outbox.c - a state change, its statements, audit records and jobs as one unit of a
 * transaction; see outbox.h.  The unit is planned into struct outbox (parameters copied),
 * then moved into a heap run that queues every statement on the connection at once and
 * answers when the last result is in.
 */
#include "ra/db/outbox.h"

#include <libpq-fe.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ra/db/audit.h"

enum { OB_OP_SQL, OB_OP_AUDIT, OB_OP_JOB };

/* docs/jobs.md: the one INSERT shape.  The idempotency key makes a repeated insert (a job
 * run twice, a repeated delivery) a no-op; priority 0 lets the kind decide (trigger). */
static const char *sql_job =
	"INSERT INTO jobs (kind, payload, idempotency_key, priority, run_at)"
	" VALUES ($1, $2::jsonb, $3, $4::smallint, coalesce($5::timestamptz, now()))"
	" ON CONFLICT (idempotency_key) DO NOTHING";

struct ob_run;

struct ob_slot {
	struct ob_run *run;
	int i;
};

struct ob_run {
	struct ob_op op[OB_MAX_OPS];
	struct ob_slot slot[OB_MAX_OPS];
	struct ob_slot begin, end; /* BEGIN (ob_commit), COMMIT */
	int rows[OB_MAX_OPS];
	int n, pending;
	int sent; /* ops sent so far (+1 once COMMIT is) */
	struct ra_err err;
	int failed;
	struct db_conn *conn;
	int own_conn; /* ob_commit: the lease is ours */
	int begin_due; /* ob_commit: BEGIN not sent yet */
	int commit; /* COMMIT with the last segment */
	ob_cb cb;
	void *data;
};

static void op_free(struct ob_op *op)
{
	for (int k = 0; k < op->n; k++)
		free(op->p[k]);
	json_decref(op->details);
	memset(op, 0, sizeof(*op));
}

void ob_clear(struct outbox *ob)
{
	for (int i = 0; i < ob->n; i++)
		op_free(&ob->op[i]);
	memset(ob, 0, sizeof(*ob));
}

static struct ob_op *op_add(struct outbox *ob, int type, const char *sql, int n, const char *const *params,
			    int need_rows)
{
	struct ob_op *op;

	if (ob->n == OB_MAX_OPS || n > OB_MAX_PARAMS) {
		ob->overflow = 1;
		return NULL;
	}
	op = &ob->op[ob->n++];
	op->type = type;
	op->sql = sql;
	op->n = n;
	op->need_rows = need_rows;
	for (int i = 0; i < n; i++) {
		op->p[i] = params[i] ? strdup(params[i]) : NULL;
		if (params[i] && op->p[i] == NULL)
			abort(); /* out of memory */
	}
	return op;
}

/* $1 id, $2 next state, $3 from (a name or a text[] literal), $4.. extra */
static void state_op(struct outbox *ob, const char *sql, const char *id, const char *to, const char *from,
		     int nextra, const char *const *extra)
{
	const char *p[OB_MAX_PARAMS];

	if (to == NULL || from == NULL || nextra < 0 || 3 + nextra > OB_MAX_PARAMS) {
		ob->overflow = 1; /* a state number outside the machine: a programming error */
		return;
	}
	p[0] = id;
	p[1] = to;
	p[2] = from;
	for (int i = 0; i < nextra; i++)
		p[3 + i] = extra[i];
	op_add(ob, OB_OP_SQL, sql, 3 + nextra, p, 1);
}

void ob_move(struct outbox *ob, const char *sql, const struct wf_machine *m, int from, int to, const char *id,
	     int nextra, const char *const *extra)
{
	state_op(ob, sql, id, wf_state_name(m, to), wf_state_name(m, from), nextra, extra);
}

void ob_step(struct outbox *ob, const char *sql, const struct wf_machine *m, int from,
	     const struct wf_result *r, const char *id, int nextra, const char *const *extra)
{
	if (r->actions & WF_ACT_AUDIT)
		ob->audit_due = 1;
	ob_move(ob, sql, m, from, r->next_state, id, nextra, extra);
}

void ob_move_any(struct outbox *ob, const char *sql, const struct wf_machine *m, unsigned from_mask, int to,
		 const char *id, int nextra, const char *const *extra)
{
	char set[256];
	size_t len = 1;
	int states = wf_state_count(m);

	set[0] = '{';
	for (int s = 0; s < states && s < 32; s++) {
		const char *name = wf_state_name(m, s);
		if (!(from_mask & (1u << s)))
			continue;
		if (len + strlen(name) + 2 >= sizeof(set)) {
			ob->overflow = 1;
			return;
		}
		len += (size_t)snprintf(set + len, sizeof(set) - len, "%s%s", len > 1 ? "," : "", name);
	}
	set[len++] = '}';
	set[len] = '\0';
	if (len == 2) {
		ob->overflow = 1; /* no state at all: a programming error */
		return;
	}
	state_op(ob, sql, id, wf_state_name(m, to), set, nextra, extra);
}

void ob_stmt(struct outbox *ob, const char *sql, int n, const char *const *params, int need_rows)
{
	op_add(ob, OB_OP_SQL, sql, n, params, need_rows);
}

void ob_audit(struct outbox *ob, const char *actor, const char *action, const char *object_type,
	      const char *object_id, const char *reason, json_t *details)
{
	const char *p[5] = {actor, action, object_type, object_id, reason};
	struct ob_op *op = op_add(ob, OB_OP_AUDIT, NULL, 5, p, 0);

	if (op == NULL) {
		json_decref(details);
		return;
	}
	op->details = details;
	ob->audited = 1;
}

void ob_job(struct outbox *ob, const struct ob_job *job)
{
	char *payload = job->payload ? json_dumps(job->payload, JSON_COMPACT) : NULL;
	char prio[16];
	const char *p[5] = {job->kind, payload, job->key, prio, job->run_at};

	snprintf(prio, sizeof(prio), "%d", job->priority);
	if (job->kind == NULL || (job->payload && payload == NULL))
		ob->overflow = 1;
	else
		op_add(ob, OB_OP_JOB, sql_job, 5, p, 0);
	free(payload);
	json_decref(job->payload);
}

/* ---- running ---------------------------------------------------------------------------
 *
 * Two pipeline segments at most.  The first ends with the last conditioned statement (the
 * state updates, usually): its results decide.  The second (jobs, audit records and, when
 * asked for, COMMIT) is sent only when every condition held, all together, so the audit
 * log's lock (taken by the first append, held until COMMIT) never waits for a round trip to
 * this process.  A unit without conditions is one segment. */

static void run_free(struct ob_run *run)
{
	for (int i = 0; i < run->n; i++)
		op_free(&run->op[i]);
	free(run);
}

static void run_finish(struct ob_run *run)
{
	if (run->own_conn && run->conn)
		db_release(run->conn); /* rolls back what is still open */
	run->cb(run->rows, run->failed ? &run->err : NULL, run->data);
	run_free(run);
}

static void send_range(struct ob_run *run, int from, int to, int commit);

static void on_op(PGresult *res, const struct ra_err *err, void *data)
{
	struct ob_slot *s = data;
	struct ob_run *run = s->run;

	if (err) {
		if (!run->failed) {
			run->failed = 1;
			run->err = *err;
		}
	} else if (s->i >= 0) {
		const char *aff = PQcmdTuples(res);
		int n = PQresultStatus(res) == PGRES_TUPLES_OK ? PQntuples(res)
							       : (aff && *aff ? atoi(aff) : 0);
		run->rows[s->i] = n;
		if (n == 0 && run->op[s->i].need_rows && !run->failed) {
			run->failed = 1;
			ra_err_set(&run->err, RA_E_CONFLICT, "state",
				   "the state changed meanwhile (statement %d)", s->i);
		}
	}
	if (--run->pending > 0)
		return;
	if (run->failed || run->sent == run->n + run->commit) {
		run_finish(run);
		return;
	}
	send_range(run, run->sent, run->n, run->commit);
}

static void send_range(struct ob_run *run, int from, int to, int commit)
{
	run->pending = to - from + (run->begin_due ? 1 : 0) + commit;
	if (run->begin_due) {
		run->begin_due = 0;
		run->begin = (struct ob_slot){run, -1};
		db_conn_query(run->conn, "BEGIN", 0, NULL, on_op, &run->begin);
	}
	for (int i = from; i < to; i++) {
		struct ob_op *op = &run->op[i];
		run->slot[i] = (struct ob_slot){run, i};
		if (op->type == OB_OP_AUDIT) {
			const struct audit_rec rec = {.actor = op->p[0],
						      .action = op->p[1],
						      .object_type = op->p[2],
						      .object_id = op->p[3],
						      .reason = op->p[4],
						      .details = op->details};
			audit_append(run->conn, &rec, on_op, &run->slot[i]);
		} else {
			db_conn_query(run->conn, op->sql, op->n, (const char *const *)op->p, on_op,
				      &run->slot[i]);
		}
	}
	run->sent = to;
	if (commit) {
		run->end = (struct ob_slot){run, -2};
		run->sent = to + 1;
		db_conn_query(run->conn, "COMMIT", 0, NULL, on_op, &run->end);
	}
}

static void start(struct ob_run *run)
{
	int split = 0;

	for (int i = 0; i < run->n; i++)
		if (run->op[i].need_rows)
			split = i + 1;
	if (split == 0)
		send_range(run, 0, run->n, run->commit);
	else
		send_range(run, 0, split, 0); /* then the rest and COMMIT: on_op */
}

/* Moves the plan into a run; NULL (and cb called) for a planning error. */
static struct ob_run *run_new(struct outbox *ob, ob_cb cb, void *data)
{
	struct ob_run *run;
	struct ra_err e;
	int rows[OB_MAX_OPS] = {0};

	if (ob->overflow || ob->n == 0 || (ob->audit_due && !ob->audited)) {
		ra_err_set(&e, RA_E_INTERNAL, "",
			   ob->overflow ? "a state change has too many statements or an unknown state"
			   : ob->n == 0 ? "a state change without statements"
					: "a state change the machine audits has no audit record (R16)");
		ob_clear(ob);
		cb(rows, &e, data);
		return NULL;
	}
	run = calloc(1, sizeof(*run));
	if (run == NULL)
		abort();
	memcpy(run->op, ob->op, sizeof(run->op));
	run->n = ob->n;
	run->cb = cb;
	run->data = data;
	memset(ob, 0, sizeof(*ob)); /* the run owns the copies now */
	return run;
}

void ob_queue(struct outbox *ob, struct db_conn *conn, ob_cb cb, void *data)
{
	struct ob_run *run = run_new(ob, cb, data);

	if (run == NULL)
		return;
	run->conn = conn;
	start(run);
}

void ob_queue_commit(struct outbox *ob, struct db_conn *conn, ob_cb cb, void *data)
{
	struct ob_run *run = run_new(ob, cb, data);

	if (run == NULL)
		return;
	run->conn = conn;
	run->commit = 1;
	start(run);
}

static void on_conn(struct db_conn *conn, const struct ra_err *err, void *data)
{
	struct ob_run *run = data;

	if (err) {
		run->failed = 1;
		run->err = *err;
		run_finish(run);
		return;
	}
	run->conn = conn;
	run->begin_due = 1; /* BEGIN goes with the first segment */
	start(run);
}

void ob_commit(struct outbox *ob, struct db_pool *pool, ob_cb cb, void *data)
{
	struct ob_run *run = run_new(ob, cb, data);

	if (run == NULL)
		return;
	run->own_conn = 1;
	run->commit = 1;
	db_acquire(pool, on_conn, run);
}

/* ---- blocking ---------------------------------------------------------------------------- */

static int exec_one(PGconn *c, const struct ob_op *op, int *rows, struct ra_err *err)
{
	char *details = NULL;
	const char *ap[6];
	const char *const *p = (const char *const *)op->p;
	const char *sql = op->sql;
	int n = op->n, rc = 0;
	PGresult *r;

	if (op->type == OB_OP_AUDIT) {
		details = op->details ? json_dumps(op->details, JSON_COMPACT | JSON_ENCODE_ANY) : NULL;
		for (int k = 0; k < 5; k++)
			ap[k] = op->p[k];
		ap[5] = details;
		p = ap;
		sql = audit_insert_sql; /* audit.h: the log's one statement */
		n = 6;
	}
	r = PQexecParams(c, sql, n, NULL, p, NULL, NULL, 0);
	if (PQresultStatus(r) == PGRES_TUPLES_OK) {
		*rows = PQntuples(r);
	} else if (PQresultStatus(r) == PGRES_COMMAND_OK) {
		*rows = atoi(PQcmdTuples(r));
	} else {
		rc = db_result_err(r, err);
		if (rc == 0)
			rc = ra_err_set(err, RA_E_INTERNAL, "", "%s", PQresultErrorMessage(r));
	}
	PQclear(r);
	free(details);
	return rc;
}

int ob_exec(struct outbox *ob, PGconn *c, int *rows, struct ra_err *err)
{
	int rc = 0, dummy[OB_MAX_OPS];

	if (rows == NULL)
		rows = dummy;
	if (ob->overflow || ob->n == 0 || (ob->audit_due && !ob->audited)) {
		rc = ra_err_set(err, RA_E_INTERNAL, "",
				ob->overflow ? "a state change has too many statements or an unknown state"
				: ob->n == 0 ? "a state change without statements"
					     : "a state change the machine audits has no audit record (R16)");
		goto out;
	}
	for (int i = 0; i < ob->n && rc == 0; i++) {
		rows[i] = 0;
		rc = exec_one(c, &ob->op[i], &rows[i], err);
		if (rc == 0 && rows[i] == 0 && ob->op[i].need_rows)
			rc = ra_err_set(err, RA_E_CONFLICT, "state", "the state changed meanwhile (statement %d)", i);
	}
out:
	ob_clear(ob);
	return rc;
}
