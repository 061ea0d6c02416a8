/*
 * term.c - the `term` task: certificates whose term end plus term.grace has passed (a renewal
 * moves the term end, so a renewed certificate is not due) get the policy term.on_end, in one
 * transaction per batch (ra/db/outbox.h):
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
#include "ra/db/outbox.h"
#include "workflows/wf_cert.h"

/* The due certificates: $3 the states a term ends in (text[], names from wf_cert), $4 batch,
 * $5 grace in seconds; $1 NULL (all due) or one id. */
#define TERM_DUE                                                                                      \
	"WITH due AS (SELECT id FROM certificates"                                                    \
	"  WHERE ($1::text IS NULL OR id = $1) AND state = ANY($3::text[]) AND term_ended_at IS NULL" \
	"   AND term_end + $5::bigint * interval '1 second' <= now()"                                 \
	"  ORDER BY term_end, id LIMIT $4::int FOR UPDATE SKIP LOCKED)"

/* policy revoke: $2 'revoked' (outbox: ob_move_set); each row the certificate and its
 * cert.term_ended record's details */
static const char *sql_term_revoke = TERM_DUE
	" UPDATE certificates x SET term_ended_at = now(), state = $2, revoked_at = now(),"
	"  revocation_reason = 'cessationOfOperation'"
	" FROM due WHERE x.id = due.id AND x.state = ANY($3::text[]) AND x.term_ended_at IS NULL"
	" RETURNING x.id, jsonb_build_object('serial', x.serial, 'term_end', x.term_end, 'policy', 'revoke',"
	"  'grace_s', $5::bigint)::text";

/* ... and the same rows again (revoked by this transaction: its now()) for the cert.revoked
 * records, which come after the term's in the chain, and the ca_revoke jobs; $1 'revoked' */
static const char *sql_term_revoked =
	"SELECT id, jsonb_build_object('serial', serial, 'comment', 'contractual term ended without renewal',"
	" 'term_end', term_end)::text, 'cessationOfOperation' FROM certificates"
	" WHERE term_ended_at = now() AND revoked_at = now() AND state = $1";

/* policy notify: the term ends, the certificate stays usable; $2 unused but typed */
static const char *sql_term_notify = TERM_DUE
	" UPDATE certificates x SET term_ended_at = now()"
	" FROM due WHERE x.id = due.id AND x.state = ANY($3::text[]) AND x.term_ended_at IS NULL AND $2::text IS NOT NULL"
	" RETURNING x.id, jsonb_build_object('serial', x.serial, 'term_end', x.term_end, 'policy', 'notify',"
	"  'grace_s', $5::bigint)::text";

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

static void on_done(const int *rows, const struct ra_err *err, void *data)
{
	struct sched_tick *t = data;

	if (err != NULL) {
		sched_tick_done(t, 0, -1, err);
		return;
	}
	sched_tick_done(t, rows[0], -1, NULL);
}

#define TERM_STATES (1u << WF_CERT_ISSUED | 1u << WF_CERT_ACTIVE)

void term_tick(struct sched_tick *t)
{
	struct outbox ob = {0};
	const char *why = "contractual term ended without renewal";
	char batch[16], states[64];
	const char *revoked = wf_state_name(&wf_cert, WF_CERT_REVOKED);
	int c, v;

	snprintf(batch, sizeof(batch), "%d", t->batch);
	if (strcmp(policy, "revoke") == 0) {
		c = ob_move_set(&ob, sql_term_revoke, &wf_cert, TERM_STATES, WF_CERT_REVOKED, NULL, 2,
				(const char *const[]){batch, grace_s});
		v = ob_stmt(&ob, sql_term_revoked, 1, (const char *const[]){revoked}, 0);
		ob_audit_each(&ob, c, "system", "cert.term_ended", "certificate", why);
		ob_audit_each(&ob, v, "system", "cert.revoked", "certificate", NULL);
		ob_job_each(&ob, v, "ca_revoke", "certificate_id", "ca_revoke:");
	} else {
		c = ob_stmt(&ob, sql_term_notify, 5,
			    (const char *const[]){NULL, "notify",
						  ob_states(&wf_cert, TERM_STATES, states, sizeof(states)),
						  batch, grace_s},
			    0);
		ob_audit_each(&ob, c, "system", "cert.term_ended", "certificate", why);
	}
	ob_commit(&ob, t->app->db, on_done, t);
}
