/*
 * sched.c - the durable scheduler: periodic tasks as rows of `schedules`, claimed under a
 * lease by one node per tick.  The contract is in sched.h, the operator's view in
 * docs/lifecycle.md.
 *
 * Every sched.tick_ms the node first makes sure the rows of its tasks exist (once per start,
 * and again after a failure), then claims the most overdue task it knows, runs it, and writes
 * the tick's end (next_run, counts, error) fenced by (locked_by, runs).  After a tick it looks
 * again at once, so several due tasks (or a task catching up) do not wait a tick each.
 */
#include "ra/jobs/sched.h"

#include <openssl/rand.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "ra/base/log.h"
#include "ra/base/metrics.h"
#include "ra/db/db.h"

#define MAX_TASKS 16

struct task {
	const struct sched_task *def;
	long long interval_ms;
	/* for /metrics: read from the table after every tick of any task on this node */
	double next_run, last_done, last_items;
	double ticks_ok, ticks_failed, items_total;
	char labels[80];
};

struct sched {
	struct app *app;
	struct task tasks[MAX_TASKS];
	int n;
	char instance[96];
	long long tick_ms, lease_ms;
	int batch;
	int ensured, busy, stopping;
	void (*stop_done)(void *);
	void *stop_data;
	uv_timer_t timer;
	/* the tick in flight */
	struct sched_tick tick;
	struct task *cur;
	char runs_s[24];
	char names[1024], intervals[512]; /* text[] and bigint[] literals of the tasks */
};

static void look(struct sched *s);

static const char *sql_ensure =
	"INSERT INTO schedules (name, interval_ms)"
	" SELECT * FROM unnest($1::text[], $2::bigint[])"
	" ON CONFLICT (name) DO UPDATE SET interval_ms = EXCLUDED.interval_ms,"
	"  next_run = LEAST(schedules.next_run, now() + EXCLUDED.interval_ms * interval '1 millisecond')";

static const char *sql_claim =
	"UPDATE schedules s SET locked_by = $2, lease_until = now() + $3::bigint * interval '1 millisecond',"
	" runs = s.runs + 1, last_started_at = now()"
	" WHERE s.name = (SELECT name FROM schedules"
	"  WHERE name = ANY($1::text[]) AND next_run <= now() AND (lease_until IS NULL OR lease_until < now())"
	"  ORDER BY next_run LIMIT 1 FOR UPDATE SKIP LOCKED)"
	" RETURNING s.name, s.runs, s.cursor";

/* $4 items, $5 error (NULL: success), $6 more (bool), $7 new cursor or NULL.  A failed tick
 * waits its interval like a quiet one: a task that fails does not spin. */
static const char *sql_end =
	"UPDATE schedules SET locked_by = NULL, lease_until = NULL, last_done_at = now(),"
	" last_items = $4::int, last_error = $5::text,"
	" next_run = CASE WHEN $6::bool AND $5::text IS NULL THEN now()"
	"  ELSE now() + interval_ms * interval '1 millisecond' END,"
	" cursor = coalesce($7::bigint, cursor)"
	" WHERE name = $1 AND locked_by = $2 AND runs = $3::bigint";

static const char *sql_stats =
	"SELECT name, extract(epoch FROM next_run), coalesce(extract(epoch FROM last_done_at), 0),"
	" coalesce(last_items, 0) FROM schedules WHERE name = ANY($1::text[])";

static struct sched *of(const struct sched_tick *t)
{
	return t->priv;
}

static struct task *find(struct sched *s, const char *name)
{
	for (int i = 0; i < s->n; i++)
		if (strcmp(s->tasks[i].def->name, name) == 0)
			return &s->tasks[i];
	return NULL;
}

static void on_timer(uv_timer_t *t);

static void rearm(struct sched *s, uint64_t ms)
{
	if (!s->stopping)
		uv_timer_start(&s->timer, on_timer, ms, 0);
}

static void idle(struct sched *s)
{
	s->busy = 0;
	if (s->stopping) {
		if (s->stop_done)
			s->stop_done(s->stop_data);
		s->stop_done = NULL;
		return;
	}
	rearm(s, (uint64_t)s->tick_ms);
}

/* ---- statistics for /metrics ---------------------------------------------------------- */

static void on_stats(PGresult *res, const struct ra_err *err, void *data)
{
	struct sched *s = data;

	if (err == NULL)
		for (int i = 0; i < PQntuples(res); i++) {
			struct task *t = find(s, PQgetvalue(res, i, 0));
			if (t == NULL)
				continue;
			t->next_run = atof(PQgetvalue(res, i, 1));
			t->last_done = atof(PQgetvalue(res, i, 2));
			t->last_items = atof(PQgetvalue(res, i, 3));
		}
	look(s);
}

