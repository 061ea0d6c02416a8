/*
 * jobs.c - the durable job runner inside `ra serve`; the contract is in jobs.h, the table
 * and its rules in docs/jobs.md.
 *
 * One runner per process, on the loop thread.  It claims due jobs in one statement
 * (FOR UPDATE SKIP LOCKED, so several processes share the table), marks them running under
 * a lease owned by this process's random instance id, and starts each job's handler from
 * the loop.  Claims happen when a transaction of this process that queued a job commits
 * (db_wake_set), when a NOTIFY on 'ra_jobs' arrives, when a slot frees after a
 * full batch, when a retry becomes due here, and on a poll timer (jobs of other processes'
 * retries, missed notifications; the poll first queues again the jobs whose lease expired).
 * A renewal timer extends the leases of running jobs, so a job may take longer than
 * jobs.lease_ms as long as its process lives.
 *
 * A run's end (job_done / job_fail) is an UPDATE fenced by (locked_by, attempts): a process
 * whose lease expired and was claimed again elsewhere cannot overwrite the newer run.
 */
#include "ra/db/db.h"
#include "ra/jobs/jobs.h"

#include <openssl/rand.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "ra/base/log.h"
#include "ra/base/metrics.h"

#define FINISH_TRIES 10 /* a completion UPDATE that cannot reach the database */
#define FINISH_RETRY_MS 1000 /* is retried this often; after that the lease decides */
#define WAKE_SLACK_MS 5

#define NLANES 4
#define LANE_DEFAULT 3
#define LANE_KINDS_MAX 1024

struct kind {
	struct kind *next;
	char *name;
	job_handler fn;
	void *data;
	int max_attempts;
	int lane;
};

/* jobs_lane: which lane a kind runs in (registration consults it). */
struct lane_of {
	struct lane_of *next;
	char *kind;
	int lane;
};

/* A lane: its own slots and its own claim (kind = ANY(kinds), or for the default lane every
 * kind not in another lane), so a lane's jobs never wait for slots held by another lane. */
struct lane {
	struct jobs *jobs;
	const char *name, *key;
	int workers, inflight;
	int claiming, again;
	double claims, claims_empty; /* claim statements sent, and those that found nothing */
	char kinds[LANE_KINDS_MAX]; /* text[] literal of the kinds registered in it */
};

/* One claimed job, from the claim to the close callback of its timer. */
struct run {
	struct job job; /* job.priv points back here */
	struct jobs *jobs;
	struct run *prev, *next;
	const struct kind *k;
	struct lane *lane;
	char *kind, *key;
	char id_s[24], attempt_s[16];
	int limit;
	int finishing; /* job_done or job_fail was called */
	const char *end_sql; /* the fenced completion UPDATE and its parameters */
	char *end_p[6];
	int end_n;
	int tries;
	long long retry_ms; /* >= 0: the job was queued again, due in this many ms */
	uv_timer_t timer; /* starts the handler, then paces completion retries */
};

struct jobs {
	struct app *app;
	struct kind *kinds;
	struct lane_of *lane_of;
	char instance[96]; /* locked_by: host/pid/random */
	int workers;
	long long lease_ms, poll_ms, backoff_ms, backoff_max_ms, busy_retry_ms;
	int inflight; /* all lanes */
	struct lane lanes[NLANES];
	char other_kinds
		[LANE_KINDS_MAX]; /* every kind of the non-default lanes: the default lane's exclusion */
	struct run *runs;
	int renewing, stats_busy, requeueing;
	int stopping;
	void (*stop_done)(void *);
	void *stop_data;
	uv_timer_t poll, renew, wake, stopped;
	double n_queued, n_running, n_dead, oldest_ready_s;
};

static void claim(struct jobs *j);
static void claim_lane(struct lane *l);
static void on_wake(uv_timer_t *t);
static void wake_for_retry(struct jobs *j, long long delay);
static void requeue_expired(struct jobs *j);

/* ---- SQL ---------------------------------------------------------------------------- */

/* The claim: jobs_claim() (migration 0022, docs/jobs.md "Claim, lease, renewal"): up to $1 due
 * jobs of the lane's kinds $4 (the default lane, $5: of every queued kind not in $4, the other
 * lanes' kinds, so a kind no process registered still reaches a runner and is parked), a few
 * index pages per kind however many jobs wait. */
