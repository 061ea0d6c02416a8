/*
 * db.c - asynchronous libpq connection pool on the libuv loop; see db.h for the contract.
 *
 * Each connection is a small state machine: DOWN (waiting for its retry timer) ->
 * CONNECTING (PQconnectPoll driven by a uv_poll on its socket) -> UP.  An UP connection is
 * idle or leased; a leased one runs its queued statements one after another.  A lost
 * connection fails what it had queued and goes back to DOWN.  Callbacks never run inside
 * the call that queued them: early failures are delivered from a zero-delay timer.
 *
 * Pooled connections are in libpq's pipeline mode.  Statements queued from within one
 * callback (a result or an acquire) are sent together, as one pipeline segment ending in a
 * Sync, once that callback returns: one round trip instead of one each.  PostgreSQL skips the
 * rest of a segment after a failed statement, so a "statement; COMMIT" pair never commits
 * when the statement failed; the skipped ones fail with RA_E_INTERNAL.  A statement queued
 * outside a callback is sent at once, on its own.  The listener connections are not pipelined.
 */
#include "ra/db/db.h"

#include <arpa/inet.h>
#include <netdb.h>
#include <stdlib.h>
#include <string.h>

#include "ra/base/log.h"

enum conn_state { C_DOWN, C_CONNECTING, C_UP, C_CLOSED };

struct db_q {
	struct db_q *next;
	const char *sql;
	int nparams;
	char **params;
	db_result_cb cb;
	void *data;
	PGresult *res;
	int sync; /* last of its pipeline segment: its Sync follows it */
	int got_end; /* its results are complete (pipeline: waiting for the Sync) */
	int prep; /* the connection's own Prepare of sql (data: its struct db_prep) */
};

/* A statement prepared on one session (prepared statements): named by its slot. */
#define DB_PREP_MAX 128
enum prep_state { PREP_NONE, PREP_SENT, PREP_READY, PREP_BAD };
struct db_prep {
	char *sql; /* its text, copied */
	unsigned long hash;
	enum prep_state state;
	unsigned long seg; /* the pipeline segment its Prepare was sent in */
	char name[16];
};

struct waiter {
	struct waiter *next;
	db_acquire_cb cb;
	void *data;
	uint64_t since;
};

struct failed {
	struct failed *next;
	db_result_cb qcb;
	db_acquire_cb acb;
	void *data;
	int code;
	char msg[160];
};

struct db_conn {
	struct db_pool *pool;
	PGconn *pg;
	uv_poll_t *poll; /* allocated per socket, freed in its close callback */
	int fd;
	enum conn_state state;
	int leased;
	int pipe; /* in pipeline mode (pooled connections) */
	int in_cb; /* inside a callback of this connection: queue, send when it returns */
	unsigned wake_due; /* the runners (mask_of) whose jobs the open transaction queued: woken at COMMIT */
	struct db_prep *prep; /* DB_PREP_MAX slots, nprep used; forgotten with the session */
	int nprep;
	unsigned long seg; /* pipeline segments sent on this session */
	int sent; /* statements at the head of the queue that are on the wire */
	struct db_q *head, *tail;
	uv_timer_t retry;
	int backoff_ms;
	uv_getaddrinfo_t gai; /* resolving the database host name off the loop */
	int resolving;
	/* listener connections only */
	char *channel;
	char listen_sql[200];
	db_notify_cb notify_cb;
	void *notify_data;
	struct db_conn *next_listener;
};

struct db_pool {
	uv_loop_t *loop;
	char *conninfo;
	PQconninfoOption *opts; /* conninfo parsed: connecting with a resolved hostaddr */
	char resolve_host[256]; /* non-empty: a host name libpq would resolve with blocking getaddrinfo */
	int size;
	int acquire_timeout_ms;
	struct db_conn *conns;
	struct db_conn *listeners;
	struct waiter *wait_head, *wait_tail;
	int nwaiting;
	struct failed *fail_head, *fail_tail;
	uv_timer_t tick; /* delivers early failures, expires waiters */
	int closing;
	int open_handles;
	void (*closed_cb)(void *);
	void *closed_data;
	unsigned long long queries, errors, reconnects;
	/* the after-commit wake-up (db.h: db_wake_set) */
	void (*wake_cb)(void *, unsigned);
	unsigned (*wake_mask_of)(const char *, void *);
	void *wake_data;
	int wake_busy, wake_again; /* a NOTIFY in flight; another one due after it */
};

static void conn_connect(struct db_conn *c);
static void conn_fail(struct db_conn *c, const char *why);
static void conn_kick(struct db_conn *c);
static void on_poll(uv_poll_t *h, int status, int events);
static void pool_dispatch_waiters(struct db_pool *p);
static void tick_soon(struct db_pool *p);
static void pool_wake(struct db_pool *p, unsigned mask);
static void prep_done(struct db_q *q);
/* A pooled session's settings: the jobs insert trigger leaves the wake-up to us
 * (migrations/0016_jobs_wake.sql), and PostgreSQL's own plan choice for the statements
 * prepared on it (db.h "Plans": only DB_PLAN_ONCE statements, whose plan cannot depend on
 * their values, are prepared; the rest are planned for their values at every run).  Under
 * force_custom_plan every prepared statement was planned again at every run: in `make bench`'s
 * issuance about a fifth of PostgreSQL's CPU (issue #15). */
