/*
 * reminders.c - the `reminders` task: for each certificate whose notAfter (kind 'expiry') or
 * term end (kind 'term') is within a configured offset, one reminder: a cert_reminders row
 * and an audit record 'cert.expiry_reminder' / 'cert.term_reminder' in one statement (the
 * notify task turns the record into the mail).  The primary key (certificate, kind, due date,
 * offset) makes each reminder once, across ticks, nodes and a killed tick; only the closest
 * due offset is sent (a certificate issued 10 days before its end gets the 7-day reminder,
 * not the 30-day one as well).  An expiry reminder is skipped when the user already has the
 * successor: a replacement, or another certificate of the class and subject that outlives
 * this one by more than the largest offset (a new one bought for the old; two certificates
 * held side by side are not each other's successor).  A term
 * reminder is for the term end in force: a renewal moves it, and its reminders come again.
 */
#include "ra/flows/lifecycle/reminders.h"

#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ra/base/duration.h"
#include "ra/db/db.h"

/* $1 batch, $2 offsets in seconds (bigint[]), $3 kind ('expiry' or 'term'). */
static const char *sql_remind =
	"WITH o AS (SELECT unnest($2::bigint[]) AS off),"
	" c AS (SELECT x.id, CASE WHEN $3::text = 'expiry' THEN x.not_after ELSE x.term_end END AS due_at"
	"  FROM certificates x WHERE x.state IN ('issued', 'active')"
	"   AND ($3::text = 'expiry' OR x.term_ended_at IS NULL)"
	"   AND ($3::text = 'term' OR NOT EXISTS (SELECT 1 FROM certificates s WHERE s.user_id = x.user_id"
	"    AND s.id <> x.id AND s.class = x.class AND s.state IN ('requested', 'key_generated', 'issued', 'active')"
	"    AND (s.replaces = x.id OR (s.subject = x.subject"
	"     AND s.not_after > x.not_after + (SELECT max(off) FROM o) * interval '1 second'))))),"
	" d AS (SELECT c.id, c.due_at, min(o.off) AS off FROM c JOIN o"
	"  ON c.due_at > now() AND c.due_at - o.off * interval '1 second' <= now() GROUP BY c.id, c.due_at),"
	" pick AS (SELECT d.* FROM d WHERE NOT EXISTS (SELECT 1 FROM cert_reminders r"
	"   WHERE r.certificate_id = d.id AND r.kind = $3::text AND r.due_at = d.due_at AND r.offset_s <= d.off)"
	"  ORDER BY d.due_at, d.id LIMIT $1::int),"
	" ins AS (INSERT INTO cert_reminders (certificate_id, kind, due_at, offset_s)"
	"  SELECT id, $3::text, due_at, off FROM pick ON CONFLICT DO NOTHING"
	"  RETURNING certificate_id, due_at, offset_s),"
	" a AS (INSERT INTO audit_log (actor, action, object_type, object_id, reason, details)"
	"  SELECT 'system', 'cert.' || $3::text || '_reminder', 'certificate', certificate_id, NULL,"
	"   jsonb_build_object('due_at', due_at, 'offset_s', offset_s) FROM ins)"
	" SELECT count(*) FROM ins";

static char expiry_offsets[512], term_offsets[512];

static int offsets(const struct config *cfg, const char *key, char *out, size_t cap, struct ra_err *err)
{
	json_t *a = cfg_json(cfg, key), *v;
	size_t i, len;

	if (!json_is_array(a))
		return ra_err_set(err, RA_E_CONFIG, key,
				  "must be an array of durations such as [\"30d\", \"7d\"]");
	snprintf(out, cap, "{");
	json_array_foreach (a, i, v) {
		long long secs;
		int months;
		if (duration_parse(json_string_value(v), 0, &secs, &months) != 0)
			return ra_err_set(err, RA_E_CONFIG, key,
					  "entry %zu is not a duration in s, min, h or d (\"30d\", \"12h\")",
					  i);
		len = strlen(out);
		snprintf(out + len, cap - len, "%s%lld", i ? "," : "", secs);
	}
	len = strlen(out);
	snprintf(out + len, cap - len, "}");
	return 0;
}

int reminders_config(const struct config *cfg, struct ra_err *err)
{
	int rc = offsets(cfg, "lifecycle.expiry_reminders", expiry_offsets, sizeof(expiry_offsets), err);

	return rc ? rc : offsets(cfg, "lifecycle.term_reminders", term_offsets, sizeof(term_offsets), err);
}

struct rt {
	struct sched_tick *t;
	int expiry_items;
};

static void on_term(PGresult *res, const struct ra_err *err, void *data)
{
	struct rt *r = data;
	struct sched_tick *t = r->t;
	int items = r->expiry_items;

	free(r);
	if (err != NULL) {
		sched_tick_done(t, items, -1, err);
		return;
	}
	items += atoi(PQgetvalue(res, 0, 0));
	sched_tick_done(t, items, -1, NULL);
}

static void on_expiry(PGresult *res, const struct ra_err *err, void *data)
{
	struct rt *r = data;
	char batch[16];
	const char *p[3] = {batch, term_offsets, "term"};

	if (err != NULL) {
		struct sched_tick *t = r->t;
		free(r);
		sched_tick_done(t, 0, -1, err);
		return;
	}
	r->expiry_items = atoi(PQgetvalue(res, 0, 0));
	snprintf(batch, sizeof(batch), "%d", r->t->batch);
	db_query(r->t->app->db, sql_remind, 3, p, on_term, r);
}

void reminders_tick(struct sched_tick *t)
{
	struct rt *r = calloc(1, sizeof(*r));
	char batch[16];
	const char *p[3] = {batch, expiry_offsets, "expiry"};

	if (r == NULL)
		abort();
	r->t = t;
	snprintf(batch, sizeof(batch), "%d", t->batch);
	db_query(t->app->db, sql_remind, 3, p, on_expiry, r);
}
