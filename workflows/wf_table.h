/*
 * wf_table.h - how a machine is written down: rows of (state, event) -> (next, actions,
 * reason, guards).  Internal to workflows/: callers use wf.h and the per-machine headers.
 */
#ifndef WF_TABLE_H
#define WF_TABLE_H

#include "workflows/wf.h"

/* Guards: each checks one domain rule against struct wf_facts (wf_guard.c). */
enum wf_guard {
	WF_G_NONE = 0, /* ends a row's guard list */
	WF_G_R1_CLASS, /* the certificate class is qualified, advanced or seal */
	WF_G_R1_FACTOR, /* a qualified certificate needs a second factor */
	WF_G_R2_FRESH_KEY, /* key bound to no other certificate, generated for this class */
	WF_G_R2_NEW_KEY, /* a re-key or modification does not keep the old key */
	WF_G_R4_PERSON, /* an organisation and function to change: a person's certificate, not a seal */
	WF_G_R7_MATCH, /* the identification matches the order */
	WF_G_R7_PASSED, /* identification passed and any required proof approved */
	WF_G_R9_APP_GONE, /* the app is de-registered (not merely uninstalled) */
	WF_G_R10_SINGLE, /* single factor only for advanced/seal, with consent */
	WF_G_R12_NEW_KEY, /* a lost ActivationPIN is answered by a new key */
	WF_G_R13_KEEP_PIN, /* unlocking never resets the ActivationPIN */
	WF_G_R14_REASON, /* an allowed RFC 5280 reason */
	WF_G_R15_NEW_ISSUED, /* the replacement is issued before the old one is revoked */
	WF_G_R17_REUSE, /* earlier identification within the configured period */
	WF_G_R19_SUBJECT, /* the actor is not the subject */
	WF_G_R19_APPROVER, /* ... and did not open the request they approve */
	WF_G_ATTEMPTS, /* identification attempts remain */
	WF_G_COUNT
};

#define WF_MAX_GUARDS 4

/* Spelled out in rows without a guard (ISO C wants an argument for a macro's "..."). */
#define WF_NO_GUARD WF_G_NONE

/* Row reason: a fixed enum wf_reason, or taken from wf_facts.revoke_reason. */
#define WF_RSN_FROM_FACTS (-2)

struct wf_row {
	int state;
	int event;
	int next;
	unsigned actions;
	int reason;
	unsigned char guards[WF_MAX_GUARDS]; /* checked in order; first refusal wins */
};

struct wf_machine {
	const char *name;
	const char *const *states;
	int n_states;
	const char *const *events;
	int n_events;
	unsigned final_mask; /* bit s set: state s is final */
	const struct wf_row *rows;
	int n_rows;
};

/* The rule a guard enforces ("R7"), or NULL for an unknown guard. */
const char *wf_guard_rule(int guard);

/* 1 when the facts satisfy the guard, 0 when the rule refuses. */
int wf_guard_ok(int guard, const struct wf_facts *f);

#endif
