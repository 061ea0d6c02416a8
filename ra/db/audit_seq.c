/*
 * audit_seq.c - the audit sequencer (see audit_seq.h and docs/audit.md).  All the chaining is
 * one SQL function call per batch (one statement, one transaction), so a node that dies
 * mid-batch leaves either the whole batch or none of it; the lock it held goes with its
 * connection.  This side only schedules batches and keeps what they report for /metrics.
 */
#include "ra/db/audit_seq.h"

#include <stdio.h>
#include <stdlib.h>

#include "ra/base/config.h"
#include "ra/base/log.h"
#include "ra/base/metrics.h"
#include "ra/db/db.h"

static const char *sql_batch =
	DB_PLAN_ONCE "SELECT chained, head_seq, pending, oldest_s FROM audit_sequence($1::integer)";

struct audit_seq {
	struct app *app;
	struct db_pool *pool; /* one connection: the leadership lock lives on its session */
	uv_timer_t timer, gap; /* gap: a wake-up held back until coalesce_ms after the last start */
	int busy, again, stopping, batch, gap_armed;
	uint64_t coalesce_ms, started_ms; /* uv_now at the last batch's start */
	uint64_t chained_ms; /* uv_now at the start of the last batch that chained records */
	char batch_txt[16];
	int leader; /* -1 unknown (no answer yet), 0 follower, 1 sequencer */
	double pending, oldest_s;
	uint64_t measured_ms; /* uv_now when pending/oldest_s were read */
	double head_seq, batches, chained;
	void (*done)(void *);
	void *done_data;
};

/* the process's one sequencer; reachable for the whole run */
static struct audit_seq *seq;

static double g_leader(void *d)
{
	return ((struct audit_seq *)d)->leader == 1;
}
static double g_pending(void *d)
{
	return ((struct audit_seq *)d)->pending;
}
static double g_head(void *d)
{
	return ((struct audit_seq *)d)->head_seq;
}
static double g_batches(void *d)
{
	return ((struct audit_seq *)d)->batches;
}
static double g_chained(void *d)
{
	return ((struct audit_seq *)d)->chained;
}

/* The oldest pending record keeps ageing between batches. */
static double g_oldest(void *d)
{
	struct audit_seq *s = d;

	if (s->pending <= 0)
		return 0;
	return s->oldest_s + (double)(uv_now(s->app->loop) - s->measured_ms) / 1000.0;
}

static void run_batch(struct audit_seq *s);
static void start_batch(struct audit_seq *s);

static void set_leader(struct audit_seq *s, int leader)
{
	if (leader == s->leader)
		return;
	if (leader == 1)
		log_info("audit.sequencer_leader", NULL);
	else if (s->leader == 1)
		log_warn("audit.sequencer_lost", NULL);
	s->leader = leader;
}

static void on_batch(PGresult *res, const struct ra_err *err, void *data)
{
	struct audit_seq *s = data;
	int chained;

	s->busy = 0;
	if (s->stopping)
		return;
	if (err) {
		/* the connection (and with it the lock) may be gone: the next tick finds out */
		if (s->leader == 1)
			log_warn("audit.sequencer_failed", "error", err->msg, NULL);
		set_leader(s, 0);
		return;
	}
	chained = atoi(PQgetvalue(res, 0, 0));
	set_leader(s, chained >= 0);
	s->head_seq = db_val(res, 0, 1) ? strtod(PQgetvalue(res, 0, 1), NULL) : 0;
	s->pending = db_val(res, 0, 2) ? strtod(PQgetvalue(res, 0, 2), NULL) : 0;
	s->oldest_s = db_val(res, 0, 3) ? strtod(PQgetvalue(res, 0, 3), NULL) : 0;
	s->measured_ms = uv_now(s->app->loop);
	if (chained > 0) {
		s->batches++;
		s->chained += chained;
		s->chained_ms = s->started_ms;
	}
	/* a full batch means more are waiting: at once; a wake-up during the batch may mean more
	 * too: after the gap like any wake-up */
	if (chained == s->batch) {
		s->again = 0;
		start_batch(s);
	} else if (chained >= 0 && s->again) {
		s->again = 0;
		run_batch(s);
	}
}

static void start_batch(struct audit_seq *s)
{
	const char *p[1] = {s->batch_txt};

	if (s->stopping)
		return;
	if (s->busy) {
		s->again = 1;
		return;
	}
	s->busy = 1;
	s->started_ms = uv_now(s->app->loop);
	db_query(s->pool, sql_batch, 1, p, on_batch, s);
}

static void on_gap(uv_timer_t *t)
{
	struct audit_seq *s = t->data;

	s->gap_armed = 0;
	start_batch(s);
}