static const char *sql_session =
	"SELECT set_config('ra.jobs_wake', 'after_commit', false),"
	" set_config('plan_cache_mode', 'auto', false)";

/* ---- early failures and timeouts ---------------------------------------------------- */

static void defer_fail(struct db_pool *p, db_result_cb qcb, db_acquire_cb acb, void *data, int code,
		       const char *msg)
{
	struct failed *f;

	if (p->closing) {
		/* the tick timer is closed: answer now rather than never */
		struct ra_err e;
		ra_err_set(&e, code, "", "%s", msg);
		if (qcb)
			qcb(NULL, &e, data);
		else
			acb(NULL, &e, data);
		return;
	}
	f = calloc(1, sizeof(*f));

	if (f == NULL)
		abort();
	f->qcb = qcb;
	f->acb = acb;
	f->data = data;
	f->code = code;
	snprintf(f->msg, sizeof(f->msg), "%s", msg);
	if (p->fail_tail)
		p->fail_tail->next = f;
	else
		p->fail_head = f;
	p->fail_tail = f;
	tick_soon(p);
}

static void on_tick(uv_timer_t *t)
{
	struct db_pool *p = t->data;
	struct failed *f;
	uint64_t now = uv_now(p->loop);

	pool_dispatch_waiters(p);
	while ((f = p->fail_head) != NULL) {
		struct ra_err e;
		p->fail_head = f->next;
		if (p->fail_head == NULL)
			p->fail_tail = NULL;
		ra_err_set(&e, f->code, "", "%s", f->msg);
		if (f->qcb)
			f->qcb(NULL, &e, f->data);
		else
			f->acb(NULL, &e, f->data);
		free(f);
	}
	/* Waiters that waited too long give up: a request must not hang on a dead database. */
	while (p->wait_head && now - p->wait_head->since >= (uint64_t)p->acquire_timeout_ms) {
		struct waiter *w = p->wait_head;
		struct ra_err e;
		p->wait_head = w->next;
		if (p->wait_head == NULL)
			p->wait_tail = NULL;
		p->nwaiting--;
		ra_err_set(&e, RA_E_UNAVAILABLE, "", "database busy or unavailable");
		w->cb(NULL, &e, w->data);
		free(w);
	}
	if (p->wait_head == NULL && p->fail_head == NULL)
		uv_timer_stop(t);
}

static void tick_soon(struct db_pool *p)
{
	uv_timer_start(&p->tick, on_tick, 0, 100);
}

/* ---- queries --------------------------------------------------------------------------- */

/* Parameters are copied when queued: the caller's strings may be gone before they are sent. */
static char **params_copy(int n, const char *const *params)
{
	char **out;

	if (n <= 0)
		return NULL;
	out = calloc((size_t)n, sizeof(char *));
	if (out == NULL)
		abort();
	for (int i = 0; i < n; i++)
		out[i] = params[i] ? strdup(params[i]) : NULL;
	return out;
}

static void params_free(int n, char **params)
{
	for (int i = 0; i < n && params; i++)
		free(params[i]);
	free(params);
}

static void q_free(struct db_q *q)
{
	params_free(q->nparams, q->params);
	PQclear(q->res);
	free(q);
}

static struct db_q *q_new(const char *sql, int n, const char *const *params, db_result_cb cb, void *data)
{
	struct db_q *q = calloc(1, sizeof(*q));

	if (q == NULL)
		abort();
	q->sql = sql;
	q->nparams = n;
	q->cb = cb;
	q->data = data;
	q->params = params_copy(n, params);
	return q;
}

/* What a client may read for a class of database error: the database's own text (which
 * quotes the client's value and names types, columns and functions) goes to the log only. */
static const char *client_text(int code)
{
	switch (code) {
	case RA_E_CONFLICT:
		return "conflicts with a concurrent change or an existing record; retry or check the request";
	case RA_E_UNAVAILABLE:
		return "database unavailable";
	case RA_E_INVALID:
		return "a value has the wrong form or is out of range";
	default:
		return "database error";
	}
}

int db_result_err(const PGresult *res, struct ra_err *err)
{
	const char *state = res ? PQresultErrorField(res, PG_DIAG_SQLSTATE) : NULL;
	const char *msg = res ? PQresultErrorField(res, PG_DIAG_MESSAGE_PRIMARY) : NULL;
	const char *cons = res ? PQresultErrorField(res, PG_DIAG_CONSTRAINT_NAME) : NULL;
	const char *col = res ? PQresultErrorField(res, PG_DIAG_COLUMN_NAME) : NULL;
	int code = RA_E_INTERNAL;

	if (state == NULL)
		code = RA_E_UNAVAILABLE;
	else if (!strcmp(state, "23505") || !strcmp(state, "40001") || !strcmp(state, "40P01"))
		code = RA_E_CONFLICT;
	else if (!strncmp(state, "08", 2) || !strncmp(state, "57P", 3) || !strcmp(state, "53300"))
		code = RA_E_UNAVAILABLE;
	else if (!strncmp(state, "22", 2) || !strncmp(state, "23", 2))
		code = RA_E_INVALID;
	else if (!strcmp(state, "P0001"))
		code = RA_E_RULE; /* RAISE EXCEPTION from our own functions and triggers */
	/* RAISE EXCEPTION texts are ours, written for the caller; every other text stays here */
	if (code == RA_E_RULE)
		return ra_err_set(err, code, cons ? cons : "", "%s", msg ? msg : "database error");
	log_warn("db.error", "sqlstate", state ? state : "", "constraint", cons ? cons : "", "message",
		 msg ? msg : "", NULL);
	return ra_err_set(err, code, cons ? cons : (col ? col : ""), "%s", client_text(code));
}

