/*
 * ident_apply.c - one transaction per identification decision: the order's state change
 * (conditioned on the order still waiting for THIS transaction number, so a repeat or a
 * concurrent run changes nothing), the identification row with its sealed evidence (R18),
 * the effects (certificates and cert_issue jobs, a review, a new invitation), and the audit
 * record (R16) last.
 */
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ra/base/vault.h"
#include "ra/db/outbox.h"
#include "ra/flows/ident/evidence.h"
#include "ra/flows/ident/ident_apply.h"
#include "ra/flows/ident/ident_run.h"
#include "ra/base/log.h"
#include "ra/flows/cert/order_issue.h"
#include "ra/flows/intake/quota.h"
#include "ra/base/userid.h"
#include "workflows/wf_order.h"

/* outbox (ra/db/outbox.h): $2 the new state, $3 the one decided from */
static const char *sql_move =
	"UPDATE orders SET state = $2, ident_id = coalesce($5, ident_id), updated_at = now()"
	" WHERE id = $1::bigint AND state = $3 AND ident_tx = $4 RETURNING id";

/* A new attempt gets a new transaction number: the provider keeps one identification per
 * number, and the old number's late callbacks then find no waiting order. */
static const char *sql_retry =
	"UPDATE orders SET state = $2, ident_tx = $5, ident_id = NULL, invite_sent_at = NULL,"
	" ident_attempts = ident_attempts + 1, updated_at = now()"
	" WHERE id = $1::bigint AND state = $3 AND ident_tx = $4 RETURNING ident_attempts";

static const char *sql_ident =
	"INSERT INTO identifications (order_id, tx, attempt, provider, ident_id, result, reason, outcome, name_match,"
	" first_name, last_name, birth_date, country, evidence, retain_until)"
	" VALUES ($1::bigint, $2, $3::int, 'idnow', $4, $5, $6, $7, $8, $9, $10, $11::date, $12, decode($13, 'hex'),"
	" now() + make_interval(years => $14::int))";

/* The verified identity goes onto the user (R17 compares later orders with it). */
static const char *sql_user =
	"UPDATE users SET ident_first_name = $2, ident_last_name = $3, ident_birth_date = $4::date,"
	" ident_verified_at = now() WHERE id = (SELECT user_id FROM orders WHERE id = $1::bigint)";

static const char *sql_review =
	"INSERT INTO reviews (order_id, reason, opened_by) VALUES ($1::bigint, $2, 'ident:idnow')";

struct apply {
	struct ident_run *run;
	char *evidence_hex;
	json_t *details;
	char attempt[16], years[16], newtx[8 + USERID_MAX], jobkey[96];
	char country[3];
	const char *action;
};

static void apply_free(struct apply *a)
{
	free(a->evidence_hex);
	json_decref(a->details);
	free(a);
}

static const char *action_for(enum ident_outcome o)
{
	switch (o) {
	case IDENT_ISSUE:
		return "order.ident_passed";
	case IDENT_REVIEW:
		return "order.in_review";
	case IDENT_REJECT:
		return "order.rejected";
	case IDENT_RETRY:
		return "order.ident_retry";
	default:
		return "order.ident_failed";
	}
}

static const char *outcome_col(enum ident_outcome o)
{
	return o == IDENT_ISSUE    ? "passed"
	       : o == IDENT_REVIEW ? "review"
	       : o == IDENT_REJECT ? "rejected"
				   : "failed";
}

/* ISO 3166-1 alpha-2 from nationality, else the document's country; "" when neither is. */
static void pick_country(const struct idnow_ident *id, char out[3])
{
	const char *c[] = {id->user.nationality.value, id->doc.country.value};

	out[0] = '\0';
	for (size_t i = 0; i < 2; i++) {
		if (c[i] && strlen(c[i]) == 2 && isupper((unsigned char)c[i][0]) &&
		    isupper((unsigned char)c[i][1])) {
			memcpy(out, c[i], 3);
			return;
		}
	}
}

static void on_committed(const int *rows, const struct ra_err *err, void *data)
{
	struct apply *a = data;
	struct ident_run *r = a->run;

	(void)rows;
	if (err != NULL) {
		/* RA_E_CONFLICT: the order moved on meanwhile; the retry finds it decided */
		ident_run_fail(r, 1, err);
	} else {
		log_info("ident.decided", "order", r->order_id, "tx", r->tx, "result",
			 idnow_result_str(r->id->result), "outcome", ident_outcome_str(r->d.outcome), "state",
			 wf_state_name(&wf_order, r->d.next_state), NULL);
		ident_run_done(r, json_pack("{s:s, s:s, s:s}", "result", idnow_result_str(r->id->result),
					    "outcome", ident_outcome_str(r->d.outcome), "state",
					    wf_state_name(&wf_order, r->d.next_state)));
	}
	apply_free(a);
}