static const char *sql_claim = DB_PLAN_ONCE
	"SELECT id, kind, payload, attempts, max_attempts, idempotency_key"
	" FROM jobs_claim($1::int, $2, $3::bigint, $4::text[], $5::boolean)";

/* A running job whose lease expired (its process crashed or lost the database) is queued
 * again, on the poll timer: the claim takes it like any queued job, the next attempt.  The
 * fence of the lost run (locked_by, attempts, state = 'running') no longer matches. */
static const char *sql_requeue = DB_PLAN_ONCE
	"UPDATE jobs SET state = 'queued', lease_until = NULL, updated_at = now(),"
	" last_error = 'lease expired (held by ' || coalesce(locked_by, '?') || ')'"
	" WHERE state = 'running' AND lease_until < now()";

static const char *sql_done = DB_PLAN_ONCE
	"UPDATE jobs SET state = 'done', result = $4::jsonb, lease_until = NULL,"
	" done_at = now(), updated_at = now()"
	" WHERE id = $1::bigint AND locked_by = $2 AND attempts = $3::int AND state = 'running'";

static const char *sql_fail = DB_PLAN_ONCE
	"UPDATE jobs SET state = $4::text, last_error = $5, lease_until = NULL,"
	" run_at = now() + $6::bigint * interval '1 millisecond', updated_at = now(),"
	" done_at = CASE WHEN $4::text = 'dead' THEN now() END"
	" WHERE id = $1::bigint AND locked_by = $2 AND attempts = $3::int AND state = 'running'";

/* A call the peer refused (RA_E_BUSY): queued again, the attempt given back. */
static const char *sql_defer = DB_PLAN_ONCE
	"UPDATE jobs SET state = 'queued', attempts = attempts - 1, last_error = $4, lease_until = NULL,"
	" run_at = now() + $5::bigint * interval '1 millisecond', updated_at = now()"
	" WHERE id = $1::bigint AND locked_by = $2 AND attempts = $3::int AND state = 'running'";

static const char *sql_renew = DB_PLAN_ONCE
	"UPDATE jobs SET lease_until = now() + $3::bigint * interval '1 millisecond'"
	" WHERE id = ANY($1::bigint[]) AND locked_by = $2 AND state = 'running'";

static const char *sql_stats =
	"SELECT count(*) FILTER (WHERE state = 'queued'), count(*) FILTER (WHERE state = 'running'),"
	" count(*) FILTER (WHERE state = 'dead'),"
	" coalesce(extract(epoch FROM now() - min(run_at) FILTER (WHERE state = 'queued' AND run_at <= now())), 0)"
	" FROM jobs WHERE state <> 'done'";

/* ---- kinds -------------------------------------------------------------------------- */

/* Appends name to a text[] literal "{a,b}" (kind names are plain identifiers). */
static void kinds_add(char *list, const char *name)
{
	size_t n = strlen(list);

	if (n + strlen(name) + 3 > LANE_KINDS_MAX)
		abort();
	if (n == 0)
		snprintf(list, LANE_KINDS_MAX, "{%s}", name);
	else
		snprintf(list + n - 1, LANE_KINDS_MAX - n + 1, ",%s}", name);
}

static int lane_index(const struct jobs *j, const char *lane)
{
	for (int i = 0; i < NLANES; i++)
		if (strcmp(j->lanes[i].name, lane) == 0)
			return i;
	abort(); /* a module names a lane that does not exist */
}

void jobs_lane(struct jobs *j, const char *kind, const char *lane)
{
	struct lane_of *lo = calloc(1, sizeof(*lo));

	if (lo == NULL || (lo->kind = strdup(kind)) == NULL)
		abort();
	lo->lane = lane_index(j, lane);
	lo->next = j->lane_of;
	j->lane_of = lo;
}

void jobs_register(struct jobs *j, const char *name, job_handler fn, void *data, int max_attempts)
{
	struct kind *k = calloc(1, sizeof(*k));
	int li = LANE_DEFAULT;

	if (k == NULL || (k->name = strdup(name)) == NULL)
		abort();
	for (const struct lane_of *lo = j->lane_of; lo; lo = lo->next)
		if (strcmp(lo->kind, name) == 0)
			li = lo->lane;
	k->fn = fn;
	k->data = data;
	k->max_attempts = max_attempts > 0 ? max_attempts : 1;
	k->lane = li;
	k->next = j->kinds;
	j->kinds = k;
	if (li != LANE_DEFAULT) {
		kinds_add(j->lanes[li].kinds, name);
		kinds_add(j->other_kinds, name);
	}
}