/* A wake-up (NOTIFY, tick, a wake-up during a batch): a batch now, or when audit.sequencer_
 * coalesce_ms have passed since the last batch that chained records started, so that under
 * load each batch takes the records of many commits instead of one batch per commit (each
 * batch has a fixed cost: about 1.5 ms of the database's CPU under load, measured in `make
 * bench`, against about 0.06 ms per record).  A batch that found nothing (a tick while idle)
 * does not hold the next one back: the first commit after a quiet spell is chained at once. */
static void run_batch(struct audit_seq *s)
{
	uint64_t now = uv_now(s->app->loop);

	if (s->stopping || s->gap_armed)
		return;
	if (s->busy) {
		s->again = 1;
		return;
	}
	if (s->chained_ms != 0 && now - s->chained_ms < s->coalesce_ms) {
		s->gap_armed = 1;
		uv_timer_start(&s->gap, on_gap, s->coalesce_ms - (now - s->chained_ms), 0);
		return;
	}
	start_batch(s);
}

static void on_tick(uv_timer_t *t)
{
	run_batch(t->data);
}

static void on_notify(const char *channel, const char *payload, void *data)
{
	(void)channel;
	(void)payload;
	run_batch(data);
}

int audit_seq_init(struct app *app, struct ra_err *err)
{
	long long iv = cfg_int(app->cfg, "audit.sequencer_interval_ms");
	long long batch = cfg_int(app->cfg, "audit.sequencer_batch");
	long long co = cfg_int(app->cfg, "audit.sequencer_coalesce_ms");

	if (iv < 1 || iv > 1000)
		return ra_err_set(err, RA_E_CONFIG, "audit.sequencer_interval_ms",
				  "audit.sequencer_interval_ms must be 1..1000");
	if (batch < 1 || batch > 100000)
		return ra_err_set(err, RA_E_CONFIG, "audit.sequencer_batch",
				  "audit.sequencer_batch must be 1..100000");
	if (co < 0 || co > 1000)
		return ra_err_set(err, RA_E_CONFIG, "audit.sequencer_coalesce_ms",
				  "audit.sequencer_coalesce_ms must be 0..1000");
	if (co > iv)
		co = iv; /* never longer than the interval: the tick would come first anyway */
	seq = calloc(1, sizeof(*seq));
	if (seq == NULL)
		return ra_err_set(err, RA_E_NOMEM, "", "out of memory");
	seq->app = app;
	seq->leader = -1;
	seq->batch = (int)batch;
	seq->coalesce_ms = (uint64_t)co;
	snprintf(seq->batch_txt, sizeof(seq->batch_txt), "%d", seq->batch);
	seq->pool = db_pool_new(app->loop, cfg_str(app->cfg, "database_url"), 1,
				(int)cfg_int(app->cfg, "db.connect_timeout_ms"));
	if (seq->pool == NULL || db_listen(seq->pool, "ra_jobs", on_notify, seq) != 0)
		return ra_err_set(err, RA_E_NOMEM, "", "out of memory");
	uv_timer_init(app->loop, &seq->timer);
	seq->timer.data = seq;
	uv_timer_init(app->loop, &seq->gap);
	seq->gap.data = seq;
	uv_timer_start(&seq->timer, on_tick, (uint64_t)iv, (uint64_t)iv);
	metrics_gauge("ra_audit_sequencer_leader",
		      "1 when this node is the audit sequencer (holds the lock).", "", g_leader, seq);
	metrics_gauge("ra_audit_pending_records",
		      "Committed audit records not yet chained, as of the last batch.", "", g_pending, seq);
	metrics_gauge("ra_audit_pending_oldest_seconds",
		      "Age of the oldest pending audit record; 0 when none.", "", g_oldest, seq);
	metrics_gauge("ra_audit_chain_head_seq",
		      "The newest chained audit record's seq, as of the last batch.", "", g_head, seq);
	metrics_counter_fn("ra_audit_sequencer_batches_total",
			   "Audit sequencer batches of this node that chained records.", "", g_batches, seq);
	metrics_counter_fn("ra_audit_chained_records_total", "Audit records this node chained.", "",
			   g_chained, seq);
	return 0;
}

static void on_pool_closed(void *data)
{
	struct audit_seq *s = data;

	if (s->done)
		s->done(s->done_data);
}

void audit_seq_stop(void (*done)(void *data), void *data)
{
	if (seq == NULL || seq->stopping) {
		if (done)
			done(data);
		return;
	}
	seq->stopping = 1;
	seq->done = done;
	seq->done_data = data;
	uv_timer_stop(&seq->timer);
	uv_close((uv_handle_t *)&seq->timer, NULL);
	uv_timer_stop(&seq->gap);
	uv_close((uv_handle_t *)&seq->gap, NULL);
	db_pool_close(seq->pool, on_pool_closed, seq);
}