static void deliver(struct db_conn *c, struct db_q *q)
{
	struct ra_err e;
	ExecStatusType st = q->res ? PQresultStatus(q->res) : PGRES_FATAL_ERROR;
	int ok = st == PGRES_COMMAND_OK || st == PGRES_TUPLES_OK;
	int wake = 0;

	if (q->prep) {
		prep_done(q);
		return;
	}

	c->pool->queries++;
	if (st == PGRES_PIPELINE_ABORTED) {
		ra_err_set(&e, RA_E_INTERNAL, "", "not run: an earlier statement sent with it failed");
	} else if (ok && strcmp(q->sql, "COMMIT") == 0 && strcmp(PQcmdStatus(q->res), "ROLLBACK") == 0) {
		/* The transaction had failed before: PostgreSQL answers COMMIT by rolling back. */
		ok = 0;
		ra_err_set(&e, RA_E_INTERNAL, "", "the transaction was rolled back, not committed");
	} else if (!ok) {
		db_result_err(q->res, &e);
	}
	if (!ok)
		c->pool->errors++;
	if (c->wake_due && strcmp(q->sql, "COMMIT") == 0) {
		wake = ok ? c->wake_due : 0; /* committed: the jobs it queued are due now */
		c->wake_due = 0;
	} else if (c->wake_due && ok && strcmp(q->sql, "ROLLBACK") == 0) {
		c->wake_due = 0; /* rolled back: the jobs it queued are gone */
	}
	q->cb(q->res, ok ? NULL : &e, q->data);
	q_free(q);
	if (wake)
		pool_wake(c->pool, wake);
}

/* ---- prepared statements --------------------------------------------------------------
 *
 * A DB_PLAN_ONCE statement of a pooled session is prepared on it the first time it is sent (a
 * Parse in the same pipeline segment, just before it) and run by name from then on, so
 * PostgreSQL parses and analyses it once per session instead of per execution, and may plan
 * it once (plan_cache_mode = auto).  Keyed by the text, not the pointer.  A name is used only once its Prepare succeeded, or within the segment that
 * carries the Prepare (if it fails, that segment is aborted anyway); a failed one is not
 * tried again on that session.  A reconnect forgets them all (a new session). */

static int prep_skip(const char *sql)
{
	return strncmp(sql, DB_PLAN_ONCE, sizeof(DB_PLAN_ONCE) - 1) != 0;
}

static struct db_prep *prep_for(struct db_conn *c, const char *sql)
{
	unsigned long h = 1469598103934665603UL;
	struct db_prep *e;

	if (!c->pipe || prep_skip(sql))
		return NULL;
	for (const unsigned char *p = (const unsigned char *)sql; *p; p++)
		h = (h ^ *p) * 1099511628211UL;
	for (int i = 0; i < c->nprep; i++)
		if (c->prep[i].hash == h && strcmp(c->prep[i].sql, sql) == 0)
			return c->prep[i].state == PREP_BAD ? NULL : &c->prep[i];
	if (c->prep == NULL && (c->prep = calloc(DB_PREP_MAX, sizeof(*c->prep))) == NULL)
		abort();
	if (c->nprep == DB_PREP_MAX)
		return NULL; /* sent unprepared */
	e = &c->prep[c->nprep];
	if ((e->sql = strdup(sql)) == NULL)
		abort();
	e->hash = h;
	e->state = PREP_NONE;
	snprintf(e->name, sizeof(e->name), "ra_%d", c->nprep);
	c->nprep++;
	return e;
}

static void prep_done(struct db_q *q)
{
	struct db_prep *e = q->data;
	ExecStatusType st = q->res ? PQresultStatus(q->res) : PGRES_FATAL_ERROR;

	e->state = st == PGRES_COMMAND_OK ? PREP_READY : PREP_BAD;
	q_free(q);
}

static void prep_forget(struct db_conn *c)
{
	for (int i = 0; i < c->nprep; i++)
		free(c->prep[i].sql);
	c->nprep = 0;
}

static void conn_poll_events(struct db_conn *c, int want_write)
{
	if (c->poll)
		uv_poll_start(c->poll, UV_READABLE | (want_write ? UV_WRITABLE : 0), on_poll);
}

/* Sends what is queued and not yet sent: in pipeline mode all of it as one segment, else the
 * head of the queue when nothing is on the wire. */