void jobs_register_kinds(struct jobs *j, const struct config *cfg, const struct job_kind *kinds)
{
	for (const struct job_kind *k = kinds; k != NULL && k->kind != NULL; k++)
		if (k->enabled_by == NULL || cfg_bool(cfg, k->enabled_by))
			jobs_register(j, k->kind, k->fn, NULL, k->max_attempts);
}

static const struct kind *find_kind(const struct jobs *j, const char *name)
{
	for (const struct kind *k = j->kinds; k; k = k->next)
		if (strcmp(k->name, name) == 0)
			return k;
	return NULL;
}

/* ---- ending a run ------------------------------------------------------------------- */

static void run_closed(uv_handle_t *h)
{
	struct run *r = h->data;

	for (int i = 0; i < r->end_n; i++)
		free(r->end_p[i]);
	json_decref(r->job.payload);
	free(r->kind);
	free(r->key);
	free(r);
}

static void stopped_cb(uv_timer_t *t)
{
	struct jobs *j = t->data;

	uv_timer_stop(&j->renew);
	log_info("jobs.stopped", NULL);
	if (j->stop_done)
		j->stop_done(j->stop_data);
}

static void run_free(struct run *r)
{
	struct jobs *j = r->jobs;

	if (r->prev)
		r->prev->next = r->next;
	else
		j->runs = r->next;
	if (r->next)
		r->next->prev = r->prev;
	j->inflight--;
	r->lane->inflight--;
	uv_close((uv_handle_t *)&r->timer, run_closed);
	if (j->stopping && j->inflight == 0)
		uv_timer_start(&j->stopped, stopped_cb, 0, 0);
	else if (r->lane->again)
		claim_lane(r->lane); /* work was left behind for lack of a slot */
}

static void finish_send(struct run *r);

static void finish_retry(uv_timer_t *t)
{
	finish_send(t->data);
}

static void on_finished(PGresult *res, const struct ra_err *err, void *data)
{
	struct run *r = data;

	if (err != NULL && err->code == RA_E_UNAVAILABLE && ++r->tries < FINISH_TRIES) {
		uv_timer_start(&r->timer, finish_retry, FINISH_RETRY_MS, 0);
		return;
	}
	if (err != NULL)
		log_error("job.finish_failed", "job", r->id_s, "kind", r->kind, "error", err->msg, NULL);
	else if (strcmp(PQcmdTuples(res), "1") != 0)
		/* Another run holds the job now (our lease expired): its outcome counts, not ours. */
		log_warn("job.lease_lost", "job", r->id_s, "kind", r->kind, "attempt", r->attempt_s, NULL);
	else if (r->retry_ms >= 0)
		wake_for_retry(r->jobs, r->retry_ms);
	run_free(r);
}

static void finish_send(struct run *r)
{
	db_query(r->jobs->app->db, r->end_sql, r->end_n, (const char *const *)r->end_p, on_finished, r);
}

/* Takes ownership of the strings in p (NULL allowed). */
static void finish(struct run *r, const char *sql, int n, char **p)
{
	r->end_sql = sql;
	r->end_n = n;
	r->end_p[0] = strdup(r->id_s);
	r->end_p[1] = strdup(r->jobs->instance);
	r->end_p[2] = strdup(r->attempt_s);
	for (int i = 3; i < n; i++)
		r->end_p[i] = p[i - 3];
	finish_send(r);
}

static void count_outcome(const struct run *r, const char *outcome)
{
	char labels[160];

	/* Only registered kinds become labels: the set of series stays bounded. */
	snprintf(labels, sizeof(labels), "kind=\"%s\",outcome=\"%s\"", r->k ? r->k->name : "unknown",
		 outcome);
	metrics_count("ra_jobs_finished_total", labels, 1);
}

static struct run *run_of(struct job *job, const char *what)
{
	struct run *r = job->priv;

	if (r->finishing) {
		/* A handler bug; ignoring the second end keeps the job's state honest. */
		log_error("job.ended_twice", "job", r->id_s, "kind", r->kind, "call", what, NULL);
		return NULL;
	}
	r->finishing = 1;
	return r;
}

void job_done(struct job *job, json_t *result)
{
	struct run *r = run_of(job, "job_done");
	char *p[1];

	if (r == NULL) {
		json_decref(result);
		return;
	}
	p[0] = result ? json_dumps(result, JSON_COMPACT | JSON_ENCODE_ANY) : NULL;
	json_decref(result);
	log_info("job.done", "job", r->id_s, "kind", r->kind, "attempt", r->attempt_s, NULL);
	count_outcome(r, "done");
	finish(r, sql_done, 4, p);
}

