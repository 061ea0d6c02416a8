/*
 * wf_user.c - the user machine as data.  See wf_user.h for why the factor is part of the
 * state, and docs/workflows.md for the same table in prose.
 */
#include "workflows/wf_user.h"
#include "workflows/wf_table.h"

#define A_AUDIT WF_ACT_AUDIT
#define A_LOCK (WF_ACT_NOTIFY_USER | WF_ACT_AUDIT)
#define A_UNLOCK (WF_ACT_KEEP_PIN | WF_ACT_NOTIFY_USER | WF_ACT_AUDIT)
#define A_REKEY (WF_ACT_REKEY | WF_ACT_AUDIT)
#define A_CLOSE (WF_ACT_REVOKE_ALL | WF_ACT_AUDIT)

#define ROW(s, e, n, a, ...)                                             \
	{                                                                \
		WF_USER_##s, WF_USER_##e, WF_USER_##n, (a), WF_RSN_NONE, \
		{                                                        \
			__VA_ARGS__                                      \
		}                                                        \
	}

static const char *const states[WF_USER_N_STATES] = {
	[WF_USER_PENDING] = "pending",
	[WF_USER_ACTIVE_SMS] = "active_sms",
	[WF_USER_ACTIVE_APP] = "active_app",
	[WF_USER_ACTIVE_SINGLE] = "active_single",
	[WF_USER_LOCKED_SMS] = "locked_sms",
	[WF_USER_LOCKED_APP] = "locked_app",
	[WF_USER_LOCKED_SINGLE] = "locked_single",
	[WF_USER_CLOSED] = "closed",
};

static const char *const events[WF_USER_N_EVENTS] = {
	[WF_USER_ACTIVATE] = "activate",
	[WF_USER_FACTOR_SMS] = "factor_sms",
	[WF_USER_FACTOR_APP] = "factor_app",
	[WF_USER_FACTOR_SINGLE] = "factor_single",
	[WF_USER_LOCK] = "lock",
	[WF_USER_UNLOCK] = "unlock",
	[WF_USER_PIN_LOST] = "pin_lost",
	[WF_USER_CLOSE] = "close",
};

/* Lock, unlock, lost PIN and close, the same for each factor. */
#define ACCOUNT_ROWS(F)                                                           \
	ROW(ACTIVE_##F, LOCK, LOCKED_##F, A_LOCK, WF_NO_GUARD),                   \
		ROW(ACTIVE_##F, PIN_LOST, ACTIVE_##F, A_REKEY, WF_NO_GUARD),      \
		ROW(ACTIVE_##F, CLOSE, CLOSED, A_CLOSE, WF_NO_GUARD),             \
		ROW(LOCKED_##F, UNLOCK, ACTIVE_##F, A_UNLOCK, WF_G_R13_KEEP_PIN), \
		ROW(LOCKED_##F, PIN_LOST, LOCKED_##F, A_REKEY, WF_NO_GUARD),      \
		ROW(LOCKED_##F, CLOSE, CLOSED, A_CLOSE, WF_NO_GUARD)

static const struct wf_row rows[] = {
	/* SMS first: the mobile number is the one thing every user has (R3). */
	ROW(PENDING, ACTIVATE, ACTIVE_SMS, A_AUDIT, WF_NO_GUARD),
	ROW(PENDING, CLOSE, CLOSED, A_CLOSE, WF_NO_GUARD),

	/* R9: registering the app stops SMS; a new registration (new phone) stays on app. */
	ROW(ACTIVE_SMS, FACTOR_APP, ACTIVE_APP, A_AUDIT, WF_NO_GUARD),
	ROW(ACTIVE_APP, FACTOR_APP, ACTIVE_APP, A_AUDIT, WF_NO_GUARD),
	ROW(ACTIVE_SINGLE, FACTOR_APP, ACTIVE_APP, A_AUDIT, WF_NO_GUARD),

	/* R9: back to SMS only after the app is de-registered, uninstalling is not enough. */
	ROW(ACTIVE_APP, FACTOR_SMS, ACTIVE_SMS, A_AUDIT, WF_G_R9_APP_GONE),
	ROW(ACTIVE_SINGLE, FACTOR_SMS, ACTIVE_SMS, A_AUDIT, WF_NO_GUARD),

	/* R10 first: whether one factor is lawful at all matters more than the app. */
	ROW(ACTIVE_SMS, FACTOR_SINGLE, ACTIVE_SINGLE, A_AUDIT, WF_G_R10_SINGLE),
	ROW(ACTIVE_APP, FACTOR_SINGLE, ACTIVE_SINGLE, A_AUDIT, WF_G_R10_SINGLE, WF_G_R9_APP_GONE),

	ACCOUNT_ROWS(SMS),
	ACCOUNT_ROWS(APP),
	ACCOUNT_ROWS(SINGLE),
};

const struct wf_machine wf_user = {
	.name = "user",
	.states = states,
	.n_states = WF_USER_N_STATES,
	.events = events,
	.n_events = WF_USER_N_EVENTS,
	.final_mask = 1u << WF_USER_CLOSED,
	.rows = rows,
	.n_rows = (int)(sizeof(rows) / sizeof(rows[0])),
};
