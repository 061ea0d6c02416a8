/*
 * wf_walk.h - shared by the test_wf_*.c files: walks every (state, event) pair of a machine
 * and compares wf_step() with an expected table the test writes out by hand, so a slip in
 * a machine's table and the same slip in its test would have to be made twice.
 *
 * Header-only (static functions) because each test is its own program.
 */
#ifndef WF_WALK_H
#define WF_WALK_H

#include "workflows/wf.h"

#include <criterion/criterion.h>
#include <string.h>

/* One allowed transition as the test expects it. */
struct exp_row {
	int s, e, next;
	unsigned actions;
	int reason; /* with wf_facts_pass(): WF_RSN_* */
	const char *rule; /* rule named when wf_facts_fail() is passed; NULL: no guard */
};

/* Facts under which every guard of every machine agrees. */
static inline struct wf_facts wf_facts_pass(void)
{
	struct wf_facts f = {0};

	f.cert_class = WF_CLASS_ADVANCED;
	f.key_class = WF_CLASS_ADVANCED;
	f.second_factor = WF_FACTOR_SMS;
	f.ident_match = 1;
	f.ident_passed = 1;
	f.has_prior_ident = 1;
	f.ident_age_days = 10;
	f.ident_reuse_max_days = 30;
	f.attempts = 1;
	f.max_attempts = 3;
	f.has_consent_ref = 1;
	f.new_cert_issued = 1;
	f.revoke_reason = WF_RSN_KEY_COMPROMISE;
	return f;
}

/* Facts under which every guard of every machine refuses. */
static inline struct wf_facts wf_facts_fail(void)
{
	struct wf_facts f = {0};

	f.actor_is_subject = 1;
	f.actor_opened_review = 1;
	f.cert_class = WF_CLASS_NONE;
	f.key_class = WF_CLASS_QUALIFIED;
	f.key_in_use = 1;
	f.replacement_same_key = 1;
	f.user_has_qualified = 1;
	f.second_factor = WF_FACTOR_NONE;
	f.needs_proof = 1;
	f.ident_age_days = 400;
	f.ident_reuse_max_days = 30;
	f.attrs_changed = 1;
	f.attempts = 3;
	f.max_attempts = 3;
	f.app_registered = 1;
	f.pin_reset_requested = 1;
	f.revoke_reason = 6; /* certificateHold: never, revocation is final (R14) */
	return f;
}

static inline const struct exp_row *exp_find(const struct exp_row *x, int n, int s, int e)
{
	for (int i = 0; i < n; i++)
		if (x[i].s == s && x[i].e == e)
			return &x[i];
	return NULL;
}

/* A refused step leaves everything as it was. */
static inline void expect_unchanged(const struct wf_result *r, int s)
{
	cr_expect_eq(r->next_state, s);
	cr_expect_eq(r->actions, 0u);
	cr_expect_eq(r->reason, WF_RSN_NONE);
}

/* Checks one allowed pair, with passing facts and with failing facts. */
static inline void walk_allowed(const struct wf_machine *m, const struct exp_row *x)
{
	struct wf_facts pass = wf_facts_pass(), fail = wf_facts_fail();
	struct wf_result r;
	const char *sn = wf_state_name(m, x->s), *en = wf_event_name(m, x->e);
	int rc = wf_step(m, x->s, x->e, &pass, &r);

	cr_expect_eq(rc, 0, "%s/%s: %s", sn, en, wf_strerror(rc));
	cr_expect_eq(r.next_state, x->next, "%s/%s: next %s", sn, en, wf_state_name(m, r.next_state));
	cr_expect_eq(r.actions, x->actions, "%s/%s: actions %#x", sn, en, r.actions);
	cr_expect_eq(r.reason, x->reason, "%s/%s: reason %d", sn, en, r.reason);
	cr_expect_null(r.rule, "%s/%s", sn, en);

	rc = wf_step(m, x->s, x->e, &fail, &r);
	if (x->rule == NULL) {
		cr_expect_eq(rc, 0, "%s/%s has no guard but refused", sn, en);
		cr_expect_eq(r.next_state, x->next, "%s/%s", sn, en);
		return;
	}
	cr_expect_eq(rc, WF_E_GUARD, "%s/%s should be guarded by %s", sn, en, x->rule);
	cr_expect(r.rule != NULL && strcmp(r.rule, x->rule) == 0, "%s/%s: rule %s, want %s", sn, en,
		  r.rule ? r.rule : "(null)", x->rule);
	expect_unchanged(&r, x->s);
}