static void conn_kick(struct db_conn *c)
{
	struct db_q *q = c->head, *prev = NULL, *last = NULL;
	int rc;

	if (c->state != C_UP || c->in_cb || (c->sent && !c->pipe))
		return;
	for (int i = 0; i < c->sent && q != NULL; i++) {
		prev = q;
		q = q->next;
	}
	for (; q != NULL; prev = q, q = q->next) {
		struct db_prep *e = prep_for(c, q->sql);
		if (e != NULL && e->state == PREP_NONE) {
			/* its Prepare goes just before it, with its own (internal) result */
			struct db_q *pq = q_new(q->sql, 0, NULL, NULL, e);
			pq->prep = 1;
			pq->next = q;
			if (prev)
				prev->next = pq;
			else
				c->head = pq;
			e->state = PREP_SENT;
			e->seg = c->seg;
			c->sent++;
			if (!PQsendPrepare(c->pg, e->name, q->sql, q->nparams, NULL)) {
				conn_fail(c, PQerrorMessage(c->pg));
				return;
			}
		}
		if (e != NULL && (e->state == PREP_READY || (e->state == PREP_SENT && e->seg == c->seg)))
			rc = PQsendQueryPrepared(c->pg, e->name, q->nparams, (const char *const *)q->params,
						 NULL, NULL, 0);
		else
			rc = PQsendQueryParams(c->pg, q->sql, q->nparams, NULL,
					       (const char *const *)q->params, NULL, NULL, 0);
		if (!rc) {
			conn_fail(c, PQerrorMessage(c->pg));
			return;
		}
		c->sent++;
		last = q;
		if (!c->pipe)
			break;
	}
	if (last == NULL)
		return;
	if (c->pipe) {
		last->sync = 1;
		c->seg++;
		if (!PQpipelineSync(c->pg)) {
			conn_fail(c, PQerrorMessage(c->pg));
			return;
		}
	}
	rc = PQflush(c->pg);
	if (rc < 0) {
		conn_fail(c, PQerrorMessage(c->pg));
		return;
	}
	conn_poll_events(c, rc == 1);
}

static void conn_read(struct db_conn *c)
{
	PGnotify *n;

	if (!PQconsumeInput(c->pg)) {
		conn_fail(c, PQerrorMessage(c->pg));
		return;
	}
	while ((n = PQnotifies(c->pg)) != NULL) {
		/* Our own after-commit NOTIFY: this process woke its runner at the commit. */
		if (c->notify_cb && !(c->pool->wake_cb && n->be_pid == PQbackendPID(c->pg) &&
				      strcmp(c->channel, DB_WAKE_CHANNEL) == 0))
			c->notify_cb(n->relname, n->extra, c->notify_data);
		PQfreemem(n);
	}
	while (c->sent && !PQisBusy(c->pg)) {
		PGresult *r = PQgetResult(c->pg);
		struct db_q *q = c->head;
		if (r != NULL && PQresultStatus(r) == PGRES_PIPELINE_SYNC) {
			PQclear(r);
			if (!q->sync || !q->got_end) {
				conn_fail(c, "pipeline out of step");
				return;
			}
		} else if (r != NULL) {
			if (q->res == NULL)
				q->res = r;
			else
				PQclear(r);
			continue;
		} else if (c->pipe && q->sync && !q->got_end) {
			/* NULL ends this statement's results; its segment's Sync comes next, and only
			 * then is the transaction status current (db_release reads it). */
			q->got_end = 1;
			continue;
		}
		c->head = q->next;
		if (c->head == NULL)
			c->tail = NULL;
		c->sent--;
		c->in_cb = 1;
		deliver(c, q); /* may queue more or release c */
		c->in_cb = 0;
		if (c->state != C_UP)
			return;
		conn_kick(c);
	}
	if (PQstatus(c->pg) == CONNECTION_BAD)
		conn_fail(c, PQerrorMessage(c->pg));
}

/* ---- connection life ------------------------------------------------------------------ */

/* One handle or request of the pool is finished; the last one after close says so. */
static void handle_gone(struct db_pool *p)
{
	p->open_handles--;
	if (p->closing && p->open_handles == 0 && p->closed_cb)
		p->closed_cb(p->closed_data);
}

static void on_poll_closed(uv_handle_t *h)
{
	struct db_pool *p = ((struct db_conn *)h->data)->pool;

	free(h);
	handle_gone(p);
}

static void drop_poll(struct db_conn *c)
{
	if (c->poll == NULL)
		return;
	uv_poll_stop(c->poll);
	uv_close((uv_handle_t *)c->poll, on_poll_closed);
	c->poll = NULL;
}

static int watch_socket(struct db_conn *c)
{
	int fd = PQsocket(c->pg);

	if (fd < 0)
		return -1;
	if (c->poll && c->fd == fd)
		return 0;
	drop_poll(c);
	c->poll = malloc(sizeof(*c->poll));
	if (c->poll == NULL)
		abort();
	if (uv_poll_init(c->pool->loop, c->poll, fd) != 0) {
		free(c->poll);
		c->poll = NULL;
		return -1;
	}
	c->poll->data = c;
	c->pool->open_handles++;
	c->fd = fd;
	return 0;
}

static void fail_queue(struct db_conn *c, const char *why)
{
	struct db_q *q;

	while ((q = c->head) != NULL) {
		struct ra_err e;
		c->head = q->next;
		if (q->prep) {
			prep_done(q);
			continue;
		}
		ra_err_set(&e, RA_E_UNAVAILABLE, "", "database connection lost: %s", why);
		c->pool->errors++;
		q->cb(NULL, &e, q->data);
		q_free(q);
	}
	c->tail = NULL;
}