int job_done_in(struct job *job, struct outbox *ob, json_t *result)
{
	struct run *r = job->priv;
	char *text = result ? json_dumps(result, JSON_COMPACT | JSON_ENCODE_ANY) : NULL;
	int i;

	json_decref(result);
	i = ob_stmt(ob, sql_done, 4, (const char *const[]){r->id_s, r->jobs->instance, r->attempt_s, text},
		    0);
	free(text);
	return i;
}

void job_done_committed(struct job *job, int done_rows)
{
	struct run *r = run_of(job, "job_done_committed");

	if (r == NULL)
		return;
	if (done_rows != 1) {
		/* Another run holds the job now (our lease expired): its outcome counts, not ours. */
		log_warn("job.lease_lost", "job", r->id_s, "kind", r->kind, "attempt", r->attempt_s, NULL);
	} else {
		log_info("job.done", "job", r->id_s, "kind", r->kind, "attempt", r->attempt_s, NULL);
		count_outcome(r, "done");
	}
	run_free(r);
}

/* Exponential backoff with "equal jitter": half the step fixed, half random, so retries of
 * many jobs that failed together (a peer was down) spread out instead of returning at once. */
static long long backoff_ms(const struct jobs *j, int attempt)
{
	long long d = j->backoff_ms;
	unsigned int rnd = 0;

	for (int i = 1; i < attempt && d < j->backoff_max_ms; i++)
		d *= 2;
	if (d > j->backoff_max_ms)
		d = j->backoff_max_ms;
	if (RAND_bytes((unsigned char *)&rnd, sizeof(rnd)) != 1)
		rnd = (unsigned int)rand();
	return d / 2 + (d > 1 ? (long long)(rnd % (unsigned long long)(d / 2 + 1)) : 0);
}

static void fail_run(struct run *r, const char *msg, int retryable)
{
	int dead = !retryable || r->job.attempt >= r->limit;
	long long delay = dead ? 0 : backoff_ms(r->jobs, r->job.attempt);
	char *p[3];

	if (asprintf(&p[2], "%lld", delay) < 0)
		abort();
	p[0] = strdup(dead ? "dead" : "queued");
	p[1] = strdup(msg);
	if (dead)
		log_error("job.dead", "job", r->id_s, "kind", r->kind, "attempt", r->attempt_s, "error", msg,
			  NULL);
	else
		log_warn("job.retry", "job", r->id_s, "kind", r->kind, "attempt", r->attempt_s, "in_ms", p[2],
			 "error", msg, NULL);
	count_outcome(r, dead ? "dead" : "retry");
	r->retry_ms = dead ? -1 : delay;
	finish(r, sql_fail, 6, p);
}

/* Wakes this runner when a retry it scheduled is due: the poll may be much slower than the
 * backoff.  Started once the UPDATE is through, whose now() is then in the past. */
static void wake_for_retry(struct jobs *j, long long delay)
{
	uint64_t at = (uint64_t)delay + WAKE_SLACK_MS;

	if (j->stopping)
		return;
	if (!uv_is_active((uv_handle_t *)&j->wake) || uv_timer_get_due_in(&j->wake) > at)
		uv_timer_start(&j->wake, on_wake, at, 0);
}

/* The peer refused the call (bound full, breaker open): nothing was tried, so the attempt is
 * given back and the job waits jobs.busy_retry_ms; its slot is free for other work meanwhile. */
static void defer_run(struct run *r, const char *msg)
{
	char *p[2];

	if (asprintf(&p[1], "%lld", r->jobs->busy_retry_ms) < 0)
		abort();
	p[0] = strdup(msg);
	log_info("job.deferred", "job", r->id_s, "kind", r->kind, "in_ms", p[1], "error", msg, NULL);
	count_outcome(r, "deferred");
	r->retry_ms = r->jobs->busy_retry_ms;
	finish(r, sql_defer, 5, p);
}

