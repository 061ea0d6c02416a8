/*
 * wf_guard.c - the domain-rule guards that transition rows name.  Each guard reads a few
 * fields of struct wf_facts and says yes or no; the table of guards maps each to the rule
 * it enforces, which wf_step() reports on refusal.  Every check is written so that zeroed
 * or missing facts refuse rather than allow.
 */
#include "workflows/wf_table.h"

typedef int (*wf_check_fn)(const struct wf_facts *f);

static int class_known(int c)
{
	return c == WF_CLASS_QUALIFIED || c == WF_CLASS_ADVANCED || c == WF_CLASS_SEAL;
}

static int r1_class(const struct wf_facts *f)
{
	return class_known(f->cert_class);
}

/* R1: QES legally requires signature approval with a second factor. */
static int r1_factor(const struct wf_facts *f)
{
	if (!class_known(f->cert_class))
		return 0;
	if (f->cert_class != WF_CLASS_QUALIFIED)
		return 1;
	return f->second_factor == WF_FACTOR_SMS || f->second_factor == WF_FACTOR_APP;
}

/* R2: one key, one certificate, one class.  The database enforces it too (unique key). */
static int r2_fresh_key(const struct wf_facts *f)
{
	return class_known(f->cert_class) && f->key_class == f->cert_class && f->key_in_use == 0;
}

/* R2 (re-key, modification) and R12 (lost PIN): the replacement must get a new key. */
static int new_key(const struct wf_facts *f)
{
	return f->replacement_same_key == 0;
}

/* R4: variant 1 or 2 is a person's affiliation.  An organisation seal's organisation is its
 * subject (and a seal carries no function): a new one is a new seal, not a modification. */
static int r4_person(const struct wf_facts *f)
{
	return f->cert_class == WF_CLASS_QUALIFIED || f->cert_class == WF_CLASS_ADVANCED;
}

static int r7_match(const struct wf_facts *f)
{
	return f->ident_match != 0;
}

/* R7: identity matched, and further proof (variant 2 affiliation) approved when needed. */
static int r7_passed(const struct wf_facts *f)
{
	return f->ident_passed != 0 && (f->needs_proof == 0 || f->proof_approved != 0);
}

/* R9: never both factors: uninstalling the app is not enough, it must be de-registered. */
static int r9_app_gone(const struct wf_facts *f)
{
	return f->app_registered == 0;
}

/*
 * R10: one factor only for advanced certificates and seals, with recorded consent.  The
 * factor belongs to the user (R3: shared access data), so any qualified certificate of the
 * user refuses it, not only the one the request names.
 */
static int r10_single(const struct wf_facts *f)
{
	if (f->cert_class != WF_CLASS_ADVANCED && f->cert_class != WF_CLASS_SEAL)
		return 0;
	return f->has_consent_ref != 0 && f->user_has_qualified == 0;
}

static int r13_keep_pin(const struct wf_facts *f)
{
	return f->pin_reset_requested == 0;
}

/* R14: certificateHold and anything unknown are refused, revocation is final. */
static int r14_reason(const struct wf_facts *f)
{
	switch (f->revoke_reason) {
	case WF_RSN_UNSPECIFIED:
	case WF_RSN_KEY_COMPROMISE:
	case WF_RSN_AFFILIATION_CHANGED:
	case WF_RSN_SUPERSEDED:
	case WF_RSN_CESSATION_OF_OPERATION:
	case WF_RSN_PRIVILEGE_WITHDRAWN:
		return 1;
	default:
		return 0;
	}
}

static int r15_new_issued(const struct wf_facts *f)
{
	return f->new_cert_issued != 0;
}

/* R17: reuse only within the configured period, and never for changed attributes. */
static int r17_reuse(const struct wf_facts *f)
{
	if (f->has_prior_ident == 0 || f->attrs_changed != 0)
		return 0;
	if (f->ident_reuse_max_days <= 0 || f->ident_age_days < 0)
		return 0;
	return f->ident_age_days <= f->ident_reuse_max_days;
}

static int r19_subject(const struct wf_facts *f)
{
	return f->actor_is_subject == 0;
}

/* R19: no approving one's own case, nor a request one created (four eyes). */
static int r19_approver(const struct wf_facts *f)
{
	return f->actor_is_subject == 0 && f->actor_opened_review == 0;
}

static int attempts_left(const struct wf_facts *f)
{
	return f->attempts >= 0 && f->attempts < f->max_attempts;
}

static const struct {
	const char *rule;
	wf_check_fn ok;
} guards[WF_G_COUNT] = {
	[WF_G_R1_CLASS] = {"R1", r1_class},
	[WF_G_R1_FACTOR] = {"R1", r1_factor},
	[WF_G_R2_FRESH_KEY] = {"R2", r2_fresh_key},
	[WF_G_R2_NEW_KEY] = {"R2", new_key},
	[WF_G_R4_PERSON] = {"R4", r4_person},
	[WF_G_R7_MATCH] = {"R7", r7_match},
	[WF_G_R7_PASSED] = {"R7", r7_passed},
	[WF_G_R9_APP_GONE] = {"R9", r9_app_gone},
	[WF_G_R10_SINGLE] = {"R10", r10_single},
	[WF_G_R12_NEW_KEY] = {"R12", new_key},
	[WF_G_R13_KEEP_PIN] = {"R13", r13_keep_pin},
	[WF_G_R14_REASON] = {"R14", r14_reason},
	[WF_G_R15_NEW_ISSUED] = {"R15", r15_new_issued},
	[WF_G_R17_REUSE] = {"R17", r17_reuse},
	[WF_G_R19_SUBJECT] = {"R19", r19_subject},
	[WF_G_R19_APPROVER] = {"R19", r19_approver},
	[WF_G_ATTEMPTS] = {"ATTEMPTS", attempts_left},
};

const char *wf_guard_rule(int guard)
{
	if (guard <= WF_G_NONE || guard >= WF_G_COUNT)
		return NULL;
	return guards[guard].rule;
}

int wf_guard_ok(int guard, const struct wf_facts *f)
{
	if (guard <= WF_G_NONE || guard >= WF_G_COUNT || f == NULL)
		return 0;
	return guards[guard].ok(f);
}