static void on_retry(uv_timer_t *t)
{
	conn_connect(t->data);
}

static void conn_fail(struct db_conn *c, const char *why)
{
	char first[160];
	size_t n;

	snprintf(first, sizeof(first), "%s", why ? why : "");
	n = strcspn(first, "\n");
	first[n] = '\0';
	if (c->state == C_UP)
		log_warn("db.connection_lost", "reason", first, NULL);
	drop_poll(c);
	if (c->pg) {
		PQfinish(c->pg);
		c->pg = NULL;
	}
	c->state = C_DOWN;
	c->sent = 0;
	c->pipe = 0;
	fail_queue(c, first);
	prep_forget(c);
	if (c->wake_due) { /* a COMMIT may have got through: a wake too many costs one claim */
		unsigned m = c->wake_due;

		c->wake_due = 0;
		pool_wake(c->pool, m);
	}
	if (c->pool->closing)
		return;
	c->backoff_ms = c->backoff_ms ? c->backoff_ms * 2 : 100;
	if (c->backoff_ms > 2000)
		c->backoff_ms = 2000;
	uv_timer_start(&c->retry, on_retry, (uint64_t)c->backoff_ms, 0);
}

static void on_wake_mode(PGresult *res, const struct ra_err *err, void *data)
{
	(void)res;
	(void)data;
	if (err != NULL) /* the trigger notifies in the transaction then: slower, not wrong */
		log_warn("db.wake_mode_failed", "error", err->msg, NULL);
}

/* After every (re)connect the listener may have missed notifications: say so. */
static void on_listening(PGresult *res, const struct ra_err *err, void *data)
{
	struct db_conn *c = data;

	(void)res;
	if (err == NULL && c->notify_cb)
		c->notify_cb(c->channel, NULL, c->notify_data);
}

static void conn_up(struct db_conn *c)
{
	c->state = C_UP;
	if (c->backoff_ms)
		c->pool->reconnects++;
	c->backoff_ms = 0;
	PQsetnonblocking(c->pg, 1);
	conn_poll_events(c, 0);
	if (c->channel == NULL) {
		if (!PQenterPipelineMode(c->pg)) {
			conn_fail(c, PQerrorMessage(c->pg));
			return;
		}
		c->pipe = 1;
		/* Before anything else on this session: jobs it queues NOTIFY after the commit,
		 * not in the transaction (migration 0016, db_wake_set). */
		struct db_q *w = q_new(sql_session, 0, NULL, on_wake_mode, c);
		w->next = c->head;
		c->head = w;
		if (c->tail == NULL)
			c->tail = w;
	}
	if (c->channel) {
		char *id = PQescapeIdentifier(c->pg, c->channel, strlen(c->channel));
		/* Built from an escaped identifier: no value ever reaches this statement. */
		snprintf(c->listen_sql, sizeof(c->listen_sql), "LISTEN %s", id ? id : "\"\"");
		PQfreemem(id);
		c->head = c->tail = q_new(c->listen_sql, 0, NULL, on_listening, c);
		conn_kick(c);
		return;
	}
	if (!c->leased)
		tick_soon(c->pool);
	else
		conn_kick(c);
}

static void connect_step(struct db_conn *c)
{
	switch (PQconnectPoll(c->pg)) {
	case PGRES_POLLING_READING:
		if (watch_socket(c) == 0)
			uv_poll_start(c->poll, UV_READABLE, on_poll);
		return;
	case PGRES_POLLING_WRITING:
		if (watch_socket(c) == 0)
			uv_poll_start(c->poll, UV_WRITABLE, on_poll);
		return;
	case PGRES_POLLING_OK:
		watch_socket(c);
		conn_up(c);
		return;
	default:
		conn_fail(c, PQerrorMessage(c->pg));
		return;
	}
}

/* Starts libpq's non-blocking connect; hostaddr (a numeric address) when we resolved the
 * host name ourselves, so libpq has nothing left to look up. */
static void conn_start(struct db_conn *c, const char *hostaddr)
{
	struct db_pool *p = c->pool;

	if (hostaddr != NULL) {
		const char *keys[64], *vals[64];
		int n = 0;

		for (PQconninfoOption *o = p->opts; o->keyword && n < 62; o++) {
			if (o->val == NULL || strcmp(o->keyword, "hostaddr") == 0)
				continue;
			keys[n] = o->keyword;
			vals[n++] = o->val;
		}
		keys[n] = "hostaddr"; /* host stays set: TLS checks the certificate against it */
		vals[n++] = hostaddr;
		keys[n] = vals[n] = NULL;
		c->pg = PQconnectStartParams(keys, vals, 0);
	} else {
		c->pg = PQconnectStart(p->conninfo);
	}
	if (c->pg == NULL || PQstatus(c->pg) == CONNECTION_BAD) {
		conn_fail(c, c->pg ? PQerrorMessage(c->pg) : "out of memory");
		return;
	}
	c->state = C_CONNECTING;
	/* libpq: begin as though PQconnectPoll had returned PGRES_POLLING_WRITING. */
	if (watch_socket(c) != 0) {
		conn_fail(c, "no socket");
		return;
	}
	uv_poll_start(c->poll, UV_WRITABLE, on_poll);
}

