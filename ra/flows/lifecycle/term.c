/*
 * term.c - the `term` task: certificates whose term end plus term.grace has passed (a renewal
 * moves the term end, so a renewed certificate is not due) get the policy term.on_end, in one
 * statement per batch:
 *
 *   revoke  the certificate is revoked with reason cessationOfOperation (RFC 5280: the
 *           service it was for has ended), audited 'cert.term_ended' and 'cert.revoked', and
 *           a ca_revoke job tells the CA (it appears on the CRL as every revocation does);
 *   notify  audited 'cert.term_ended' only; the certificate stays usable.
 *
 * Either way term_ended_at is set, so the policy is applied once; the user is told by the
 * mail the audit record causes (notices.c).  A certificate being replaced (superseding) is
 * left alone: its replacement carries the term on.
 */
#include "ra/flows/lifecycle/term.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ra/base/duration.h"
#include "ra/db/db.h"

/* $1 batch, $2 grace in seconds, $3 policy ('revoke' or 'notify'). */
static const char *sql_term_end =
	"WITH due AS (SELECT id FROM certificates"
	"  WHERE state IN ('issued', 'active') AND term_ended_at IS NULL"
	"   AND term_end + $2::bigint * interval '1 second' <= now()"
	"  ORDER BY term_end, id LIMIT $1::int FOR UPDATE SKIP LOCKED),"
	" c AS (UPDATE certificates x SET term_ended_at = now(),"
	"   state = CASE WHEN $3::text = 'revoke' THEN 'revoked' ELSE x.state END,"
	"   revoked_at = CASE WHEN $3::text = 'revoke' THEN now() ELSE x.revoked_at END,"
	"   revocation_reason = CASE WHEN $3::text = 'revoke' THEN 'cessationOfOperation' ELSE x.revocation_reason END"
	"  FROM due WHERE x.id = due.id AND x.state IN ('issued', 'active') AND x.term_ended_at IS NULL"
	"  RETURNING x.id, x.serial, x.term_end, x.state),"
	" a1 AS (INSERT INTO audit_log (actor, action, object_type, object_id, reason, details)"
	"  SELECT 'system', 'cert.term_ended', 'certificate', c.id, 'contractual term ended without renewal',"
	"   jsonb_build_object('serial', c.serial, 'term_end', c.term_end, 'policy', $3::text,"
	"    'grace_s', $2::bigint) FROM c RETURNING seq),"
	/* reading a1 puts the term's record before the revocation's in the chain */
	" a2 AS (INSERT INTO audit_log (actor, action, object_type, object_id, reason, details)"
	"  SELECT 'system', 'cert.revoked', 'certificate', c.id, 'cessationOfOperation',"
	"   jsonb_build_object('serial', c.serial, 'comment', 'contractual term ended without renewal',"
	"    'term_end', c.term_end) FROM c, (SELECT max(seq) FROM a1) first WHERE c.state = 'revoked'),"
	" j AS (INSERT INTO jobs (kind, payload, idempotency_key)"
	"  SELECT 'ca_revoke', jsonb_build_object('certificate_id', c.id), 'ca_revoke:' || c.id FROM c"
	"  WHERE c.state = 'revoked' ON CONFLICT (idempotency_key) DO NOTHING)"
	" SELECT count(*) FROM c";

static char grace_s[24];
static char policy[8];

int term_config(const struct config *cfg, struct ra_err *err)
{
	const char *on_end = cfg_str(cfg, "term.on_end");
	long long secs;
	int months;

	if (duration_parse(cfg_str(cfg, "term.grace"), 0, &secs, &months) != 0)
		return ra_err_set(err, RA_E_CONFIG, "term.grace",
				  "must be a duration in s, min, h or d (\"14d\")");
	if (on_end == NULL || (strcmp(on_end, "revoke") != 0 && strcmp(on_end, "notify") != 0))
		return ra_err_set(err, RA_E_CONFIG, "term.on_end", "must be 'revoke' or 'notify'");
	snprintf(grace_s, sizeof(grace_s), "%lld", secs);
	snprintf(policy, sizeof(policy), "%s", on_end);
	return 0;
}

static void on_done(PGresult *res, const struct ra_err *err, void *data)
{
	struct sched_tick *t = data;

	if (err != NULL) {
		sched_tick_done(t, 0, -1, err);
		return;
	}
	sched_tick_done(t, atoi(PQgetvalue(res, 0, 0)), -1, NULL);
}

void term_tick(struct sched_tick *t)
{
	char batch[16];
	const char *p[3] = {batch, grace_s, policy};

	snprintf(batch, sizeof(batch), "%d", t->batch);
	db_query(t->app->db, sql_term_end, 3, p, on_done, t);
}
