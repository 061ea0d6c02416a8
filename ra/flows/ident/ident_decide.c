/*
 * ident_decide.c - identification result -> order outcome, through the order machine; see
 * ident_decide.h.
 */
#include "ra/flows/ident/ident_decide.h"

#include <string.h>

#include "workflows/wf_order.h"

const char *ident_outcome_str(enum ident_outcome o)
{
	static const char *const n[] = {"wait", "issue", "review", "reject", "retry", "failed"};
	return (unsigned)o < sizeof(n) / sizeof(n[0]) ? n[o] : "?";
}

const char *ident_names_str(enum name_match m)
{
	return m == NAME_EXACT ? "exact" : m == NAME_NEEDS_REVIEW ? "needs_review" : "mismatch";
}

static enum name_match worse(enum name_match a, enum name_match b)
{
	return a > b ? a : b;
}

/* One step of the order machine; *state moves on success. */
static int step(int *state, int event, const struct wf_facts *f, struct wf_result *r)
{
	int rc = wf_step(&wf_order, *state, event, f, r);

	if (rc == 0)
		*state = r->next_state;
	return rc;
}

static int decide_success(const struct ident_case *c, struct ident_decision *d, int *state)
{
	struct wf_facts f = {0};
	struct wf_result r;
	int rc;

	d->names = worse(name_compare(c->order_first, c->ident_first),
			 name_compare(c->order_last, c->ident_last));
	f.ident_match = d->names == NAME_EXACT;
	if (c->order_birth != NULL && (c->ident_birth == NULL || strcmp(c->order_birth, c->ident_birth) != 0))
		f.ident_match = 0; /* R7: the birth date on the order, when it has one, must match too */
	if (!f.ident_match) {
		d->event = "ident_mismatch";
		d->outcome = IDENT_REVIEW;
		d->why = d->names == NAME_NEEDS_REVIEW ? "R7: names match only after transliteration"
			 : d->names == NAME_MISMATCH   ? "R7: identified name differs from the order"
						       : "R7: identified birth date differs from the order";
		return step(state, WF_ORDER_IDENT_MISMATCH, NULL, &r);
	}
	d->event = "ident_success";
	if ((rc = step(state, WF_ORDER_IDENT_SUCCESS, &f, &r)) != 0)
		return rc;
	f.ident_passed = 1;
	f.needs_proof = c->needs_proof;
	f.cert_class = c->cert_class;
	rc = step(state, WF_ORDER_ISSUE_START, &f, &r);
	if (rc == WF_E_GUARD && c->needs_proof) {
		/* R7: variant 2 without a contract: the organisation needs proof, support approves it */
		d->outcome = IDENT_REVIEW;
		d->why = "R7: variant 2, the organisation and function need proof";
		return step(state, WF_ORDER_PROOF_REQUIRED, NULL, &r);
	}
	if (rc != 0)
		return rc;
	d->outcome = IDENT_ISSUE;
	d->why = "identified, identity matches the order";
	return 0;
}

static int decide_failed(const struct ident_case *c, struct ident_decision *d, int *state)
{
	struct wf_facts f = {0};
	struct wf_result r;
	int rc;

	d->event = "ident_aborted";
	if ((rc = step(state, WF_ORDER_IDENT_ABORTED, NULL, &r)) != 0)
		return rc;
	f.attempts = c->attempts;
	f.max_attempts = c->max_attempts;
	rc = step(state, WF_ORDER_IDENT_RETRY, &f, &r);
	if (rc == WF_E_GUARD) {
		d->outcome = IDENT_FAILED;
		d->why = "identification not completed; no attempt left";
		return 0;
	}
	if (rc != 0)
		return rc;
	d->outcome = IDENT_RETRY;
	d->why = "identification not completed; invited again";
	return 0;
}

int ident_decide(const struct ident_case *c, struct ident_decision *d)
{
	int state = WF_ORDER_IDENT_INVITED, rc = 0;
	struct wf_result r;

	memset(d, 0, sizeof(*d));
	d->names = NAME_MISMATCH;
	switch (c->result) {
	case IDNOW_SUCCESS:
		rc = decide_success(c, d, &state);
		break;
	case IDNOW_SUCCESS_DATA_CHANGED:
		/* the agent corrected what the customer told us: a person looks first (R7) */
		d->names = worse(name_compare(c->order_first, c->ident_first),
				 name_compare(c->order_last, c->ident_last));
		d->event = "ident_success_data_changed";
		d->outcome = IDENT_REVIEW;
		d->why = "provider reports changed data (SUCCESS_DATA_CHANGED)";
		rc = step(&state, WF_ORDER_IDENT_SUCCESS_DATA_CHANGED, NULL, &r);
		break;
	case IDNOW_FRAUD_SUSPICION_CONFIRMED:
		d->event = "ident_fraud";
		d->outcome = IDENT_REJECT;
		d->why = "fraud suspicion confirmed by the provider";
		rc = step(&state, WF_ORDER_IDENT_FRAUD, NULL, &r);
		break;
	case IDNOW_ABORTED:
	case IDNOW_CANCELED:
	case IDNOW_FAILED:
		rc = decide_failed(c, d, &state);
		break;
	default: /* REVIEW_PENDING, CHECK_PENDING, FRAUD_SUSPICION_PENDING: wait for the final word */
		d->outcome = IDENT_WAIT;
		d->why = "result pending at the provider";
		break;
	}
	d->next_state = state;
	return rc;
}