static void on_resolved(uv_getaddrinfo_t *req, int status, struct addrinfo *res)
{
	struct db_conn *c = req->data;
	struct db_pool *p = c->pool;
	char ip[INET6_ADDRSTRLEN] = "";

	c->resolving = 0;
	if (status == 0 && res != NULL) {
		const void *a = res->ai_family == AF_INET6
					? (const void *)&((struct sockaddr_in6 *)res->ai_addr)->sin6_addr
					: (const void *)&((struct sockaddr_in *)res->ai_addr)->sin_addr;
		inet_ntop(res->ai_family, a, ip, sizeof(ip));
	}
	uv_freeaddrinfo(res);
	if (p->closing) {
		handle_gone(p);
		return;
	}
	p->open_handles--;
	if (status != 0 || ip[0] == '\0') {
		char why[300];
		snprintf(why, sizeof(why), "cannot resolve database host %s: %s", p->resolve_host,
			 status ? uv_strerror(status) : "no address");
		conn_fail(c, why);
		return;
	}
	conn_start(c, ip);
}

/* A connection attempt.  libpq resolves host names with blocking getaddrinfo inside
 * PQconnectStart/PQconnectPoll (only hostaddr avoids it), which would stall the loop for the
 * resolver's timeout; so a named host is resolved here with uv_getaddrinfo (thread pool). */
static void conn_connect(struct db_conn *c)
{
	struct db_pool *p = c->pool;
	struct addrinfo hints;
	int rc;

	if (p->closing)
		return;
	if (p->resolve_host[0] == '\0') {
		conn_start(c, NULL);
		return;
	}
	memset(&hints, 0, sizeof(hints));
	hints.ai_family = AF_UNSPEC;
	hints.ai_socktype = SOCK_STREAM;
	c->gai.data = c;
	c->resolving = 1;
	p->open_handles++;
	rc = uv_getaddrinfo(p->loop, &c->gai, on_resolved, p->resolve_host, NULL, &hints);
	if (rc != 0) {
		c->resolving = 0;
		p->open_handles--;
		conn_fail(c, uv_strerror(rc));
	}
}

static void on_poll(uv_poll_t *h, int status, int events)
{
	struct db_conn *c = h->data;

	if (c->state == C_CONNECTING) {
		connect_step(c);
		return;
	}
	if (c->state != C_UP)
		return;
	if (status < 0) {
		conn_fail(c, uv_strerror(status));
		return;
	}
	if (events & UV_WRITABLE) {
		int rc = PQflush(c->pg);
		if (rc < 0) {
			conn_fail(c, PQerrorMessage(c->pg));
			return;
		}
		conn_poll_events(c, rc == 1);
	}
	if (events & UV_READABLE)
		conn_read(c);
}

/* ---- the pool ----------------------------------------------------------------------- */

static void conn_init(struct db_pool *p, struct db_conn *c)
{
	memset(c, 0, sizeof(*c));
	c->pool = p;
	c->fd = -1;
	uv_timer_init(p->loop, &c->retry);
	c->retry.data = c;
	p->open_handles++;
}

/* The host libpq would look up itself: one name, no hostaddr, not a socket directory or a
 * numeric address.  Several hosts (failover lists) are left to libpq: give them hostaddr. */
static void find_host_to_resolve(struct db_pool *p)
{
	const char *host = NULL, *hostaddr = NULL;
	unsigned char buf[sizeof(struct in6_addr)];

	p->resolve_host[0] = '\0';
	for (PQconninfoOption *o = p->opts; o && o->keyword; o++) {
		if (strcmp(o->keyword, "host") == 0)
			host = o->val;
		else if (strcmp(o->keyword, "hostaddr") == 0)
			hostaddr = o->val;
	}
	if (host == NULL || *host == '\0' || (hostaddr && *hostaddr) || host[0] == '/' || host[0] == '@' ||
	    strchr(host, ',') != NULL || inet_pton(AF_INET, host, buf) == 1 ||
	    inet_pton(AF_INET6, host, buf) == 1 || strlen(host) >= sizeof(p->resolve_host))
		return;
	snprintf(p->resolve_host, sizeof(p->resolve_host), "%s", host);
}

struct db_pool *db_pool_new(uv_loop_t *loop, const char *conninfo, int size, int acquire_timeout_ms)
{
	struct db_pool *p = calloc(1, sizeof(*p));

	if (p == NULL)
		return NULL;
	p->loop = loop;
	p->conninfo = strdup(conninfo);
	p->size = size > 0 ? size : 1;
	p->acquire_timeout_ms = acquire_timeout_ms > 0 ? acquire_timeout_ms : 2000;
	p->conns = calloc((size_t)p->size, sizeof(struct db_conn));
	if (p->conninfo == NULL || p->conns == NULL)
		abort();
	p->opts = PQconninfoParse(conninfo, NULL);
	find_host_to_resolve(p);
	uv_timer_init(loop, &p->tick);
	p->tick.data = p;
	p->open_handles++;
	for (int i = 0; i < p->size; i++) {
		conn_init(p, &p->conns[i]);
		conn_connect(&p->conns[i]);
	}
	return p;
}

