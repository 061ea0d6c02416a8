/* test_wf_user.c - unit tests for workflows/wf_user.h: every pair, every guard (R9, R10, R12, R13). */
#include "workflows/wf_cert.h"
#include "workflows/wf_order.h"
#include "workflows/wf_user.h"

#include "tests/unit/wf_walk.h"

#define U(x) WF_USER_##x
#define AUD WF_ACT_AUDIT
#define A_LOCK (WF_ACT_NOTIFY_USER | WF_ACT_AUDIT)
#define A_UNLOCK (WF_ACT_KEEP_PIN | WF_ACT_NOTIFY_USER | WF_ACT_AUDIT)
#define A_REKEY (WF_ACT_REKEY | WF_ACT_AUDIT)
#define A_CLOSE (WF_ACT_REVOKE_ALL | WF_ACT_AUDIT)
#define X(s, e, n, a, rule)                                \
	{                                                  \
		U(s), U(e), U(n), (a), WF_RSN_NONE, (rule) \
	}

/* Written from docs/workflows.md, not from wf_user.c. */
static const struct exp_row expected[] = {
	X(PENDING, ACTIVATE, ACTIVE_SMS, AUD, NULL),
	X(PENDING, CLOSE, CLOSED, A_CLOSE, NULL),

	X(ACTIVE_SMS, FACTOR_APP, ACTIVE_APP, AUD, NULL),
	X(ACTIVE_SMS, FACTOR_SINGLE, ACTIVE_SINGLE, AUD, "R10"),
	X(ACTIVE_SMS, LOCK, LOCKED_SMS, A_LOCK, NULL),
	X(ACTIVE_SMS, PIN_LOST, ACTIVE_SMS, A_REKEY, NULL),
	X(ACTIVE_SMS, CLOSE, CLOSED, A_CLOSE, NULL),

	X(ACTIVE_APP, FACTOR_APP, ACTIVE_APP, AUD, NULL),
	X(ACTIVE_APP, FACTOR_SMS, ACTIVE_SMS, AUD, "R9"),
	X(ACTIVE_APP, FACTOR_SINGLE, ACTIVE_SINGLE, AUD, "R10"),
	X(ACTIVE_APP, LOCK, LOCKED_APP, A_LOCK, NULL),
	X(ACTIVE_APP, PIN_LOST, ACTIVE_APP, A_REKEY, NULL),
	X(ACTIVE_APP, CLOSE, CLOSED, A_CLOSE, NULL),

	X(ACTIVE_SINGLE, FACTOR_SMS, ACTIVE_SMS, AUD, NULL),
	X(ACTIVE_SINGLE, FACTOR_APP, ACTIVE_APP, AUD, NULL),
	X(ACTIVE_SINGLE, LOCK, LOCKED_SINGLE, A_LOCK, NULL),
	X(ACTIVE_SINGLE, PIN_LOST, ACTIVE_SINGLE, A_REKEY, NULL),
	X(ACTIVE_SINGLE, CLOSE, CLOSED, A_CLOSE, NULL),

	X(LOCKED_SMS, UNLOCK, ACTIVE_SMS, A_UNLOCK, "R13"),
	X(LOCKED_SMS, PIN_LOST, LOCKED_SMS, A_REKEY, NULL),
	X(LOCKED_SMS, CLOSE, CLOSED, A_CLOSE, NULL),
	X(LOCKED_APP, UNLOCK, ACTIVE_APP, A_UNLOCK, "R13"),
	X(LOCKED_APP, PIN_LOST, LOCKED_APP, A_REKEY, NULL),
	X(LOCKED_APP, CLOSE, CLOSED, A_CLOSE, NULL),
	X(LOCKED_SINGLE, UNLOCK, ACTIVE_SINGLE, A_UNLOCK, "R13"),
	X(LOCKED_SINGLE, PIN_LOST, LOCKED_SINGLE, A_REKEY, NULL),
	X(LOCKED_SINGLE, CLOSE, CLOSED, A_CLOSE, NULL),
};

#define N_EXPECTED ((int)(sizeof(expected) / sizeof(expected[0])))

Test(wf_user, every_state_event_pair_matches_the_documented_table)
{
	cr_assert_eq(U(N_STATES), 8);
	cr_assert_eq(U(N_EVENTS), 8);
	wf_walk(&wf_user, 8, 8, 1u << U(CLOSED), expected, N_EXPECTED);
}

Test(wf_user, names_are_stable_and_round_trip)
{
	static const char *const states[] = {
		"pending",    "active_sms", "active_app",    "active_single",
		"locked_sms", "locked_app", "locked_single", "closed",
	};
	static const char *const events[] = {
		"activate", "factor_sms", "factor_app", "factor_single",
		"lock",     "unlock",     "pin_lost",   "close",
	};

	wf_check_names(&wf_user, states, 8, events, 8);
	cr_expect_str_eq(wf_machine_name(&wf_user), "user");
}

Test(wf_user, r9_switching_to_sms_requires_app_deregistration)
{
	struct wf_facts f = wf_facts_pass();

	f.app_registered = 1; /* uninstalled, perhaps, but still registered */
	cr_expect_str_eq(refused_by(&wf_user, U(ACTIVE_APP), U(FACTOR_SMS), &f), "R9");
	f.app_registered = 0;
	cr_expect_eq(step_ok(&wf_user, U(ACTIVE_APP), U(FACTOR_SMS), &f, NULL), U(ACTIVE_SMS));
}

Test(wf_user, r9_app_registration_stops_sms)
{
	cr_expect_eq(step_ok(&wf_user, U(ACTIVE_SMS), U(FACTOR_APP), NULL, NULL), U(ACTIVE_APP));
	cr_expect_eq(step_ok(&wf_user, U(ACTIVE_APP), U(FACTOR_APP), NULL, NULL), U(ACTIVE_APP));
}

