/*
 * wf.h - the lifecycle state machines of the RA: the shared engine and vocabulary.
 *
 * Three machines (order, certificate, user; see wf_order.h, wf_cert.h, wf_user.h) are
 * tables of (state, event) -> (next state, actions, guards).  wf_step() looks a pair up,
 * runs the row's guards against facts the caller gathered (from the database, in the same
 * transaction that will store the result), and answers with the next state and a bitmask
 * of follow-up actions (jobs, mails, audit records) for the caller to perform.  A refused
 * step names the domain rule that refused it, so the caller can report "R10" to a support
 * user and write it to the audit log.
 *
 * Pure C: no I/O, no allocation, no global mutable state; every function is thread-safe.
 * State, event, action and reason names are stable lowercase (RFC 5280 spelling for
 * reasons) strings: they are stored in the database and the audit log, never renumber
 * or rename them.
 */
#ifndef WF_H
#define WF_H

#include <stddef.h>

/* Errors: negative, distinct from 0 (success) and from any state or event number. */
enum wf_error {
	WF_E_INVALID = -1, /* NULL argument, state/event out of range, unknown name */
	WF_E_NOT_ALLOWED = -2, /* the machine has no transition for (state, event) */
	WF_E_GUARD = -3, /* a domain rule refused; wf_result.rule names it */
	WF_E_FINAL = -4, /* the state is final: nothing leaves it (e.g. R14 revoked) */
};

/* Certificate classes (R1).  0 is "unknown" so that zeroed facts are refused. */
enum wf_class {
	WF_CLASS_NONE = 0,
	WF_CLASS_QUALIFIED = 1, /* QES: second factor mandatory */
	WF_CLASS_ADVANCED = 2, /* AdES: may be single-factor with consent (R10) */
	WF_CLASS_SEAL = 3, /* organisation seal: like advanced for R10 */
};

/* The user's current signature-approval factor (R9, R10). */
enum wf_factor {
	WF_FACTOR_NONE = 0, /* single factor (R10) or not yet known */
	WF_FACTOR_SMS = 1,
	WF_FACTOR_APP = 2,
};

/*
 * Revocation reasons (R14): the RFC 5280 CRLReason codes this service uses.  certificateHold
 * is deliberately absent: revocation is final, a hold could be lifted.
 */
enum wf_reason {
	WF_RSN_NONE = -1, /* the transition revokes nothing */
	WF_RSN_UNSPECIFIED = 0,
	WF_RSN_KEY_COMPROMISE = 1,
	WF_RSN_AFFILIATION_CHANGED = 3,
	WF_RSN_SUPERSEDED = 4,
	WF_RSN_CESSATION_OF_OPERATION = 5,
	WF_RSN_PRIVILEGE_WITHDRAWN = 9,
};

/*
 * Actions: what the caller must do, in the same database transaction as the state change
 * (audit record, outbox jobs).  One bit each; wf_action_name() gives the stable name.
 */
#define WF_ACT_AUDIT (1u << 0) /* R16: write the audit record */
#define WF_ACT_INVITE_IDENT (1u << 1) /* job: create ident session, mail the link */
#define WF_ACT_ISSUE (1u << 2) /* job: user, key, CSR, CA (issuance pipeline) */
#define WF_ACT_NOTIFY_USER_ID (1u << 3) /* R8: mail the user ID and instructions */
#define WF_ACT_SEND_TRANSPORT_PIN (1u << 4) /* R11: new random TransportPIN by SMS, hash kept */
#define WF_ACT_NOTIFY_SUPPORT (1u << 5) /* a person has to look at it */
#define WF_ACT_NOTIFY_CUSTOMER (1u << 6) /* mail the order's customer */
#define WF_ACT_NOTIFY_USER (1u << 7) /* mail the user about their account/cert */
#define WF_ACT_REVOKE (1u << 8) /* job: revoke this certificate at the CA, CRL */
#define WF_ACT_ISSUE_REPLACEMENT (1u << 9) /* R12, R15: request a new cert with a new key */
#define WF_ACT_DESTROY_KEY (1u << 10) /* R2: a key whose certificate failed is never reused */
#define WF_ACT_KEEP_PIN (1u << 11) /* R13: restore with the previous ActivationPIN */
#define WF_ACT_REKEY (1u << 12) /* R12: start a re-key of the user's certificates */
#define WF_ACT_REVOKE_ALL (1u << 13) /* revoke every certificate of the user */
#define WF_ACT_SEND_PHONE_CODE (1u << 14) /* R3: a confirmation code by SMS to the NEW number, hash kept */
#define WF_ACT_NOTIFY_OLD_NUMBER (1u << 15) /* R3: tell the OLD number its user moved away */
#define WF_ACT_COUNT 16

