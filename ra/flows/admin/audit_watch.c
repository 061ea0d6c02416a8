/*
 * audit_watch.c - verifies the audit chain (R16) from inside `ra serve`: once shortly after
 * start and then every audit.verify_hours, on the thread pool with its own connection (as
 * `ra audit verify` does), and exposes the outcome for Prometheus, so "the chain is broken"
 * and "nobody verified it for a day" are alerts rather than a cron job's mail.  Verifications
 * through the admin API (ractl audit verify) count too.  See audit_watch.h.
 */
#include "ra/flows/admin/audit_watch.h"

#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "ra/base/config.h"
#include "ra/base/log.h"
#include "ra/base/metrics.h"
#include "ra/base/pool.h"
#include "ra/flows/admin/audit_verify.h"

struct audit_watch {
	struct app *app;
	uv_timer_t timer;
	int busy;
	char *conninfo;
	struct audit_report rep;
	struct ra_err err;
	int rc;
	double last_run, last_whole, broken, records;
};

/* the module's one watcher; reachable for the whole run */
static struct audit_watch *watch;

static double g_last(void *d)
{
	return ((struct audit_watch *)d)->last_run;
}
static double g_whole(void *d)
{
	return ((struct audit_watch *)d)->last_whole;
}
static double g_broken(void *d)
{
	return ((struct audit_watch *)d)->broken;
}
static double g_records(void *d)
{
	return ((struct audit_watch *)d)->records;
}

void audit_watch_note(int rc, long long records)
{
	const char *result = rc == 0           ? "result=\"whole\""
			     : rc == RA_E_RULE ? "result=\"broken\""
					       : "result=\"error\"";

	metrics_count("ra_audit_verify_runs_total", result, 1);
	if (watch == NULL || (rc != 0 && rc != RA_E_RULE))
		return; /* an error (database away) is no verdict: the last one stands */
	watch->last_run = (double)time(NULL);
	watch->broken = rc == RA_E_RULE;
	watch->records = (double)records;
	if (rc == 0)
		watch->last_whole = watch->last_run;
}

static void verify_work(void *data)
{
	struct audit_watch *w = data;

	memset(&w->rep, 0, sizeof(w->rep));
	w->rc = audit_verify(w->conninfo, &w->rep, &w->err);
}

static void verify_after(void *data)
{
	struct audit_watch *w = data;
	char n[32], seq[32];

	w->busy = 0;
	audit_watch_note(w->rc, w->rep.count);
	snprintf(n, sizeof(n), "%lld", w->rep.count);
	if (w->rc == 0) {
		log_info("audit.verify", "result", "whole", "records", n, "head_hash", w->rep.head_hash,
			 NULL);
	} else if (w->rc == RA_E_RULE) {
		snprintf(seq, sizeof(seq), "%lld", w->rep.bad_seq);
		log_error("audit.verify", "result", "broken", "bad_seq", seq, "why", w->rep.why, NULL);
	} else {
		log_warn("audit.verify", "result", "error", "message", w->err.msg, NULL);
	}
}

static void on_tick(uv_timer_t *t)
{
	struct audit_watch *w = t->data;

	if (w->busy || w->app->draining)
		return;
	w->busy = 1;
	if (pool_run(w->app->loop, verify_work, verify_after, w) != 0)
		w->busy = 0;
}

int audit_watch_start(struct app *app, struct ra_err *err)
{
	long long hours = cfg_int(app->cfg, "audit.verify_hours");
	struct audit_watch *w;

	metrics_help("ra_audit_verify_runs_total",
		     "Audit chain verifications (R16) by result: whole, broken, error.");
	if (hours <= 0 || watch != NULL)
		return 0;
	w = calloc(1, sizeof(*w));
	if (w == NULL || (w->conninfo = strdup(cfg_str(app->cfg, "database_url"))) == NULL) {
		free(w);
		return ra_err_set(err, RA_E_NOMEM, "", "out of memory");
	}
	w->app = app;
	watch = w;
	metrics_gauge("ra_audit_verify_last_run_timestamp_seconds",
		      "When the audit chain was last verified to a verdict (whole or broken).", "", g_last,
		      w);
	metrics_gauge("ra_audit_verify_last_whole_timestamp_seconds",
		      "When the audit chain was last found whole.", "", g_whole, w);
	metrics_gauge("ra_audit_verify_broken",
		      "1 when the last verification found the audit chain broken (R16).", "", g_broken, w);
	metrics_gauge("ra_audit_verify_records", "Records the last verification checked.", "", g_records, w);
	uv_timer_init(app->loop, &w->timer);
	w->timer.data = w;
	uv_unref((uv_handle_t *)&w->timer); /* a watcher never keeps the loop alive */
	uv_timer_start(&w->timer, on_tick, 2000, (uint64_t)hours * 3600 * 1000);
	return 0;
}