static void refresh_then_look(struct sched *s)
{
	const char *p[] = {s->names};

	db_query(s->app->db, sql_stats, 1, p, on_stats, s);
}

/* ---- the end of a tick ---------------------------------------------------------------- */

struct end {
	struct sched *s;
};

static void on_end(PGresult *res, const struct ra_err *err, void *data)
{
	struct end *e = data;
	struct sched *s = e->s;
	const char *name = s->cur->def->name;

	if (err != NULL)
		log_warn("sched.end_failed", "task", name, "error", err->msg, NULL);
	else if (strcmp(PQcmdTuples(res), "1") != 0)
		/* our lease ran out and another node took the task over: its tick counts */
		log_warn("sched.lease_lost", "task", name, "run", s->runs_s, NULL);
	free(e);
	s->cur = NULL;
	if (s->stopping) {
		idle(s);
		return;
	}
	refresh_then_look(s);
}

void sched_tick_done(struct sched_tick *t, int items, int64_t new_cursor, const struct ra_err *err)
{
	struct sched *s = of(t);
	struct task *task = s->cur;
	struct end *e = calloc(1, sizeof(*e));
	char items_s[16], cur_s[24], errbuf[400];
	int more = err == NULL && items >= t->batch;
	const char *p[7];

	if (e == NULL)
		abort();
	e->s = s;
	snprintf(items_s, sizeof(items_s), "%d", items);
	snprintf(cur_s, sizeof(cur_s), "%lld", (long long)new_cursor);
	if (err != NULL) {
		snprintf(errbuf, sizeof(errbuf), "%s%s%s", ra_errname(err->code), err->msg[0] ? ": " : "",
			 err->msg);
		task->ticks_failed++;
		log_warn("sched.tick_failed", "task", task->def->name, "error", errbuf, NULL);
	} else {
		task->ticks_ok++;
		task->items_total += items;
		if (items > 0)
			log_info("sched.tick", "task", task->def->name, "items", items_s, "more",
				 more ? "yes" : "no", NULL);
	}
	p[0] = task->def->name;
	p[1] = s->instance;
	p[2] = s->runs_s;
	p[3] = items_s;
	p[4] = err ? errbuf : NULL;
	p[5] = more ? "true" : "false";
	p[6] = new_cursor >= 0 ? cur_s : NULL;
	db_query(s->app->db, sql_end, 7, p, on_end, e);
}

/* ---- claiming ------------------------------------------------------------------------- */

static void on_claimed(PGresult *res, const struct ra_err *err, void *data)
{
	struct sched *s = data;
	struct task *t;

	if (err != NULL || PQntuples(res) != 1 || s->stopping) {
		if (err != NULL && err->code != RA_E_UNAVAILABLE)
			log_warn("sched.claim_failed", "error", err->msg, NULL);
		idle(s);
		return;
	}
	t = find(s, PQgetvalue(res, 0, 0));
	if (t == NULL) { /* cannot happen: the claim names only our tasks */
		idle(s);
		return;
	}
	snprintf(s->runs_s, sizeof(s->runs_s), "%s", PQgetvalue(res, 0, 1));
	s->cur = t;
	s->tick = (struct sched_tick){.app = s->app,
				      .name = t->def->name,
				      .batch = s->batch,
				      .cursor = strtoll(PQgetvalue(res, 0, 2), NULL, 10),
				      .priv = s};
	t->def->fn(&s->tick);
}

static void look(struct sched *s)
{
	char lease[24];
	const char *p[3];

	if (s->stopping || s->app->draining) {
		idle(s);
		return;
	}
	snprintf(lease, sizeof(lease), "%lld", s->lease_ms);
	p[0] = s->names;
	p[1] = s->instance;
	p[2] = lease;
	db_query(s->app->db, sql_claim, 3, p, on_claimed, s);
}

static void on_ensured(PGresult *res, const struct ra_err *err, void *data)
{
	struct sched *s = data;

	(void)res;
	if (err != NULL) {
		if (err->code != RA_E_UNAVAILABLE)
			log_warn("sched.ensure_failed", "error", err->msg, NULL);
		idle(s);
		return;
	}
	s->ensured = 1;
	log_info("sched.started", "tasks", s->names, NULL);
	look(s);
}

static void on_timer(uv_timer_t *t)
{
	struct sched *s = t->data;
	const char *p[2];

	if (s->busy || s->stopping || s->n == 0)
		return;
	if (!db_pool_up(s->app->db)) {
		rearm(s, (uint64_t)s->tick_ms);
		return;
	}
	s->busy = 1;
	if (s->ensured) {
		look(s);
		return;
	}
	p[0] = s->names;
	p[1] = s->intervals;
	db_query(s->app->db, sql_ensure, 2, p, on_ensured, s);
}

/* ---- set-up --------------------------------------------------------------------------- */