void job_fail(struct job *job, const struct ra_err *err, int retryable)
{
	struct run *r = run_of(job, "job_fail");
	char msg[400];

	if (r == NULL)
		return;
	if (err == NULL)
		snprintf(msg, sizeof(msg), "failed (no error given)");
	else
		snprintf(msg, sizeof(msg), "%s%s%s%s", ra_errname(err->code), err->field[0] ? " " : "",
			 err->field, err->msg[0] ? ": " : "");
	if (err != NULL && err->msg[0])
		snprintf(msg + strlen(msg), sizeof(msg) - strlen(msg), "%s", err->msg);
	if (err != NULL && err->code == RA_E_BUSY)
		defer_run(r, msg);
	else
		fail_run(r, msg, retryable);
}

/* ---- starting runs ------------------------------------------------------------------ */

static void run_start(uv_timer_t *t)
{
	struct run *r = t->data;
	char msg[200];

	if (r->k == NULL) {
		/* Parked at once: retrying cannot help until someone deploys a handler. */
		snprintf(msg, sizeof(msg), "no handler registered for job kind '%s'", r->kind);
		fail_run(r, msg, 0);
		return;
	}
	if (r->job.payload == NULL) {
		fail_run(r, "payload is not valid JSON", 0);
		return;
	}
	if (r->job.attempt > r->limit) {
		/* The final attempt's process died holding the lease.  A job that keeps killing
		 * its process must stop here instead of taking every process down in turn. */
		snprintf(msg, sizeof(msg), "attempt limit %d reached: the last run lost its lease", r->limit);
		fail_run(r, msg, 0);
		return;
	}
	log_debug("job.start", "job", r->id_s, "kind", r->kind, "attempt", r->attempt_s, NULL);
	r->k->fn(&r->job);
}

static void run_new(struct lane *l, const PGresult *res, int row)
{
	struct jobs *j = l->jobs;
	struct run *r = calloc(1, sizeof(*r));
	const char *max = db_val(res, row, 4);
	const char *key = db_val(res, row, 5);

	if (r == NULL)
		abort();
	r->jobs = j;
	r->lane = l;
	r->retry_ms = -1;
	snprintf(r->id_s, sizeof(r->id_s), "%s", PQgetvalue(res, row, 0));
	snprintf(r->attempt_s, sizeof(r->attempt_s), "%s", PQgetvalue(res, row, 3));
	r->kind = strdup(PQgetvalue(res, row, 1));
	r->key = key ? strdup(key) : NULL;
	r->k = find_kind(j, r->kind);
	r->limit = max ? atoi(max) : r->k ? r->k->max_attempts : 1;
	r->job.id = strtoll(r->id_s, NULL, 10);
	r->job.kind = r->kind;
	r->job.payload = json_loads(PQgetvalue(res, row, 2), JSON_DECODE_ANY, NULL);
	r->job.attempt = atoi(r->attempt_s);
	r->job.max_attempts = r->limit;
	r->job.idempotency_key = r->key;
	r->job.app = j->app;
	r->job.handler_data = r->k ? r->k->data : NULL;
	r->job.priv = r;
	r->next = j->runs;
	if (j->runs)
		j->runs->prev = r;
	j->runs = r;
	j->inflight++;
	l->inflight++;
	uv_timer_init(j->app->loop, &r->timer);
	r->timer.data = r;
	/* From the loop, not from inside this database callback. */
	uv_timer_start(&r->timer, run_start, 0, 0);
}

/* ---- claiming ----------------------------------------------------------------------- */

static void on_claimed(PGresult *res, const struct ra_err *err, void *data)
{
	struct lane *l = data;
	int n = 0, asked = l->claiming;

	l->claiming = 0;
	if (err != NULL) {
		/* The poll timer tries again; no need to hammer a database that is away. */
		log_debug("jobs.claim_failed", "error", err->msg, NULL);
		return;
	}
	n = PQntuples(res);
	if (n == 0)
		l->claims_empty++;
	for (int i = 0; i < n; i++)
		run_new(l, res, i);
	/* A full batch may mean more is due; a notification during the claim certainly may. */
	if (n == asked || l->again)
		claim_lane(l);
}

static void claim_lane(struct lane *l)
{
	struct jobs *j = l->jobs;
	int dflt = l == &j->lanes[LANE_DEFAULT];
	char limit[16], lease[24];
	const char *kinds = dflt ? j->other_kinds : l->kinds;
	const char *p[5] = {limit, j->instance, lease, kinds[0] ? kinds : "{}", dflt ? "true" : "false"};
	int free_slots = l->workers - l->inflight;

	if (j->stopping || j->app->draining || l->workers == 0 || (!dflt && l->kinds[0] == '\0'))
		return;
	if (l->claiming || free_slots <= 0) {
		l->again = 1; /* once the claim returns or a slot frees */
		return;
	}
	l->again = 0;
	l->claiming = free_slots;
	snprintf(limit, sizeof(limit), "%d", free_slots);
	snprintf(lease, sizeof(lease), "%lld", j->lease_ms);
	l->claims++;
	db_query(j->app->db, sql_claim, 5, p, on_claimed, l);
}