/*
 * What the caller knows when it asks for a step.  Only the fields the row's guards read
 * matter; zero-initialise the rest.  Zero is always the cautious value: a zeroed struct
 * refuses issuance (R7), unknown classes (R1), reuse (R17) and single factor (R10).
 */
struct wf_facts {
	/* who acts (R19) */
	int actor_is_subject; /* the support user is the certificate's/order's subject */
	int actor_opened_review; /* the support user created the request under review */

	/* certificate and key (R1, R2, R10) */
	int cert_class; /* enum wf_class of the certificate concerned */
	int key_class; /* enum wf_class the key was generated for */
	int key_in_use; /* other certificates bound to this key (must be 0) */
	int replacement_same_key; /* a replacement would keep the old key (R2, R12) */
	int user_has_qualified; /* the user holds a qualified certificate (R10) */
	int second_factor; /* enum wf_factor the user has now (R1) */

	/* identification (R7, R17, bounded retries) */
	int ident_match; /* the ident result matches the order (name, birth date) */
	int ident_passed; /* a matching identification is recorded for the order */
	int needs_proof; /* further proof required (e.g. affiliation, variant 2) */
	int proof_approved; /* ... and support approved it */
	int has_prior_ident; /* the user has an earlier successful identification */
	int ident_age_days; /* its age in days */
	int ident_reuse_max_days; /* configured reuse period (CPS); 0 disables reuse */
	int attrs_changed; /* name or attributes differ from the earlier ident */
	int attempts; /* identification attempts made so far */
	int max_attempts; /* configured bound */

	/* factors and PIN (R9, R10, R13) */
	int app_registered; /* the signing back-end still lists an app registration */
	int has_consent_ref; /* a single-factor consent declaration is on record */
	int pin_reset_requested; /* the caller asked to reset the ActivationPIN */

	/* replacement and revocation (R14, R15) */
	int new_cert_issued; /* the replacing certificate is issued */
	int revoke_reason; /* enum wf_reason for an explicit revoke */
};

/* The answer of wf_step(). */
struct wf_result {
	int next_state; /* on success; on error the unchanged state */
	unsigned actions; /* WF_ACT_* bits; 0 on error */
	int reason; /* enum wf_reason when actions has WF_ACT_REVOKE, else WF_RSN_NONE */
	const char *rule; /* WF_E_GUARD: the refusing rule ("R10"); else NULL.  Static. */
};

/* A machine; defined in wf_table.h, used through pointers. */
struct wf_machine;

/*
 * Applies event to a machine in state.  f may be NULL (all facts zero).  Returns 0 and
 * fills out, or a negative enum wf_error (out still filled, rule set for WF_E_GUARD).
 * A final state answers WF_E_FINAL for every event, before any lookup.
 */
int wf_step(const struct wf_machine *m, int state, int event, const struct wf_facts *f,
	    struct wf_result *out);

/* Static English text for an enum wf_error. */
const char *wf_strerror(int err);

/* Machine introspection. */
const char *wf_machine_name(const struct wf_machine *m); /* "order", "cert", "user", "phone" */
int wf_state_count(const struct wf_machine *m);
int wf_event_count(const struct wf_machine *m);
int wf_transition_count(const struct wf_machine *m);
int wf_is_final(const struct wf_machine *m, int state); /* 1, 0, or WF_E_INVALID */

/*
 * Checks a table for mistakes a compiler cannot see: duplicate (state, event), rows out of
 * final states, numbers out of range, unknown guards.  0 or WF_E_INVALID.
 */
int wf_machine_check(const struct wf_machine *m);

/* Stable names; NULL for out-of-range numbers.  *_parse: number, or WF_E_INVALID. */
const char *wf_state_name(const struct wf_machine *m, int state);
int wf_state_parse(const struct wf_machine *m, const char *name);
const char *wf_event_name(const struct wf_machine *m, int event);
int wf_event_parse(const struct wf_machine *m, const char *name);

/* Reason names ("keyCompromise"); NULL / WF_E_INVALID for anything outside enum wf_reason. */
const char *wf_reason_name(int reason);
int wf_reason_parse(const char *name);

/* Name of one action bit ("send_transport_pin"), NULL if not exactly one known bit. */
const char *wf_action_name(unsigned bit);
unsigned wf_action_parse(const char *name); /* the bit, or 0 */

/*
 * Writes the names of the bits in actions, comma-separated in bit order, into buf (always
 * NUL-terminated when size > 0).  Returns the length the full text needs (like snprintf),
 * or WF_E_INVALID if actions has unknown bits or buf is NULL with size > 0.
 */
int wf_action_names(unsigned actions, char *buf, size_t size);

#endif
