/*
 * outbox.c - a state change, its statements, audit records and jobs as one unit of a
 * transaction; see outbox.h.  The unit is planned into struct outbox (parameters copied),
 * then moved into a heap run that queues its statements on the connection, pipelined, and
 * answers when the last result is in.  ob_exec is the same on a blocking connection.
 */
#include "ra/db/outbox.h"

#include <libpq-fe.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ra/db/audit.h"

enum { OB_OP_SQL, OB_OP_AUDIT, OB_OP_JOB, OB_OP_JOB_EACH, OB_OP_AUDIT_EACH };

#define OB_KEPT 3 /* columns kept of a source's rows: id, details, reason */

/* docs/jobs.md: the one INSERT shape.  The idempotency key makes a repeated insert (a job
 * run twice, a repeated delivery) a no-op; priority 0 lets the kind decide (trigger). */
static const char *sql_job = DB_PLAN_ONCE
	"INSERT INTO jobs (kind, payload, idempotency_key, priority, run_at)"
	" VALUES ($1, $2::jsonb, $3, $4::smallint, coalesce($5::timestamptz, now()))"
	" ON CONFLICT (idempotency_key) DO NOTHING RETURNING run_at <= clock_timestamp()";

/* ---- planning ---------------------------------------------------------------------------- */

static char *copy_str(const char *s)
{
	char *d = s ? strdup(s) : NULL;

	if (s && d == NULL)
		abort(); /* out of memory */
	return d;
}

static void op_free(struct ob_op *op)
{
	for (int k = 0; k < op->n; k++)
		free(op->p[k]);
	for (int k = 0; k < OB_KEPT * op->nkept; k++)
		free(op->kept[k]);
	free(op->kept);
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
	memset(op, 0, sizeof(*op));
	op->type = type;
	op->sql = sql;
	op->n = n;
	op->need_rows = need_rows;
	op->src = -1;
	for (int i = 0; i < n; i++)
		op->p[i] = copy_str(params[i]);
	return op;
}

/* $1 id, $2 next state, $3 from (a name or a text[] literal), $4.. extra */
static int state_op(struct outbox *ob, const char *sql, const char *id, const char *to, const char *from,
		    int nextra, const char *const *extra, int need_rows)
{
	const char *p[OB_MAX_PARAMS];

	if (to == NULL || from == NULL || nextra < 0 || 3 + nextra > OB_MAX_PARAMS) {
		ob->overflow = 1; /* a state number outside the machine: a programming error */
		return -1;
	}
	p[0] = id;
	p[1] = to;
	p[2] = from;
	for (int i = 0; i < nextra; i++)
		p[3 + i] = extra[i];
	return op_add(ob, OB_OP_SQL, sql, 3 + nextra, p, need_rows) ? ob->n - 1 : -1;
}

int ob_move(struct outbox *ob, const char *sql, const struct wf_machine *m, int from, int to, const char *id,
	    int nextra, const char *const *extra)
{
	return state_op(ob, sql, id, wf_state_name(m, to), wf_state_name(m, from), nextra, extra, 1);
}

int ob_step(struct outbox *ob, const char *sql, const struct wf_machine *m, int from,
	    const struct wf_result *r, const char *id, int nextra, const char *const *extra)
{
	if (r->actions & WF_ACT_AUDIT)
		ob->audit_due = 1;
	return ob_move(ob, sql, m, from, r->next_state, id, nextra, extra);
}

const char *ob_states(const struct wf_machine *m, unsigned mask, char *buf, size_t cap)
{
	size_t len = 1;
	int states = wf_state_count(m);

	if (cap < 3)
		return NULL;
	buf[0] = '{';
	for (int s = 0; s < states && s < 32; s++) {
		const char *name = wf_state_name(m, s);
		if (!(mask & (1u << s)))
			continue;
		if (len + strlen(name) + 3 >= cap)
			return NULL;
		len += (size_t)snprintf(buf + len, cap - len, "%s%s", len > 1 ? "," : "", name);
	}
	buf[len++] = '}';
	buf[len] = '\0';
	return len == 2 ? NULL : buf; /* no state at all: a programming error */
}