static void claim(struct jobs *j)
{
	for (int i = 0; i < NLANES; i++)
		claim_lane(&j->lanes[i]);
}

static void on_wake(uv_timer_t *t)
{
	claim(t->data);
}

static void on_notify(const char *channel, const char *payload, void *data)
{
	struct jobs *j = data;

	(void)channel;
	if (payload == NULL) {
		/* (re)connected: a restart after a crash finds its old runs' leases expired */
		log_info("jobs.listening", "instance", j->instance, NULL);
		requeue_expired(j);
	}
	claim(j);
}

/* A transaction of this process that queued jobs committed (db_wake_set): the lanes of their
 * kinds claim, the others have nothing new (a claim that finds nothing is a statement on the
 * cores the commits need: every issued certificate and every order queues a job). */
static void on_committed_job(void *data, unsigned mask)
{
	struct jobs *j = data;

	for (int i = 0; i < NLANES; i++)
		if (mask & (1u << i))
			claim_lane(&j->lanes[i]);
}

/* The lane a kind runs in here, as a bit; a kind no module of this process registered is the
 * default lane's (it takes every kind not in another lane). */
static unsigned lane_mask_of(const char *kind, void *data)
{
	const struct kind *k = find_kind(data, kind);

	return 1u << (k != NULL ? k->lane : LANE_DEFAULT);
}

/* ---- lease renewal and gauges ------------------------------------------------------- */

static void on_renewed(PGresult *res, const struct ra_err *err, void *data)
{
	struct jobs *j = data;

	(void)res;
	j->renewing = 0;
	if (err != NULL)
		log_warn("jobs.renew_failed", "error", err->msg, NULL);
}

static void on_renew(uv_timer_t *t)
{
	struct jobs *j = t->data;
	char lease[24], *ids, *o;
	const char *p[3];

	if (j->renewing || j->runs == NULL)
		return;
	ids = malloc((size_t)j->inflight * 24 + 3);
	if (ids == NULL)
		abort();
	o = ids;
	*o++ = '{';
	for (struct run *r = j->runs; r; r = r->next)
		o += sprintf(o, "%s%s", r == j->runs ? "" : ",", r->id_s);
	strcpy(o, "}");
	snprintf(lease, sizeof(lease), "%lld", j->lease_ms);
	p[0] = ids;
	p[1] = j->instance;
	p[2] = lease;
	j->renewing = 1;
	db_query(j->app->db, sql_renew, 3, p, on_renewed, j);
	free(ids); /* parameters are copied */
}

static void on_stats(PGresult *res, const struct ra_err *err, void *data)
{
	struct jobs *j = data;

	j->stats_busy = 0;
	if (err != NULL || PQntuples(res) != 1)
		return;
	j->n_queued = atof(PQgetvalue(res, 0, 0));
	j->n_running = atof(PQgetvalue(res, 0, 1));
	j->n_dead = atof(PQgetvalue(res, 0, 2));
	j->oldest_ready_s = atof(PQgetvalue(res, 0, 3));
}

static void on_requeued(PGresult *res, const struct ra_err *err, void *data)
{
	struct jobs *j = data;
	char n[16];

	j->requeueing = 0;
	if (err != NULL) {
		log_debug("jobs.requeue_failed", "error", err->msg, NULL);
		return;
	}
	snprintf(n, sizeof(n), "%s", PQcmdTuples(res));
	if (strcmp(n, "0") == 0 || n[0] == '\0')
		return;
	log_warn("jobs.lease_expired", "jobs", n, NULL);
	claim(j);
}

static void requeue_expired(struct jobs *j)
{
	if (j->requeueing || j->stopping || j->workers == 0 || !db_pool_up(j->app->db))
		return;
	j->requeueing = 1;
	db_query(j->app->db, sql_requeue, 0, NULL, on_requeued, j);
}

static void on_poll(uv_timer_t *t)
{
	struct jobs *j = t->data;

	requeue_expired(j);
	claim(j);
	if (!j->stats_busy && db_pool_up(j->app->db)) {
		j->stats_busy = 1;
		db_query(j->app->db, sql_stats, 0, NULL, on_stats, j);
	}
}

