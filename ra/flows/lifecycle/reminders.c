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
#include "ra/db/outbox.h"
#include "workflows/wf_cert.h"

/* $1 batch, $2 offsets in seconds (bigint[]), $3 kind ('expiry' or 'term'), $4 the states
 * reminded of, $5 the states of a successor (text[], outbox: names from wf_cert).  Each row
 * returned: the certificate and its audit record's details. */
static const char *sql_remind =
	"WITH o AS (SELECT unnest($2::bigint[]) AS off),"
	" c AS (SELECT x.id, CASE WHEN $3::text = 'expiry' THEN x.not_after ELSE x.term_end END AS due_at"
	"  FROM certificates x WHERE x.state = ANY($4::text[])"
	"   AND ($3::text = 'expiry' OR x.term_ended_at IS NULL)"
	"   AND ($3::text = 'term' OR NOT EXISTS (SELECT 1 FROM certificates s WHERE s.user_id = x.user_id"
	"    AND s.id <> x.id AND s.class = x.class AND s.state = ANY($5::text[])"
	"    AND (s.replaces = x.id OR (s.subject = x.subject"
	"     AND s.not_after > x.not_after + (SELECT max(off) FROM o) * interval '1 second'))))),"
	" d AS (SELECT c.id, c.due_at, min(o.off) AS off FROM c JOIN o"
	"  ON c.due_at > now() AND c.due_at - o.off * interval '1 second' <= now() GROUP BY c.id, c.due_at),"
	" pick AS (SELECT d.* FROM d WHERE NOT EXISTS (SELECT 1 FROM cert_reminders r"
	"   WHERE r.certificate_id = d.id AND r.kind = $3::text AND r.due_at = d.due_at AND r.offset_s <= d.off)"
	"  ORDER BY d.due_at, d.id LIMIT $1::int),"
	" ins AS (INSERT INTO cert_reminders (certificate_id, kind, due_at, offset_s)"
	"  SELECT id, $3::text, due_at, off FROM pick ON CONFLICT DO NOTHING"
	"  RETURNING certificate_id, due_at, offset_s)"
	" SELECT certificate_id, jsonb_build_object('due_at', due_at, 'offset_s', offset_s)::text FROM ins";

#define LIVE (1u << WF_CERT_ISSUED | 1u << WF_CERT_ACTIVE)
#define SUCCESSOR (LIVE | 1u << WF_CERT_REQUESTED | 1u << WF_CERT_KEY_GENERATED)

/* One kind's reminders and their audit records ('cert.<kind>_reminder') as one outbox unit. */
static void remind(struct sched_tick *t, const char *offsets_s, const char *kind, ob_cb cb, void *data)
{
	struct outbox ob = {0};
	char batch[16], live[64], succ[96];
	int src;

	snprintf(batch, sizeof(batch), "%d", t->batch);
	src = ob_stmt(&ob, sql_remind, 5,
		      (const char *const[]){batch, offsets_s, kind,
					    ob_states(&wf_cert, LIVE, live, sizeof(live)),
					    ob_states(&wf_cert, SUCCESSOR, succ, sizeof(succ))},
		      0);
	ob_audit_each(&ob, src, "system",
		      strcmp(kind, "expiry") == 0 ? "cert.expiry_reminder" : "cert.term_reminder",
		      "certificate", NULL);
	ob_commit(&ob, t->app->db, cb, data);
}

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

static void on_term(const int *rows, const struct ra_err *err, void *data)
{
	struct rt *r = data;
	struct sched_tick *t = r->t;
	int items = r->expiry_items;

	free(r);
	if (err != NULL) {
		sched_tick_done(t, items, -1, err);
		return;
	}
	items += rows[0];
	sched_tick_done(t, items, -1, NULL);
}

static void on_expiry(const int *rows, const struct ra_err *err, void *data)
{
	struct rt *r = data;

	if (err != NULL) {
		struct sched_tick *t = r->t;
		free(r);
		sched_tick_done(t, 0, -1, err);
		return;
	}
	r->expiry_items = rows[0];
	remind(r->t, term_offsets, "term", on_term, r);
}

void reminders_tick(struct sched_tick *t)
{
	struct rt *r = calloc(1, sizeof(*r));

	if (r == NULL)
		abort();
	r->t = t;
	remind(t, expiry_offsets, "expiry", on_expiry, r);
}