/* $3 as a text[] literal of the names of the states in from_mask */
static int move_set(struct outbox *ob, const char *sql, const struct wf_machine *m, unsigned from_mask,
		    int to, const char *id, int nextra, const char *const *extra, int need_rows)
{
	char set[256];

	if (ob_states(m, from_mask, set, sizeof(set)) == NULL) {
		ob->overflow = 1;
		return -1;
	}
	return state_op(ob, sql, id, wf_state_name(m, to), set, nextra, extra, need_rows);
}

int ob_move_any(struct outbox *ob, const char *sql, const struct wf_machine *m, unsigned from_mask, int to,
		const char *id, int nextra, const char *const *extra)
{
	return move_set(ob, sql, m, from_mask, to, id, nextra, extra, 1);
}

int ob_move_set(struct outbox *ob, const char *sql, const struct wf_machine *m, unsigned from_mask, int to,
		const char *id, int nextra, const char *const *extra)
{
	return move_set(ob, sql, m, from_mask, to, id, nextra, extra, 0);
}

int ob_stmt(struct outbox *ob, const char *sql, int n, const char *const *params, int need_rows)
{
	return op_add(ob, OB_OP_SQL, sql, n, params, need_rows) ? ob->n - 1 : -1;
}

int ob_stmt_read(struct outbox *ob, const char *sql, int n, const char *const *params, int need_rows,
		 db_result_cb read, void *data)
{
	struct ob_op *op = op_add(ob, OB_OP_SQL, sql, n, params, need_rows);

	if (op == NULL)
		return -1;
	op->read = read;
	op->read_data = data;
	return ob->n - 1;
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

static struct ob_op *each_add(struct outbox *ob, int type, int src, int n, const char *const *p)
{
	struct ob_op *op;

	if (src < 0 || src >= ob->n || ob->op[src].type != OB_OP_SQL) {
		ob->overflow = 1; /* not a statement of this unit: a programming error */
		return NULL;
	}
	op = op_add(ob, type, NULL, n, p, 0);
	if (op == NULL)
		return NULL;
	op->src = src;
	ob->op[src].keep = 1;
	return op;
}

void ob_job_each(struct outbox *ob, int src, const char *kind, const char *member, const char *key_prefix)
{
	each_add(ob, OB_OP_JOB_EACH, src, 3, (const char *const[]){kind, member, key_prefix});
}

void ob_job_rows(struct outbox *ob, int src, const char *kind)
{
	/* member NULL: key and payload come from the row (each_job) */
	each_add(ob, OB_OP_JOB_EACH, src, 3, (const char *const[]){kind, NULL, NULL});
}

void ob_audit_each(struct outbox *ob, int src, const char *actor, const char *action, const char *object_type,
		   const char *reason)
{
	if (each_add(ob, OB_OP_AUDIT_EACH, src, 4, (const char *const[]){actor, action, object_type, reason}))
		ob->audited = 1;
}

static int plan_error(const struct outbox *ob, struct ra_err *e)
{
	if (ob->overflow)
		return ra_err_set(e, RA_E_INTERNAL, "",
				  "a state change has too many statements or an unknown state");
	if (ob->n == 0)
		return ra_err_set(e, RA_E_INTERNAL, "", "a state change without statements");
	if (ob->audit_due && !ob->audited)
		return ra_err_set(e, RA_E_INTERNAL, "",
				  "a state change the machine audits has no audit record (R16)");
	/* an each-op is sent once its source's rows are in: after every statement that decides */
	for (int i = 0, each = -1; i < ob->n; i++) {
		if (ob->op[i].type == OB_OP_JOB_EACH || ob->op[i].type == OB_OP_AUDIT_EACH)
			each = i;
		else if (each >= 0 && (ob->op[i].need_rows || ob->op[i].keep))
			return ra_err_set(
				e, RA_E_INTERNAL, "",
				"statement %d decides, but follows a job or record for each row (%d)", i,
				each);
	}
	return 0;
}

/* Keeps columns 0, 1 and 2 of every row of a source statement's result. */
static void keep_rows(struct ob_op *op, const PGresult *res)
{
	int rows = PQresultStatus(res) == PGRES_TUPLES_OK ? PQntuples(res) : 0;
	int cols = PQnfields(res);

	op->nkept = rows;
	op->kept = rows ? calloc((size_t)rows * OB_KEPT, sizeof(char *)) : NULL;
	if (rows && op->kept == NULL)
		abort();
	for (int r = 0; r < rows; r++)
		for (int c = 0; c < OB_KEPT && c < cols; c++)
			op->kept[OB_KEPT * r + c] = copy_str(db_val(res, r, c));
}

/* The job of row r of an each-op's source: params for sql_job into p (buffers owned by the
 * caller: payload text to free). */
static void each_job(const struct ob_op *op, const struct ob_op *src, int r, const char *p[5], char **payload,
		     char *key, size_t cap)
{
	const char *id = src->kept[OB_KEPT * r];
	size_t digits;
	json_t *j;

	if (op->p[1] == NULL) { /* ob_job_rows */
		*payload = copy_str(src->kept[OB_KEPT * r + 1]);
		snprintf(key, cap, "%s", id ? id : "");
		p[0] = op->p[0];
		p[1] = *payload;
		p[2] = id ? key : NULL;
		p[3] = "0";
		p[4] = NULL;
		return;
	}
	digits = id ? strspn(id, "0123456789") : 0;
	/* orders have bigint ids: {"order_id": 7}, as the handlers read them */
	j = digits > 0 && digits < 19 && id[digits] == '\0'
		    ? json_pack("{s:I}", op->p[1], (json_int_t)strtoll(id, NULL, 10))
		    : json_pack("{s:s?}", op->p[1], id);

	*payload = j ? json_dumps(j, JSON_COMPACT) : NULL;
	json_decref(j);
	snprintf(key, cap, "%s%s", op->p[2] ? op->p[2] : "", id ? id : "");
	p[0] = op->p[0];
	p[1] = *payload;
	p[2] = key;
	p[3] = "0";
	p[4] = NULL;
}

/* The audit record of row r of an each-op's source (details: caller decrefs). */
static struct audit_rec each_audit(const struct ob_op *op, const struct ob_op *src, int r, json_t **details)
{
	const char *text = src->kept[OB_KEPT * r + 1], *reason = src->kept[OB_KEPT * r + 2];

	*details = text ? json_loads(text, JSON_DECODE_ANY, NULL) : NULL;
	return (struct audit_rec){.actor = op->p[0],
				  .action = op->p[1],
				  .object_type = op->p[2],
				  .object_id = src->kept[OB_KEPT * r],
				  .reason = reason ? reason : op->p[3],
				  .details = *details};
}

/* ---- running -----------------------------------------------------------------------------
 *
 * Two pipeline segments at most.  The first ends with the last statement whose answer
 * decides (a conditioned one, or a source of *_each): its results are read first.  The
 * second (jobs, audit records and, when asked for, COMMIT) is sent only when every condition
 * held, all together, so the audit log's lock (taken by the first append, held until COMMIT)
 * never waits for a round trip to this process.  A unit without such statements is one
 * segment. */

struct ob_run;

struct ob_slot {
	struct ob_run *run;
	int i;
};

struct ob_run {
	struct ob_op op[OB_MAX_OPS];
	struct ob_slot slot[OB_MAX_OPS];
	struct ob_slot *each[OB_MAX_OPS]; /* a slot per row for *_each */
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

static void run_free(struct ob_run *run)
{
	for (int i = 0; i < run->n; i++) {
		op_free(&run->op[i]);
		free(run->each[i]);
	}
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
		struct ob_op *op = &run->op[s->i];
		const char *aff = PQcmdTuples(res);
		int n = PQresultStatus(res) == PGRES_TUPLES_OK ? PQntuples(res)
							       : (aff && *aff ? atoi(aff) : 0);
		run->rows[s->i] += n;
		/* A job inserted and due now wakes its lane at COMMIT (db_conn_wake_due; sql_job's $1
		 * is the kind).  One dated ahead, or one whose key was there already, wakes nobody:
		 * a claim now would find nothing, and the poll finds it when it is due. */
		if ((op->type == OB_OP_JOB || op->type == OB_OP_JOB_EACH) && n == 1 &&
		    PQresultStatus(res) == PGRES_TUPLES_OK && strcmp(PQgetvalue(res, 0, 0), "t") == 0)
			db_conn_wake_due(run->conn, op->p[0]);
		if (op->keep)
			keep_rows(op, res);
		if (op->read)
			op->read(res, NULL, op->read_data);
		if (n == 0 && op->need_rows && !run->failed) {
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

/* Queues the queries of an each-op: one per row of its source (none for no rows). */
static void send_each(struct ob_run *run, int i)
{
	struct ob_op *op = &run->op[i];
	const struct ob_op *src = &run->op[op->src];

	if (src->nkept == 0)
		return;
	run->each[i] = calloc((size_t)src->nkept, sizeof(struct ob_slot));
	if (run->each[i] == NULL)
		abort();
	for (int r = 0; r < src->nkept; r++) {
		run->each[i][r] = (struct ob_slot){run, i};
		run->pending++;
		if (op->type == OB_OP_JOB_EACH) {
			const char *p[5];
			char *payload, key[200];
			each_job(op, src, r, p, &payload, key, sizeof(key));
			db_conn_query(run->conn, sql_job, 5, p, on_op, &run->each[i][r]);
			free(payload);
		} else {
			json_t *details;
			const struct audit_rec rec = each_audit(op, src, r, &details);
			audit_append(run->conn, &rec, on_op, &run->each[i][r]);
			json_decref(details);
		}
	}
}

/* Callbacks come from the loop, never from inside db_conn_query: pending counts as it goes. */
static void send_range(struct ob_run *run, int from, int to, int commit)
{
	run->pending = 1; /* held until everything is queued */
	if (run->begin_due) {
		run->begin_due = 0;
		run->begin = (struct ob_slot){run, -1};
		run->pending++;
		db_conn_query(run->conn, "BEGIN", 0, NULL, on_op, &run->begin);
	}
	for (int i = from; i < to; i++) {
		struct ob_op *op = &run->op[i];
		run->slot[i] = (struct ob_slot){run, i};
		if (op->type == OB_OP_JOB_EACH || op->type == OB_OP_AUDIT_EACH) {
			send_each(run, i);
		} else if (op->type == OB_OP_AUDIT) {
			const struct audit_rec rec = {.actor = op->p[0],
						      .action = op->p[1],
						      .object_type = op->p[2],
						      .object_id = op->p[3],
						      .reason = op->p[4],
						      .details = op->details};
			run->pending++;
			audit_append(run->conn, &rec, on_op, &run->slot[i]);
		} else {
			run->pending++;
			db_conn_query(run->conn, op->sql, op->n, (const char *const *)op->p, on_op,
				      &run->slot[i]);
		}
	}
	run->sent = to;
	if (commit) {
		run->end = (struct ob_slot){run, -2};
		run->sent = to + 1;
		run->pending++;
		db_conn_query(run->conn, "COMMIT", 0, NULL, on_op, &run->end);
	}
	if (--run->pending == 0) { /* nothing was queued: an each-op over no rows, alone */
		if (run->failed || run->sent == run->n + run->commit)
			run_finish(run);
		else
			send_range(run, run->sent, run->n, run->commit);
	}
}

static void start(struct ob_run *run)
{
	int split = 0;

	for (int i = 0; i < run->n; i++)
		if (run->op[i].need_rows || run->op[i].keep)
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

	if (plan_error(ob, &e) != 0) {
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

static int exec_sql(PGconn *c, const char *sql, int n, const char *const *p, struct ob_op *keep, int *rows,
		    struct ra_err *err)
{
	PGresult *r = PQexecParams(c, sql, n, NULL, p, NULL, NULL, 0);
	int rc = 0;

	if (PQresultStatus(r) == PGRES_TUPLES_OK) {
		*rows += PQntuples(r);
		if (keep && keep->keep)
			keep_rows(keep, r);
		if (keep && keep->read)
			keep->read(r, NULL, keep->read_data);
	} else if (PQresultStatus(r) == PGRES_COMMAND_OK) {
		*rows += atoi(PQcmdTuples(r));
	} else {
		rc = db_result_err(r, err);
		if (rc == 0)
			rc = ra_err_set(err, RA_E_INTERNAL, "", "%s", PQresultErrorMessage(r));
	}
	PQclear(r);
	return rc;
}

/* The log's one statement (audit.h), for a blocking connection. */
static int exec_audit(PGconn *c, const struct audit_rec *rec, int *rows, struct ra_err *err)
{
	char *details = rec->details ? json_dumps(rec->details, JSON_COMPACT | JSON_ENCODE_ANY) : NULL;
	const char *p[6] = {rec->actor, rec->action, rec->object_type, rec->object_id, rec->reason, details};
	int rc = exec_sql(c, audit_insert_sql, 6, p, NULL, rows, err);

	free(details);
	return rc;
}

static int exec_op(PGconn *c, struct outbox *ob, int i, int *rows, struct ra_err *err)
{
	struct ob_op *op = &ob->op[i];
	int rc = 0;

	if (op->type == OB_OP_AUDIT) {
		const struct audit_rec rec = {.actor = op->p[0],
					      .action = op->p[1],
					      .object_type = op->p[2],
					      .object_id = op->p[3],
					      .reason = op->p[4],
					      .details = op->details};
		return exec_audit(c, &rec, rows, err);
	}
	if (op->type == OB_OP_SQL || op->type == OB_OP_JOB)
		return exec_sql(c, op->sql, op->n, (const char *const *)op->p,
				op->keep || op->read ? op : NULL, rows, err);
	for (int r = 0; rc == 0 && r < ob->op[op->src].nkept; r++) {
		if (op->type == OB_OP_JOB_EACH) {
			const char *p[5];
			char *payload, key[200];
			each_job(op, &ob->op[op->src], r, p, &payload, key, sizeof(key));
			rc = exec_sql(c, sql_job, 5, p, NULL, rows, err);
			free(payload);
		} else {
			json_t *details;
			const struct audit_rec rec = each_audit(op, &ob->op[op->src], r, &details);
			rc = exec_audit(c, &rec, rows, err);
			json_decref(details);
		}
	}
	return rc;
}

int ob_exec(struct outbox *ob, PGconn *c, int *rows, struct ra_err *err)
{
	int rc, dummy[OB_MAX_OPS];

	if (rows == NULL)
		rows = dummy;
	rc = plan_error(ob, err);
	for (int i = 0; i < ob->n && rc == 0; i++) {
		rows[i] = 0;
		rc = exec_op(c, ob, i, &rows[i], err);
		if (rc == 0 && rows[i] == 0 && ob->op[i].need_rows)
			rc = ra_err_set(err, RA_E_CONFLICT, "state",
					"the state changed meanwhile (statement %d)", i);
	}
	ob_clear(ob);
	return rc;
}
