/*
 * wf_phone.h - the phone-change machine: a user's new mobile number (R3), issue #17.
 *
 * The mobile number is the user's identity and where every SMS goes, so moving it is the
 * SIM-swap attack.  A change opens in awaiting_proof; it leaves that state only with the
 * configured proof: support's four-eyes approval by a second support user who neither opened
 * the change nor is its subject (R19), or a fresh video identification that matches the
 * user's identity data (R7 match).  Then a code goes by SMS to the NEW number
 * (WF_ACT_SEND_PHONE_CODE) and the change completes only when the user confirms it; a wrong
 * code is counted, the last allowed one cancels the change.  On completion the OLD number is
 * told (WF_ACT_NOTIFY_OLD_NUMBER).  Until then the user's number, and so every SMS, stays the
 * old one.  Completed and cancelled are final.
 */
#ifndef WF_PHONE_H
#define WF_PHONE_H

#include "workflows/wf.h"

enum wf_phone_state {
	WF_PHONE_AWAITING_PROOF,
	WF_PHONE_AWAITING_CODE,
	WF_PHONE_COMPLETED, /* final */
	WF_PHONE_CANCELLED, /* final */
	WF_PHONE_N_STATES
};

enum wf_phone_event {
	WF_PHONE_APPROVE, /* four eyes: a second support user approves the documented proof */
	WF_PHONE_IDENT_PASSED, /* the video identification matched the user */
	WF_PHONE_IDENT_FAILED, /* it did not (mismatch, fraud, aborted, data changed) */
	WF_PHONE_CODE_WRONG, /* a wrong code, tries left */
	WF_PHONE_CODE_BLOCKED, /* a wrong code, the last allowed try */
	WF_PHONE_CONFIRM, /* the right code from the new number */
	WF_PHONE_CANCEL, /* support cancels */
	WF_PHONE_N_EVENTS
};

extern const struct wf_machine wf_phone;

#endif
