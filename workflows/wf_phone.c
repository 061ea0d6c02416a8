/*
 * wf_phone.c - the phone-change machine as data.  See wf_phone.h for why each step exists,
 * and docs/workflows.md for the same table in prose.
 */
#include "workflows/wf_phone.h"
#include "workflows/wf_table.h"

#define A_AUDIT WF_ACT_AUDIT
#define A_CODE (WF_ACT_SEND_PHONE_CODE | WF_ACT_AUDIT)
#define A_DONE (WF_ACT_NOTIFY_OLD_NUMBER | WF_ACT_AUDIT)

#define ROW(s, e, n, a, ...)                                                \
	{                                                                   \
		WF_PHONE_##s, WF_PHONE_##e, WF_PHONE_##n, (a), WF_RSN_NONE, \
		{                                                           \
			__VA_ARGS__                                         \
		}                                                           \
	}

static const char *const states[WF_PHONE_N_STATES] = {
	[WF_PHONE_AWAITING_PROOF] = "awaiting_proof",
	[WF_PHONE_AWAITING_CODE] = "awaiting_code",
	[WF_PHONE_COMPLETED] = "completed",
	[WF_PHONE_CANCELLED] = "cancelled",
};

static const char *const events[WF_PHONE_N_EVENTS] = {
	[WF_PHONE_APPROVE] = "approve",
	[WF_PHONE_IDENT_PASSED] = "ident_passed",
	[WF_PHONE_IDENT_FAILED] = "ident_failed",
	[WF_PHONE_CODE_WRONG] = "code_wrong",
	[WF_PHONE_CODE_BLOCKED] = "code_blocked",
	[WF_PHONE_CONFIRM] = "confirm",
	[WF_PHONE_CANCEL] = "cancel",
};

static const struct wf_row rows[] = {
	/* R19: four eyes, never the requester nor the subject */
	ROW(AWAITING_PROOF, APPROVE, AWAITING_CODE, A_CODE, WF_G_R19_APPROVER),
	/* R7: the fresh identification is the same person as the user */
	ROW(AWAITING_PROOF, IDENT_PASSED, AWAITING_CODE, A_CODE, WF_G_R7_MATCH),
	ROW(AWAITING_PROOF, IDENT_FAILED, CANCELLED, A_AUDIT, WF_NO_GUARD),
	ROW(AWAITING_PROOF, CANCEL, CANCELLED, A_AUDIT, WF_NO_GUARD),

	ROW(AWAITING_CODE, CODE_WRONG, AWAITING_CODE, A_AUDIT, WF_NO_GUARD),
	ROW(AWAITING_CODE, CODE_BLOCKED, CANCELLED, A_AUDIT, WF_NO_GUARD),
	ROW(AWAITING_CODE, CONFIRM, COMPLETED, A_DONE, WF_NO_GUARD),
	ROW(AWAITING_CODE, CANCEL, CANCELLED, A_AUDIT, WF_NO_GUARD),
};

const struct wf_machine wf_phone = {
	.name = "phone",
	.states = states,
	.n_states = WF_PHONE_N_STATES,
	.events = events,
	.n_events = WF_PHONE_N_EVENTS,
	.final_mask = 1u << WF_PHONE_COMPLETED | 1u << WF_PHONE_CANCELLED,
	.rows = rows,
	.n_rows = (int)(sizeof(rows) / sizeof(rows[0])),
};
