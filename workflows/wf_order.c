/*
 * wf_order.c - the order machine as data.  See wf_order.h for how an order enters it and
 * docs/workflows.md for the same table in prose.
 */
#include "workflows/wf_order.h"
#include "workflows/wf_table.h"

#define A_AUDIT WF_ACT_AUDIT
#define A_CUST (WF_ACT_NOTIFY_CUSTOMER | WF_ACT_AUDIT)
#define A_SUPP (WF_ACT_NOTIFY_SUPPORT | WF_ACT_AUDIT)
#define A_INVITE (WF_ACT_INVITE_IDENT | WF_ACT_AUDIT)
#define A_ISSUE (WF_ACT_ISSUE | WF_ACT_AUDIT)

#define ROW(s, e, n, a, ...)                                                \
	{                                                                   \
		WF_ORDER_##s, WF_ORDER_##e, WF_ORDER_##n, (a), WF_RSN_NONE, \
		{                                                           \
			__VA_ARGS__                                         \
		}                                                           \
	}

static const char *const states[WF_ORDER_N_STATES] = {
	[WF_ORDER_AWAITING_PAYMENT] = "awaiting_payment",
	[WF_ORDER_RECEIVED] = "received",
	[WF_ORDER_IDENT_INVITED] = "ident_invited",
	[WF_ORDER_IDENT_PASSED] = "ident_passed",
	[WF_ORDER_IN_REVIEW] = "in_review",
	[WF_ORDER_IDENT_FAILED] = "ident_failed",
	[WF_ORDER_ISSUING] = "issuing",
	[WF_ORDER_ISSUED] = "issued",
	[WF_ORDER_REJECTED] = "rejected",
	[WF_ORDER_CANCELLED] = "cancelled",
};

static const char *const events[WF_ORDER_N_EVENTS] = {
	[WF_ORDER_PAID] = "paid",
	[WF_ORDER_IDENT_INVITE_SENT] = "ident_invite_sent",
	[WF_ORDER_IDENT_REUSED] = "ident_reused",
	[WF_ORDER_IDENT_SUCCESS] = "ident_success",
	[WF_ORDER_IDENT_SUCCESS_DATA_CHANGED] = "ident_success_data_changed",
	[WF_ORDER_IDENT_MISMATCH] = "ident_mismatch",
	[WF_ORDER_IDENT_FRAUD] = "ident_fraud",
	[WF_ORDER_IDENT_ABORTED] = "ident_aborted",
	[WF_ORDER_IDENT_RETRY] = "ident_retry",
	[WF_ORDER_PROOF_REQUIRED] = "proof_required",
	[WF_ORDER_REVIEW_APPROVE] = "review_approve",
	[WF_ORDER_REVIEW_REJECT] = "review_reject",
	[WF_ORDER_ISSUE_START] = "issue_start",
	[WF_ORDER_ISSUE_DONE] = "issue_done",
	[WF_ORDER_ISSUE_FAILED] = "issue_failed",
	[WF_ORDER_SHOP_CANCEL] = "shop_cancel",
	[WF_ORDER_EXPIRE] = "expire",
};

/*
 * shop_cancel is accepted up to ident_passed and in review, not in issuing: once the
 * issuance job runs, a key may exist and the CA may have signed, and a cancelled order with
 * a live certificate is worse than a revocation by support afterwards.
 */
static const struct wf_row rows[] = {
	ROW(AWAITING_PAYMENT, PAID, RECEIVED, A_INVITE, WF_NO_GUARD),
	ROW(AWAITING_PAYMENT, SHOP_CANCEL, CANCELLED, A_AUDIT, WF_NO_GUARD),
	ROW(AWAITING_PAYMENT, EXPIRE, CANCELLED, A_CUST, WF_NO_GUARD),

	ROW(RECEIVED, IDENT_INVITE_SENT, IDENT_INVITED, A_AUDIT, WF_NO_GUARD),
	ROW(RECEIVED, IDENT_REUSED, IDENT_PASSED, A_ISSUE, WF_G_R17_REUSE),
	ROW(RECEIVED, SHOP_CANCEL, CANCELLED, A_AUDIT, WF_NO_GUARD),
	ROW(RECEIVED, EXPIRE, CANCELLED, A_CUST, WF_NO_GUARD),

	ROW(IDENT_INVITED, IDENT_SUCCESS, IDENT_PASSED, A_ISSUE, WF_G_R7_MATCH),
	ROW(IDENT_INVITED, IDENT_SUCCESS_DATA_CHANGED, IN_REVIEW, A_SUPP, WF_NO_GUARD),
	ROW(IDENT_INVITED, IDENT_MISMATCH, IN_REVIEW, A_SUPP, WF_NO_GUARD),
	ROW(IDENT_INVITED, IDENT_FRAUD, REJECTED, A_SUPP, WF_NO_GUARD),
	ROW(IDENT_INVITED, IDENT_ABORTED, IDENT_FAILED, A_CUST, WF_NO_GUARD),
	ROW(IDENT_INVITED, SHOP_CANCEL, CANCELLED, A_AUDIT, WF_NO_GUARD),
	ROW(IDENT_INVITED, EXPIRE, CANCELLED, A_CUST, WF_NO_GUARD),

	ROW(IDENT_FAILED, IDENT_RETRY, RECEIVED, A_INVITE, WF_G_ATTEMPTS),
	ROW(IDENT_FAILED, SHOP_CANCEL, CANCELLED, A_AUDIT, WF_NO_GUARD),
	ROW(IDENT_FAILED, EXPIRE, CANCELLED, A_CUST, WF_NO_GUARD),

	/* R7 before R1: a missing identification is the more important thing to report. */
	ROW(IDENT_PASSED, ISSUE_START, ISSUING, A_AUDIT, WF_G_R7_PASSED, WF_G_R1_CLASS),
	ROW(IDENT_PASSED, PROOF_REQUIRED, IN_REVIEW, A_SUPP, WF_NO_GUARD),
	ROW(IDENT_PASSED, SHOP_CANCEL, CANCELLED, A_AUDIT, WF_NO_GUARD),

	ROW(IN_REVIEW, REVIEW_APPROVE, IDENT_PASSED, A_ISSUE, WF_G_R19_APPROVER),
	ROW(IN_REVIEW, REVIEW_REJECT, REJECTED, A_CUST, WF_NO_GUARD),
	ROW(IN_REVIEW, IDENT_FRAUD, REJECTED, A_SUPP, WF_NO_GUARD),
	ROW(IN_REVIEW, SHOP_CANCEL, CANCELLED, A_AUDIT, WF_NO_GUARD),

	/* R8: the user ID mail goes out once the user and certificate exist. */
	ROW(ISSUING, ISSUE_DONE, ISSUED, WF_ACT_NOTIFY_USER_ID | WF_ACT_AUDIT, WF_NO_GUARD),
	ROW(ISSUING, ISSUE_FAILED, IN_REVIEW, A_SUPP, WF_NO_GUARD),
};

const struct wf_machine wf_order = {
	.name = "order",
	.states = states,
	.n_states = WF_ORDER_N_STATES,
	.events = events,
	.n_events = WF_ORDER_N_EVENTS,
	.final_mask = 1u << WF_ORDER_ISSUED | 1u << WF_ORDER_REJECTED | 1u << WF_ORDER_CANCELLED,
	.rows = rows,
	.n_rows = (int)(sizeof(rows) / sizeof(rows[0])),
};