int db_pool_up(const struct db_pool *p)
{
	for (int i = 0; i < p->size; i++)
		if (p->conns[i].state == C_UP)
			return 1;
	return 0;
}

void db_pool_stats(const struct db_pool *p, struct db_stats *s)
{
	memset(s, 0, sizeof(*s));
	s->size = p->size;
	for (int i = 0; i < p->size; i++) {
		s->connected += p->conns[i].state == C_UP;
		s->leased += p->conns[i].leased;
	}
	s->waiting = p->nwaiting;
	s->queries = p->queries;
	s->errors = p->errors;
	s->reconnects = p->reconnects;
}

static struct db_conn *idle_conn(struct db_pool *p)
{
	for (int i = 0; i < p->size; i++)
		if (p->conns[i].state == C_UP && !p->conns[i].leased)
			return &p->conns[i];
	return NULL;
}

static void pool_dispatch_waiters(struct db_pool *p)
{
	struct db_conn *c;

	while (p->wait_head && (c = idle_conn(p)) != NULL) {
		struct waiter *w = p->wait_head;
		p->wait_head = w->next;
		if (p->wait_head == NULL)
			p->wait_tail = NULL;
		p->nwaiting--;
		c->leased = 1;
		c->in_cb = 1;
		w->cb(c, NULL, w->data);
		c->in_cb = 0;
		free(w);
		conn_kick(c); /* what the callback queued, as one segment */
	}
}

void db_acquire(struct db_pool *p, db_acquire_cb cb, void *data)
{
	struct waiter *w;

	if (p->closing || !db_pool_up(p)) {
		defer_fail(p, NULL, cb, data, RA_E_UNAVAILABLE, "database unavailable");
		return;
	}
	w = calloc(1, sizeof(*w));
	if (w == NULL)
		abort();
	w->cb = cb;
	w->data = data;
	w->since = uv_now(p->loop);
	if (p->wait_tail)
		p->wait_tail->next = w;
	else
		p->wait_head = w;
	p->wait_tail = w;
	p->nwaiting++;
	tick_soon(p); /* hands out an idle connection from the loop, never re-entrantly */
}

void db_conn_query(struct db_conn *c, const char *sql, int n, const char *const *params, db_result_cb cb,
		   void *data)
{
	struct db_q *q;

	if (c->state != C_UP) {
		defer_fail(c->pool, cb, NULL, data, RA_E_UNAVAILABLE, "database connection lost");
		return;
	}
	q = q_new(sql, n, params, cb, data);
	if (c->tail)
		c->tail->next = q;
	else
		c->head = q;
	c->tail = q;
	conn_kick(c);
}

static void on_rollback(PGresult *res, const struct ra_err *err, void *data)
{
	struct db_conn *c = data;

	(void)res;
	(void)err;
	c->leased = 0;
	tick_soon(c->pool);
}

static void discard(PGresult *res, const struct ra_err *err, void *data)
{
	(void)res;
	(void)err;
	(void)data;
}

void db_release(struct db_conn *c)
{
	if (c->wake_due) {
		/* A job queued with no COMMIT of ours: autocommit, or rolled back (a wake for
		 * nothing costs one claim). */
		unsigned m = c->wake_due;

		c->wake_due = 0;
		pool_wake(c->pool, m);
	}
	if (c->head != NULL) {
		/* Statements still queued or on the wire (a pipelined COMMIT after a failed
		 * statement): their results are no longer anyone's, and whatever transaction they
		 * leave open is rolled back after them. */
		for (struct db_q *q = c->head; q != NULL; q = q->next)
			if (!q->prep)
				q->cb = discard;
		if (c->state == C_UP) {
			db_conn_query(c, "ROLLBACK", 0, NULL, on_rollback, c);
			return;
		}
	}
	if (c->state == C_UP && c->pg && PQtransactionStatus(c->pg) != PQTRANS_IDLE) {
		/* An abandoned transaction must not leak into the next lease. */
		db_conn_query(c, "ROLLBACK", 0, NULL, on_rollback, c);
		return;
	}
	c->leased = 0;
	if (c->state == C_UP && c->pool->wait_head)
		tick_soon(c->pool);
}

struct oneshot {
	const char *sql;
	int n;
	char **params;
	db_result_cb cb;
	void *data;
	struct db_conn *conn;
};

static void oneshot_free(struct oneshot *o)
{
	params_free(o->n, o->params);
	free(o);
}

static void oneshot_done(PGresult *res, const struct ra_err *err, void *data)
{
	struct oneshot *o = data;

	o->cb(res, err, o->data);
	db_release(o->conn);
	oneshot_free(o);
}

static void oneshot_acquired(struct db_conn *c, const struct ra_err *err, void *data)
{
	struct oneshot *o = data;

	if (err) {
		o->cb(NULL, err, o->data);
		oneshot_free(o);
		return;
	}
	o->conn = c;
	db_conn_query(c, o->sql, o->n, (const char *const *)o->params, oneshot_done, o);
}

void db_query(struct db_pool *p, const char *sql, int n, const char *const *params, db_result_cb cb,
	      void *data)
{
	struct oneshot *o = calloc(1, sizeof(*o));

	if (o == NULL)
		abort();
	o->sql = sql;
	o->n = n;
	o->cb = cb;
	o->data = data;
	o->params = params_copy(n, params);
	db_acquire(p, oneshot_acquired, o);
}

