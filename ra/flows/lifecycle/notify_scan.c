/*
 * notify_scan.c - the `notify` task: audit records and dead jobs -> notify jobs (notify.h).
 */
#include "ra/flows/lifecycle/notify.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ra/base/config.h"
#include "ra/flows/lifecycle/notices.h"
#include "ra/db/db.h"
#include "ra/db/outbox.h"

/* One outbox unit (ra/db/outbox.h).  The records read: $1 cursor, $2 batch; how many, the
 * last seq. */
static const char *sql_read =
	"SELECT count(*), max(seq) FROM (SELECT seq FROM audit_log WHERE seq > $1::bigint ORDER BY seq LIMIT $2::int) ev";

/* The notify jobs they cause, each row a job's key and payload: $1 cursor, $2 batch, $3..$8
 * the table as arrays (action, template, to, if_key, if_val, unless_key; '' for "none"). */
static const char *sql_scan =
	"WITH ev AS (SELECT seq, action, details FROM audit_log WHERE seq > $1::bigint ORDER BY seq LIMIT $2::int),"
	" r AS (SELECT * FROM unnest($3::text[], $4::text[], $5::text[], $6::text[], $7::text[], $8::text[])"
	"  AS r(action, tmpl, rcpt, if_key, if_val, unless_key)),"
	" m AS (SELECT ev.seq, r.tmpl, r.rcpt FROM ev JOIN r ON r.action = ev.action"
	"  AND (r.if_key = '' OR ev.details->>r.if_key = r.if_val)"
	"  AND (r.unless_key = '' OR NOT ev.details ?| string_to_array(r.unless_key, '|')))"
	" SELECT 'notify:' || m.seq || ':' || m.rcpt,"
	"  jsonb_build_object('seq', m.seq, 'template', m.tmpl, 'to', m.rcpt)::text FROM m";

/* Dead jobs since the notify task exists (older ones were there before support was told
 * about any); the notify jobs themselves excepted: a mail about a mail that cannot go.
 * $1 batch, $2 whether support mails are on, $3 'dead'; each row a job's key and payload. */
static const char *sql_dead =
	"SELECT 'notify:job_dead:' || x.id || ':' || x.attempts,"
	" jsonb_build_object('job_id', x.id, 'template', '" NOTICE_JOB_DEAD
	"', 'to', 'support')::text"
	" FROM jobs x, schedules s"
	" WHERE $2::bool AND x.state = $3 AND x.kind <> 'notify' AND s.name = 'notify'"
	"  AND x.done_at >= s.created_at AND NOT EXISTS (SELECT 1 FROM jobs n"
	"   WHERE n.idempotency_key = 'notify:job_dead:' || x.id || ':' || x.attempts)"
	" ORDER BY x.id LIMIT $1::int";

/* The table as six text[] literals, built once (the table does not change while we run). */
static char arrays[6][2048];
static int built;

/* Appends one item to a text[] literal under construction ("{" then items, closed by close()). */
static void add(char *buf, size_t cap, const char *item)
{
	size_t len = strlen(buf);

	/* table entries are [a-z0-9._] words: no quoting needed inside the array literal */
	if (len == 0)
		snprintf(buf, cap, "{\"%s\"", item ? item : "");
	else
		snprintf(buf + len, cap - len, ",\"%s\"", item ? item : "");
}

static void close_array(char *buf, size_t cap)
{
	size_t len = strlen(buf);

	if (len == 0)
		snprintf(buf, cap, "{}");
	else if (len + 1 < cap)
		memcpy(buf + len, "}", 2);
}

static void build(const struct config *cfg)
{
	int support = notices_support_on(cfg);

	for (int k = 0; k < 6; k++)
		arrays[k][0] = '\0';
	for (const struct notice *n = notices; n->action; n++) {
		if (strcmp(n->to, "support") == 0 && !support)
			continue;
		add(arrays[0], sizeof(arrays[0]), n->action);
		add(arrays[1], sizeof(arrays[1]), n->tmpl);
		add(arrays[2], sizeof(arrays[2]), n->to);
		add(arrays[3], sizeof(arrays[3]), n->if_key);
		add(arrays[4], sizeof(arrays[4]), n->if_val);
		add(arrays[5], sizeof(arrays[5]), n->unless_key);
	}
	for (int k = 0; k < 6; k++)
		close_array(arrays[k], sizeof(arrays[k]));
	built = 1;
}

struct scan {
	struct sched_tick *t;
	int read;
	long long last;
};

static void on_read(PGresult *res, const struct ra_err *err, void *data)
{
	struct scan *sc = data;
	const char *last = db_val(res, 0, 1);

	(void)err;
	sc->read = atoi(PQgetvalue(res, 0, 0));
	sc->last = last ? strtoll(last, NULL, 10) : -1;
}

static void on_scanned(const int *rows, const struct ra_err *err, void *data)
{
	struct scan *sc = data;
	struct sched_tick *t = sc->t;
	int read = sc->read, dead = rows[2];
	long long last = sc->last;

	free(sc);
	if (err != NULL) {
		sched_tick_done(t, 0, -1, err);
		return;
	}
	/* either half with a full batch means there is more */
	sched_tick_done(t, read > dead ? read : dead, last, NULL);
}

void notify_scan_tick(struct sched_tick *t)
{
	const struct config *cfg = t->app->cfg;
	struct scan *sc = calloc(1, sizeof(*sc));
	struct outbox ob = {0};
	char cursor[24], batch[16];
	const char *p[8];
	int m, d;

	if (sc == NULL)
		abort();
	sc->t = t;
	sc->last = -1;
	if (!built)
		build(cfg);
	snprintf(cursor, sizeof(cursor), "%lld", (long long)t->cursor);
	snprintf(batch, sizeof(batch), "%d", t->batch);
	p[0] = cursor;
	p[1] = batch;
	for (int k = 0; k < 6; k++)
		p[2 + k] = arrays[k];
	ob_stmt_read(&ob, sql_read, 2, p, 0, on_read, sc);
	m = ob_stmt(&ob, sql_scan, 8, p, 0);
	d = ob_stmt(&ob, sql_dead, 3,
		    (const char *const[]){batch, notices_support_on(cfg) ? "true" : "false", "dead"}, 0);
	ob_job_rows(&ob, m, "notify");
	ob_job_rows(&ob, d, "notify");
	ob_commit(&ob, t->app->db, on_scanned, sc);
}
