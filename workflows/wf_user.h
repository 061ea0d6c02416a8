/*
 * wf_user.h - the user machine: account status and second factor.
 *
 * The factor is part of the state (active_sms, active_app, active_single and their locked
 * twins) because it is exactly one at a time (R9) and a lock must come back with the factor
 * it had.  There is no transition that resets the ActivationPIN (R12): unlock returns
 * WF_ACT_KEEP_PIN (R13), and a lost PIN returns WF_ACT_REKEY for the user's certificates.
 */
#ifndef WF_USER_H
#define WF_USER_H

#include "workflows/wf.h"

enum wf_user_state {
	WF_USER_PENDING,
	WF_USER_ACTIVE_SMS,
	WF_USER_ACTIVE_APP,
	WF_USER_ACTIVE_SINGLE,
	WF_USER_LOCKED_SMS,
	WF_USER_LOCKED_APP,
	WF_USER_LOCKED_SINGLE,
	WF_USER_CLOSED, /* final */
	WF_USER_N_STATES
};

enum wf_user_event {
	WF_USER_ACTIVATE,
	WF_USER_FACTOR_SMS,
	WF_USER_FACTOR_APP,
	WF_USER_FACTOR_SINGLE,
	WF_USER_LOCK,
	WF_USER_UNLOCK,
	WF_USER_PIN_LOST,
	WF_USER_CLOSE,
	WF_USER_N_EVENTS
};

extern const struct wf_machine wf_user;

#endif
