/*
 * wf_order.h - the order machine: from the shop's webhook through identification and
 * review to an issued certificate, a rejection or a cancellation.
 *
 * An order is created in WF_ORDER_RECEIVED when the shop reports it paid (WooCommerce
 * "processing"/"completed"), else in WF_ORDER_AWAITING_PAYMENT ("pending", "on-hold").
 * Creating it in RECEIVED is itself the start of identification: in the same transaction the
 * creator either fires WF_ORDER_IDENT_REUSED (R17) or performs WF_ACT_INVITE_IDENT, the same
 * action the PAID and IDENT_RETRY transitions return.  The table is in wf_order.c and
 * docs/workflows.md.  Numbers are array indices; store names, not numbers.
 */
#ifndef WF_ORDER_H
#define WF_ORDER_H

#include "workflows/wf.h"

enum wf_order_state {
	WF_ORDER_AWAITING_PAYMENT,
	WF_ORDER_RECEIVED,
	WF_ORDER_IDENT_INVITED,
	WF_ORDER_IDENT_PASSED,
	WF_ORDER_IN_REVIEW,
	WF_ORDER_IDENT_FAILED,
	WF_ORDER_ISSUING,
	WF_ORDER_ISSUED, /* final */
	WF_ORDER_REJECTED, /* final */
	WF_ORDER_CANCELLED, /* final */
	WF_ORDER_N_STATES
};

enum wf_order_event {
	WF_ORDER_PAID,
	WF_ORDER_IDENT_INVITE_SENT,
	WF_ORDER_IDENT_REUSED,
	WF_ORDER_IDENT_SUCCESS,
	WF_ORDER_IDENT_SUCCESS_DATA_CHANGED,
	WF_ORDER_IDENT_MISMATCH,
	WF_ORDER_IDENT_FRAUD,
	WF_ORDER_IDENT_ABORTED,
	WF_ORDER_IDENT_RETRY,
	WF_ORDER_PROOF_REQUIRED,
	WF_ORDER_REVIEW_APPROVE,
	WF_ORDER_REVIEW_REJECT,
	WF_ORDER_ISSUE_START,
	WF_ORDER_ISSUE_DONE,
	WF_ORDER_ISSUE_FAILED,
	WF_ORDER_SHOP_CANCEL,
	WF_ORDER_EXPIRE,
	WF_ORDER_N_EVENTS
};

extern const struct wf_machine wf_order;

#endif