/* ---- the after-commit wake-up ---------------------------------------------------------- */

static const char *sql_wake_notify = "NOTIFY " DB_WAKE_CHANNEL;

static struct db_conn *wake_listener(struct db_pool *p)
{
	for (struct db_conn *l = p->listeners; l; l = l->next_listener)
		if (l->state == C_UP && strcmp(l->channel, DB_WAKE_CHANNEL) == 0)
			return l;
	return NULL;
}

static void wake_send(struct db_pool *p);

static void on_wake_sent(PGresult *res, const struct ra_err *err, void *data)
{
	struct db_pool *p = data;

	(void)res;
	if (err != NULL) /* the other processes' poll finds the jobs */
		log_debug("db.wake_failed", "error", err->msg, NULL);
	p->wake_busy = 0;
	if (p->wake_again && !p->closing)
		wake_send(p);
}

/* One NOTIFY in flight; commits meanwhile ask for one more after it. */
static void wake_send(struct db_pool *p)
{
	struct db_conn *l = wake_listener(p);

	p->wake_again = 0;
	p->wake_busy = 1;
	if (l != NULL) /* the listening session: idle, and its own echo is dropped (conn_read) */
		db_conn_query(l, sql_wake_notify, 0, NULL, on_wake_sent, p);
	else
		db_query(p, sql_wake_notify, 0, NULL, on_wake_sent, p);
}

static void pool_wake(struct db_pool *p, unsigned mask)
{
	if (p->closing)
		return;
	if (p->wake_cb)
		p->wake_cb(p->wake_data, mask);
	if (p->wake_busy)
		p->wake_again = 1;
	else
		wake_send(p);
}

void db_wake_set(struct db_pool *p, void (*cb)(void *, unsigned), unsigned (*mask_of)(const char *, void *),
		 void *data)
{
	p->wake_cb = cb;
	p->wake_mask_of = mask_of;
	p->wake_data = data;
}

void db_conn_wake_due(struct db_conn *c, const char *kind)
{
	struct db_pool *p = c->pool;
	unsigned m = p->wake_mask_of && kind ? p->wake_mask_of(kind, p->wake_data) : ~0u;

	c->wake_due |= m ? m : ~0u;
}

int db_listen(struct db_pool *p, const char *channel, db_notify_cb cb, void *data)
{
	struct db_conn *c = calloc(1, sizeof(*c));

	if (c == NULL)
		return RA_E_NOMEM;
	conn_init(p, c);
	c->channel = strdup(channel);
	c->notify_cb = cb;
	c->notify_data = data;
	c->next_listener = p->listeners;
	p->listeners = c;
	conn_connect(c);
	return 0;
}

static void on_timer_closed(uv_handle_t *h)
{
	struct db_conn *c = h->data;

	handle_gone(c->pool);
}

static void on_tick_closed(uv_handle_t *h)
{
	handle_gone(h->data);
}

static void conn_close(struct db_conn *c)
{
	drop_poll(c);
	if (c->pg) {
		PQfinish(c->pg);
		c->pg = NULL;
	}
	c->state = C_CLOSED; /* before the callbacks: a release from one must not queue a ROLLBACK */
	fail_queue(c, "pool closing");
	prep_forget(c);
	uv_timer_stop(&c->retry);
	uv_close((uv_handle_t *)&c->retry, on_timer_closed);
}

void db_pool_close(struct db_pool *p, void (*done)(void *), void *data)
{
	p->closing = 1;
	p->closed_cb = done;
	p->closed_data = data;
	on_tick(&p->tick);
	/* Nobody may wait for ever: every waiter still queued hears that the pool is gone. */
	while (p->wait_head) {
		struct waiter *w = p->wait_head;
		struct ra_err e;
		p->wait_head = w->next;
		p->nwaiting--;
		ra_err_set(&e, RA_E_UNAVAILABLE, "", "database pool closing");
		w->cb(NULL, &e, w->data);
		free(w);
	}
	p->wait_tail = NULL;
	for (int i = 0; i < p->size; i++)
		if (p->conns[i].resolving)
			uv_cancel((uv_req_t *)&p->conns[i].gai);
	for (struct db_conn *l = p->listeners; l; l = l->next_listener)
		if (l->resolving)
			uv_cancel((uv_req_t *)&l->gai);
	for (int i = 0; i < p->size; i++)
		conn_close(&p->conns[i]);
	for (struct db_conn *l = p->listeners; l; l = l->next_listener)
		conn_close(l);
	uv_timer_stop(&p->tick);
	uv_close((uv_handle_t *)&p->tick, on_tick_closed);
}

void db_pool_free(struct db_pool *p)
{
	struct db_conn *l, *next;

	if (p == NULL)
		return;
	while (p->wait_head) {
		struct waiter *w = p->wait_head;
		p->wait_head = w->next;
		free(w);
	}
	for (l = p->listeners; l; l = next) {
		next = l->next_listener;
		free(l->channel);
		free(l);
	}
	for (int i = 0; i < p->size; i++)
		free(p->conns[i].prep);
	PQconninfoFree(p->opts);
	free(p->conns);
	free(p->conninfo);
	free(p);
}