static int prepare(struct apply *a, struct ra_err *err)
{
	struct ident_run *r = a->run;
	char aad[200], *text;
	int rc, years = (int)cfg_int(r->app->cfg, "retention.years_after_expiry");
	json_t *d;

	snprintf(aad, sizeof(aad), EVIDENCE_AAD_FMT, r->tx);
	text = evidence_json(r->id, "idnow");
	if (text == NULL)
		return ra_err_set(err, RA_E_NOMEM, "", "out of memory");
	rc = vault_seal(r->app->cfg, aad, text, strlen(text), &a->evidence_hex, err);
	free(text);
	if (rc != 0)
		return rc;
	/* R18: until the certificates exist, keep at least their longest possible validity plus
	 * the retention period; issuance extends it to the real end of validity (tpin.c). */
	if (r->d.outcome == IDENT_ISSUE || r->d.outcome == IDENT_REVIEW)
		years += r->validity_max;
	snprintf(a->years, sizeof(a->years), "%d", years);
	snprintf(a->attempt, sizeof(a->attempt), "%d", r->attempts);
	pick_country(r->id, a->country);
	a->action = action_for(r->d.outcome);
	d = json_pack("{s:s, s:s?, s:s, s:s, s:s, s:s, s:s, s:i}", "transactionnumber", r->tx, "ident_id",
		      r->id->ident_id, "result", idnow_result_str(r->id->result), "event",
		      r->d.event ? r->d.event : "", "outcome", ident_outcome_str(r->d.outcome), "names",
		      ident_names_str(r->d.names), "state", wf_state_name(&wf_order, r->d.next_state),
		      "attempt", r->attempts);
	a->details = d;
	if (a->details == NULL)
		return ra_err_set(err, RA_E_NOMEM, "", "out of memory");
	if (r->d.outcome == IDENT_RETRY) {
		char uid[USERID_MAX];
		if (userid_generate(uid, sizeof(uid)) != 0)
			return ra_err_set(err, RA_E_INTERNAL, "", "no random number");
		snprintf(a->newtx, sizeof(a->newtx), "RA-%s", uid);
		snprintf(a->jobkey, sizeof(a->jobkey), "ident_invite:%s:%d", r->order_id, r->attempts + 1);
	}
	return 0;
}

void ident_apply(struct ident_run *r)
{
	struct apply *a = calloc(1, sizeof(*a));
	struct outbox ob = {0};
	const struct idnow_ident *id = r->id;
	const char *country;
	struct ra_err err;

	if (a == NULL)
		abort();
	a->run = r;
	if (prepare(a, &err) != 0) {
		ident_run_fail(r, 1, &err); /* e.g. evidence.key unset: retried once it is configured */
		apply_free(a);
		return;
	}
	country = a->country[0] ? a->country : cfg_str(r->app->cfg, "default_country");
	if (r->d.outcome == IDENT_RETRY)
		ob_move(&ob, sql_retry, &wf_order, WF_ORDER_IDENT_INVITED, WF_ORDER_RECEIVED, r->order_id, 2,
			(const char *const[]){r->tx, a->newtx});
	else
		ob_move(&ob, sql_move, &wf_order, WF_ORDER_IDENT_INVITED, r->d.next_state, r->order_id, 2,
			(const char *const[]){r->tx, id->ident_id});
	ob_stmt(&ob, sql_ident, 14,
		(const char *const[]){
			r->order_id, r->tx, a->attempt, id->ident_id, idnow_result_str(id->result),
			id->reason, outcome_col(r->d.outcome),
			idnow_result_is_success(id->result) ? ident_names_str(r->d.names) : NULL,
			id->user.firstname.value, id->user.lastname.value, id->user.birthday.value,
			a->country[0] ? a->country : NULL, a->evidence_hex, a->years},
		1);
	switch (r->d.outcome) {
	case IDENT_ISSUE:
		ob_stmt(&ob, sql_user, 4,
			(const char *const[]){r->order_id, id->user.firstname.value, id->user.lastname.value,
					      id->user.birthday.value},
			0);
		/* R7: the names matched exactly, so the certificate carries the order's spelling */
		order_issue_plan(&ob, r->order_id, r->first, r->last, country, id->ident_id);
		break;
	case IDENT_REVIEW:
		ob_stmt(&ob, sql_review, 2, (const char *const[]){r->order_id, r->d.why}, 1);
		break;
	case IDENT_RETRY:
		ob_job(&ob, &(struct ob_job){.kind = "ident_invite",
					     .payload = json_pack("{s:I}", "order_id",
								  (json_int_t)strtoll(r->order_id, NULL, 10)),
					     .key = a->jobkey});
		break;
	case IDENT_REJECT:
	case IDENT_FAILED:
		/* R6: the order ends without a certificate, so its contract places go back */
		ob_stmt(&ob, quota_sql_release, 1, (const char *const[]){r->order_id}, 0);
		break;
	default:
		break;
	}
	ob_audit(&ob, "ident:idnow", a->action, "order", r->order_id, r->d.why, json_incref(a->details));
	ob_commit(&ob, r->app->db, on_committed, a);
}