Test(wf_user, r9_exactly_one_factor_no_switch_while_locked)
{
	struct wf_result r;
	static const int locked[] = {U(LOCKED_SMS), U(LOCKED_APP), U(LOCKED_SINGLE)};
	static const int factor[] = {U(FACTOR_SMS), U(FACTOR_APP), U(FACTOR_SINGLE)};

	cr_expect_eq(wf_step(&wf_user, U(ACTIVE_SMS), U(FACTOR_SMS), NULL, &r), WF_E_NOT_ALLOWED);
	for (int i = 0; i < 3; i++)
		for (int j = 0; j < 3; j++)
			cr_expect_eq(wf_step(&wf_user, locked[i], factor[j], NULL, &r), WF_E_NOT_ALLOWED);
}

Test(wf_user, r9_single_factor_from_app_needs_deregistration)
{
	struct wf_facts f = wf_facts_pass();

	f.app_registered = 1;
	cr_expect_str_eq(refused_by(&wf_user, U(ACTIVE_APP), U(FACTOR_SINGLE), &f), "R9");
}

Test(wf_user, r10_single_factor_never_for_qualified)
{
	struct wf_facts f = wf_facts_pass();

	f.cert_class = WF_CLASS_QUALIFIED;
	cr_expect_str_eq(refused_by(&wf_user, U(ACTIVE_SMS), U(FACTOR_SINGLE), &f), "R10");
	/* R10 is named before R9: lawfulness is the answer that matters. */
	f.app_registered = 1;
	cr_expect_str_eq(refused_by(&wf_user, U(ACTIVE_APP), U(FACTOR_SINGLE), &f), "R10");
}

Test(wf_user, r10_single_factor_needs_a_recorded_consent)
{
	struct wf_facts f = wf_facts_pass();

	f.has_consent_ref = 0;
	cr_expect_str_eq(refused_by(&wf_user, U(ACTIVE_SMS), U(FACTOR_SINGLE), &f), "R10");
}

Test(wf_user, r10_single_factor_refused_while_user_holds_a_qualified_certificate)
{
	struct wf_facts f = wf_facts_pass();

	f.user_has_qualified = 1;
	cr_expect_str_eq(refused_by(&wf_user, U(ACTIVE_SMS), U(FACTOR_SINGLE), &f), "R10");
}

Test(wf_user, r10_single_factor_allowed_for_advanced_and_seal_with_consent)
{
	struct wf_facts f = wf_facts_pass();

	f.cert_class = WF_CLASS_ADVANCED;
	cr_expect_eq(step_ok(&wf_user, U(ACTIVE_SMS), U(FACTOR_SINGLE), &f, NULL), U(ACTIVE_SINGLE));
	f.cert_class = WF_CLASS_SEAL;
	cr_expect_eq(step_ok(&wf_user, U(ACTIVE_APP), U(FACTOR_SINGLE), &f, NULL), U(ACTIVE_SINGLE));
}

Test(wf_user, r13_unlock_restores_previous_pin_and_factor)
{
	static const int locked[] = {U(LOCKED_SMS), U(LOCKED_APP), U(LOCKED_SINGLE)};
	static const int active[] = {U(ACTIVE_SMS), U(ACTIVE_APP), U(ACTIVE_SINGLE)};

	for (int i = 0; i < 3; i++) {
		unsigned acts = 0;

		cr_expect_eq(step_ok(&wf_user, active[i], U(LOCK), NULL, NULL), locked[i]);
		cr_expect_eq(step_ok(&wf_user, locked[i], U(UNLOCK), NULL, &acts), active[i]);
		cr_expect(acts & WF_ACT_KEEP_PIN, "R13: unlock keeps the ActivationPIN");
	}
}

Test(wf_user, r13_unlock_with_pin_reset_is_refused)
{
	struct wf_facts f = wf_facts_pass();

	f.pin_reset_requested = 1;
	cr_expect_str_eq(refused_by(&wf_user, U(LOCKED_SMS), U(UNLOCK), &f), "R13");
}

Test(wf_user, r12_lost_pin_asks_for_rekey_and_keeps_the_state)
{
	for (int s = U(ACTIVE_SMS); s <= U(LOCKED_SINGLE); s++) {
		unsigned acts = 0;

		cr_expect_eq(step_ok(&wf_user, s, U(PIN_LOST), NULL, &acts), s);
		cr_expect(acts & WF_ACT_REKEY, "R12: a new key, never a PIN reset");
	}
}

static int mentions_reset(const char *name)
{
	return name != NULL && strstr(name, "reset") != NULL;
}

Test(wf_user, r12_no_machine_has_a_pin_reset_event_or_action)
{
	const struct wf_machine *ms[] = {&wf_order, &wf_cert, &wf_user};

	for (int i = 0; i < 3; i++)
		for (int e = 0; e < wf_event_count(ms[i]); e++)
			cr_expect_not(mentions_reset(wf_event_name(ms[i], e)), "%s", wf_event_name(ms[i], e));
	for (int b = 0; b < WF_ACT_COUNT; b++)
		cr_expect_not(mentions_reset(wf_action_name(1u << b)));
}

Test(wf_user, close_revokes_every_certificate)
{
	for (int s = 0; s < U(CLOSED); s++) {
		unsigned acts = 0;

		cr_expect_eq(step_ok(&wf_user, s, U(CLOSE), NULL, &acts), U(CLOSED));
		cr_expect(acts & WF_ACT_REVOKE_ALL);
	}
}