static double g_queued(void *d)
{
	return ((struct jobs *)d)->n_queued;
}
static double g_running(void *d)
{
	return ((struct jobs *)d)->n_running;
}
static double g_dead(void *d)
{
	return ((struct jobs *)d)->n_dead;
}
static double g_inflight(void *d)
{
	return ((struct jobs *)d)->inflight;
}
static double g_oldest(void *d)
{
	return ((struct jobs *)d)->oldest_ready_s;
}

static double g_lane_inflight(void *d)
{
	return ((struct lane *)d)->inflight;
}
static double g_lane_workers(void *d)
{
	return ((struct lane *)d)->workers;
}

static double g_lane_claims(void *d)
{
	return ((struct lane *)d)->claims;
}
static double g_lane_claims_empty(void *d)
{
	return ((struct lane *)d)->claims_empty;
}

static void gauges(struct jobs *j)
{
	char labels[64];

	for (int i = 0; i < NLANES; i++) {
		snprintf(labels, sizeof(labels), "lane=\"%s\"", j->lanes[i].name);
		metrics_gauge("ra_jobs_lane_inflight", "Jobs this process is running now, by lane.", labels,
			      g_lane_inflight, &j->lanes[i]);
		metrics_gauge("ra_jobs_lane_workers", "Slots of the lane in this process (jobs.*workers).",
			      labels, g_lane_workers, &j->lanes[i]);
		metrics_counter_fn("ra_jobs_claims_total", "Claim statements this process sent, by lane.",
				   labels, g_lane_claims, &j->lanes[i]);
		metrics_counter_fn(
			"ra_jobs_claims_empty_total",
			"Claim statements that found no job due, by lane (each a statement for nothing).",
			labels, g_lane_claims_empty, &j->lanes[i]);
	}
	metrics_gauge("ra_jobs_queued", "Jobs waiting to run (all processes).", "", g_queued, j);
	metrics_gauge("ra_jobs_running", "Jobs under a lease (all processes).", "", g_running, j);
	metrics_gauge("ra_jobs_dead", "Jobs parked dead, waiting for a person (all processes).", "", g_dead,
		      j);
	metrics_gauge("ra_jobs_inflight", "Jobs this process is running now.", "", g_inflight, j);
	metrics_gauge(
		"ra_jobs_oldest_ready_age_seconds",
		"How long the oldest job that is due has waited to be claimed (all processes; 0: none).", "",
		g_oldest, j);
	metrics_help(
		"ra_jobs_finished_total",
		"Job runs finished by kind and outcome (done, retry, dead; deferred: a peer refused the call).");
}

json_t *jobs_lanes_json(const struct jobs *j)
{
	json_t *a = json_array();

	for (int i = 0; j != NULL && i < NLANES; i++)
		json_array_append_new(a, json_pack("{s:s, s:s, s:i, s:i}", "name", j->lanes[i].name, "key",
						   j->lanes[i].key, "workers", j->lanes[i].workers,
						   "inflight", j->lanes[i].inflight));
	return a;
}

/* ---- life --------------------------------------------------------------------------- */

static void make_instance(struct jobs *j)
{
	unsigned char rnd[6];
	char host[48] = "host";

	gethostname(host, sizeof(host) - 1);
	host[sizeof(host) - 1] = '\0';
	if (RAND_bytes(rnd, sizeof(rnd)) != 1)
		abort();
	snprintf(j->instance, sizeof(j->instance), "%s/%d/%02x%02x%02x%02x%02x%02x", host, (int)getpid(),
		 rnd[0], rnd[1], rnd[2], rnd[3], rnd[4], rnd[5]);
}