static double g_next(void *d)
{
	return ((struct task *)d)->next_run;
}
static double g_last(void *d)
{
	return ((struct task *)d)->last_done;
}
static double g_items(void *d)
{
	return ((struct task *)d)->last_items;
}
static double c_ok(void *d)
{
	return ((struct task *)d)->ticks_ok;
}
static double c_failed(void *d)
{
	return ((struct task *)d)->ticks_failed;
}
static double c_items(void *d)
{
	return ((struct task *)d)->items_total;
}

static void add_metrics(struct task *t)
{
	char ok[120], failed[120];

	snprintf(t->labels, sizeof(t->labels), "task=\"%s\"", t->def->name);
	snprintf(ok, sizeof(ok), "%s,outcome=\"ok\"", t->labels);
	snprintf(failed, sizeof(failed), "%s,outcome=\"failed\"", t->labels);
	metrics_gauge("ra_sched_next_run_timestamp_seconds", "When a scheduled task runs next (Unix time).",
		      t->labels, g_next, t);
	metrics_gauge("ra_sched_last_done_timestamp_seconds",
		      "When a scheduled task's last tick ended, on any node (Unix time).", t->labels, g_last,
		      t);
	metrics_gauge("ra_sched_last_items", "Items the last tick of a task handled, on any node.", t->labels,
		      g_items, t);
	metrics_counter_fn("ra_sched_ticks_total", "Ticks of a task this process ran, by outcome.", ok, c_ok,
			   t);
	metrics_counter_fn("ra_sched_ticks_total", "Ticks of a task this process ran, by outcome.", failed,
			   c_failed, t);
	metrics_counter_fn("ra_sched_items_total", "Items the ticks of a task handled in this process.",
			   t->labels, c_items, t);
}

/* Appends the task to the text[] and bigint[] literals the statements take.  Task names are
 * [a-z0-9_] (the table's CHECK), so they need no quoting inside the literal. */
static void add_literal(char *buf, size_t cap, const char *item)
{
	size_t len = strlen(buf);

	if (len == 0)
		snprintf(buf, cap, "{%s}", item);
	else {
		buf[len - 1] = '\0';
		snprintf(buf + len - 1, cap - (len - 1), ",%s}", item);
	}
}

void sched_register_tasks(struct sched *s, const struct config *cfg, const struct sched_task *tasks)
{
	for (const struct sched_task *d = tasks; d != NULL && d->name != NULL; d++) {
		struct task *t;
		char iv[24];
		if (s->n == MAX_TASKS)
			abort(); /* a programming error: raise MAX_TASKS */
		t = &s->tasks[s->n++];
		t->def = d;
		t->interval_ms = cfg_int(cfg, d->interval_key) * 1000;
		if (t->interval_ms <= 0)
			t->interval_ms = 1000;
		snprintf(iv, sizeof(iv), "%lld", t->interval_ms);
		add_literal(s->names, sizeof(s->names), d->name);
		add_literal(s->intervals, sizeof(s->intervals), iv);
		add_metrics(t);
	}
}

int sched_init(struct app *app, struct ra_err *err)
{
	struct sched *s = calloc(1, sizeof(*s));
	unsigned char rnd[6];
	char host[48] = "host";

	if (s == NULL)
		return ra_err_set(err, RA_E_INTERNAL, "", "out of memory");
	s->app = app;
	s->tick_ms = cfg_int(app->cfg, "sched.tick_ms");
	s->lease_ms = cfg_int(app->cfg, "sched.lease_ms");
	s->batch = (int)cfg_int(app->cfg, "sched.batch");
	if (s->tick_ms < 10 || s->lease_ms < 100 || s->batch < 1) {
		free(s);
		return ra_err_set(err, RA_E_CONFIG, "sched",
				  "sched.tick_ms >= 10, sched.lease_ms >= 100, sched.batch >= 1");
	}
	if (RAND_bytes(rnd, sizeof(rnd)) != 1)
		memset(rnd, 0, sizeof(rnd));
	gethostname(host, sizeof(host) - 1);
	snprintf(s->instance, sizeof(s->instance), "%s/%d/%02x%02x%02x%02x%02x%02x", host, (int)getpid(),
		 rnd[0], rnd[1], rnd[2], rnd[3], rnd[4], rnd[5]);
	uv_timer_init(app->loop, &s->timer);
	s->timer.data = s;
	app->sched = s;
	/* the first look soon after start, when the pool has had a moment to connect */
	rearm(s, 50);
	return 0;
}

void sched_stop(struct app *app, void (*done)(void *), void *data)
{
	struct sched *s = app->sched;

	if (s == NULL) {
		done(data);
		return;
	}
	s->stopping = 1;
	uv_timer_stop(&s->timer);
	uv_close((uv_handle_t *)&s->timer, NULL);
	if (s->busy) {
		s->stop_done = done;
		s->stop_data = data;
		return;
	}
	done(data);
}