/* Checks a pair that must be refused whatever the facts. */
static inline void walk_refused(const struct wf_machine *m, int s, int e, int want)
{
	struct wf_facts pass = wf_facts_pass(), fail = wf_facts_fail();
	struct wf_result r;

	cr_expect_eq(wf_step(m, s, e, &pass, &r), want, "%s/%s", wf_state_name(m, s), wf_event_name(m, e));
	expect_unchanged(&r, s);
	cr_expect_null(r.rule);
	cr_expect_eq(wf_step(m, s, e, &fail, &r), want);
	cr_expect_eq(wf_step(m, s, e, NULL, &r), want);
}

/*
 * Every pair of states x events, each exactly once.  Fails unless the number of checked
 * pairs is n_states * n_events and every expected row was met exactly once.
 */
static inline void wf_walk(const struct wf_machine *m, int n_states, int n_events, unsigned final_mask,
			   const struct exp_row *exp, int n_exp)
{
	int checked = 0, allowed = 0;

	cr_assert_eq(wf_machine_check(m), 0, "table of %s is malformed", wf_machine_name(m));
	cr_assert_eq(wf_state_count(m), n_states);
	cr_assert_eq(wf_event_count(m), n_events);
	for (int s = 0; s < n_states; s++) {
		int is_final = (final_mask >> s) & 1u;

		cr_expect_eq(wf_is_final(m, s), is_final, "%s", wf_state_name(m, s));
		for (int e = 0; e < n_events; e++) {
			const struct exp_row *x = exp_find(exp, n_exp, s, e);

			if (is_final) {
				cr_expect_null(x, "expected table has a row out of final state");
				walk_refused(m, s, e, WF_E_FINAL);
			} else if (x != NULL) {
				walk_allowed(m, x);
				allowed++;
			} else {
				walk_refused(m, s, e, WF_E_NOT_ALLOWED);
			}
			checked++;
		}
	}
	cr_assert_eq(checked, n_states * n_events, "checked %d pairs", checked);
	cr_assert_eq(allowed, n_exp, "expected rows met: %d of %d (duplicate?)", allowed, n_exp);
	cr_assert_eq(wf_transition_count(m), n_exp, "machine has rows the test does not expect");
}

/* Names: exact list, lowercase, and parse(name(x)) == x. */
static inline void wf_check_names(const struct wf_machine *m, const char *const *states, int n_states,
				  const char *const *events, int n_events)
{
	for (int s = 0; s < n_states; s++) {
		const char *n = wf_state_name(m, s);

		cr_assert_not_null(n);
		cr_expect_str_eq(n, states[s]);
		cr_expect_eq(strspn(n, "abcdefghijklmnopqrstuvwxyz_"), strlen(n), "%s", n);
		cr_expect_eq(wf_state_parse(m, n), s, "%s", n);
	}
	for (int e = 0; e < n_events; e++) {
		const char *n = wf_event_name(m, e);

		cr_assert_not_null(n);
		cr_expect_str_eq(n, events[e]);
		cr_expect_eq(strspn(n, "abcdefghijklmnopqrstuvwxyz_"), strlen(n), "%s", n);
		cr_expect_eq(wf_event_parse(m, n), e, "%s", n);
	}
	cr_expect_null(wf_state_name(m, -1));
	cr_expect_null(wf_state_name(m, n_states));
	cr_expect_null(wf_event_name(m, n_events));
	cr_expect_eq(wf_state_parse(m, "no_such_state"), WF_E_INVALID);
	cr_expect_eq(wf_event_parse(m, "no_such_event"), WF_E_INVALID);
	cr_expect_eq(wf_state_parse(m, NULL), WF_E_INVALID);
	cr_expect_eq(wf_event_parse(m, ""), WF_E_INVALID);
}

/* Shorthand for a single step the test expects to succeed. */
static inline int step_ok(const struct wf_machine *m, int s, int e, const struct wf_facts *f, unsigned *acts)
{
	struct wf_result r;
	int rc = wf_step(m, s, e, f, &r);

	cr_assert_eq(rc, 0, "%s/%s: %s (%s)", wf_state_name(m, s), wf_event_name(m, e), wf_strerror(rc),
		     r.rule ? r.rule : "-");
	if (acts != NULL)
		*acts |= r.actions;
	return r.next_state;
}

/* Shorthand: the rule that refuses, or "" when the step is not refused by a guard. */
static inline const char *refused_by(const struct wf_machine *m, int s, int e, const struct wf_facts *f)
{
	struct wf_result r;
	int rc = wf_step(m, s, e, f, &r);

	if (rc != WF_E_GUARD)
		return "";
	cr_expect_eq(r.next_state, s);
	cr_expect_eq(r.actions, 0u);
	return r.rule;
}

#endif