static int read_lanes(struct jobs *j, const struct config *cfg, struct ra_err *err)
{
	static const char *names[NLANES] = {JOBS_LANE_REVOKE, JOBS_LANE_ISSUE, JOBS_LANE_IDENT, "default"};
	static const char *keys[NLANES] = {"jobs.revoke_workers", "jobs.issue_workers", "jobs.ident_workers",
					   "jobs.workers"};

	for (int i = 0; i < NLANES; i++) {
		struct lane *l = &j->lanes[i];

		l->jobs = j;
		l->name = names[i];
		l->key = keys[i];
		l->workers = (int)cfg_int(cfg, keys[i]);
		if (l->workers < 0 || l->workers > 1000)
			return ra_err_set(err, RA_E_CONFIG, keys[i], "%s must be 0..1000", keys[i]);
		/* the ident lane: no more slots than the provider takes calls; a job claimed beyond
		 * that would only be given back (RA_E_BUSY, deferred) and claimed again */
		if (strcmp(names[i], JOBS_LANE_IDENT) == 0 && l->workers > cfg_int(cfg, "peers.max_inflight"))
			l->workers = (int)cfg_int(cfg, "peers.max_inflight");
		/* jobs.workers = 0: this process runs no jobs at all, in no lane */
		if (j->workers == 0)
			l->workers = 0;
		else if (i != LANE_DEFAULT && l->workers == 0)
			return ra_err_set(
				err, RA_E_CONFIG, keys[i],
				"%s must be at least 1 while jobs.workers > 0 (its jobs would never run here)",
				keys[i]);
	}
	return 0;
}

static int read_config(struct jobs *j, const struct config *cfg, struct ra_err *err)
{
	j->workers = (int)cfg_int(cfg, "jobs.workers");
	j->busy_retry_ms = cfg_int(cfg, "jobs.busy_retry_ms");
	j->lease_ms = cfg_int(cfg, "jobs.lease_ms");
	j->poll_ms = cfg_int(cfg, "jobs.poll_ms");
	j->backoff_ms = cfg_int(cfg, "jobs.backoff_ms");
	j->backoff_max_ms = cfg_int(cfg, "jobs.backoff_max_ms");
	if (j->workers < 0 || j->workers > 1000)
		return ra_err_set(err, RA_E_CONFIG, "jobs.workers", "jobs.workers must be 0..1000");
	if (j->lease_ms < 300)
		return ra_err_set(err, RA_E_CONFIG, "jobs.lease_ms", "jobs.lease_ms must be at least 300");
	if (j->poll_ms < 10)
		return ra_err_set(err, RA_E_CONFIG, "jobs.poll_ms", "jobs.poll_ms must be at least 10");
	if (j->backoff_ms < 1 || j->backoff_max_ms < j->backoff_ms)
		return ra_err_set(err, RA_E_CONFIG, "jobs.backoff_ms",
				  "jobs.backoff_ms must be positive and at most jobs.backoff_max_ms");
	if (j->busy_retry_ms < 10)
		return ra_err_set(err, RA_E_CONFIG, "jobs.busy_retry_ms",
				  "jobs.busy_retry_ms must be at least 10");
	return read_lanes(j, cfg, err);
}

static void timer(struct jobs *j, uv_timer_t *t)
{
	uv_timer_init(j->app->loop, t);
	t->data = j;
}

int jobs_init(struct app *app, struct ra_err *err)
{
	struct jobs *j = calloc(1, sizeof(*j));
	int rc;

	if (j == NULL)
		return ra_err_set(err, RA_E_NOMEM, "", "out of memory");
	j->app = app;
	if ((rc = read_config(j, app->cfg, err)) != 0) {
		free(j);
		return rc;
	}
	make_instance(j);
	if ((rc = db_listen(app->db, "ra_jobs", on_notify, j)) != 0) {
		free(j);
		return ra_err_set(err, rc, "", "cannot listen for jobs");
	}
	db_wake_set(app->db, on_committed_job, lane_mask_of, j);
	timer(j, &j->poll);
	timer(j, &j->renew);
	timer(j, &j->wake);
	timer(j, &j->stopped);
	/* A third of the lease: two renewals may fail before another process may take over. */
	uv_timer_start(&j->renew, on_renew, (uint64_t)j->lease_ms / 3, (uint64_t)j->lease_ms / 3);
	uv_timer_start(&j->poll, on_poll, (uint64_t)j->poll_ms, (uint64_t)j->poll_ms);
	gauges(j);
	app->jobs = j;
	log_info("jobs.started", "instance", j->instance, NULL);
	return 0;
}

void jobs_stop(struct app *app, void (*done)(void *), void *data)
{
	struct jobs *j = app->jobs;
	char n[16];

	j->stopping = 1;
	j->stop_done = done;
	j->stop_data = data;
	uv_timer_stop(&j->poll);
	uv_timer_stop(&j->wake);
	snprintf(n, sizeof(n), "%d", j->inflight);
	log_info("jobs.stopping", "inflight", n, NULL);
	if (j->inflight == 0)
		uv_timer_start(&j->stopped, stopped_cb, 0, 0);
}
