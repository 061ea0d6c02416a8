/* test_wf_phone.c - unit tests for workflows/wf_phone.h: every pair, every guard (R3, R7, R19). */
#include "workflows/wf_phone.h"

#include "tests/unit/wf_walk.h"

#define P(x) WF_PHONE_##x
#define AUD WF_ACT_AUDIT
#define A_CODE (WF_ACT_SEND_PHONE_CODE | WF_ACT_AUDIT)
#define A_DONE (WF_ACT_NOTIFY_OLD_NUMBER | WF_ACT_AUDIT)
#define X(s, e, n, a, rule)                                \
	{                                                  \
		P(s), P(e), P(n), (a), WF_RSN_NONE, (rule) \
	}

/* Written from docs/workflows.md, not from wf_phone.c. */
static const struct exp_row expected[] = {
	X(AWAITING_PROOF, APPROVE, AWAITING_CODE, A_CODE, "R19"),
	X(AWAITING_PROOF, IDENT_PASSED, AWAITING_CODE, A_CODE, "R7"),
	X(AWAITING_PROOF, IDENT_FAILED, CANCELLED, AUD, NULL),
	X(AWAITING_PROOF, CANCEL, CANCELLED, AUD, NULL),
	X(AWAITING_CODE, CODE_WRONG, AWAITING_CODE, AUD, NULL),
	X(AWAITING_CODE, CODE_BLOCKED, CANCELLED, AUD, NULL),
	X(AWAITING_CODE, CONFIRM, COMPLETED, A_DONE, NULL),
	X(AWAITING_CODE, CANCEL, CANCELLED, AUD, NULL),
};

#define N_EXPECTED ((int)(sizeof(expected) / sizeof(expected[0])))

Test(wf_phone, every_state_event_pair_matches_the_documented_table)
{
	cr_assert_eq(P(N_STATES), 4);
	cr_assert_eq(P(N_EVENTS), 7);
	wf_walk(&wf_phone, 4, 7, 1u << P(COMPLETED) | 1u << P(CANCELLED), expected, N_EXPECTED);
}

Test(wf_phone, names_are_stable_and_round_trip)
{
	static const char *const states[] = {"awaiting_proof", "awaiting_code", "completed", "cancelled"};
	static const char *const events[] = {"approve",      "ident_passed", "ident_failed", "code_wrong",
					     "code_blocked", "confirm",      "cancel"};

	wf_check_names(&wf_phone, states, 4, events, 7);
	cr_expect_str_eq(wf_machine_name(&wf_phone), "phone");
	cr_expect_str_eq(wf_action_name(WF_ACT_SEND_PHONE_CODE), "send_phone_code");
	cr_expect_str_eq(wf_action_name(WF_ACT_NOTIFY_OLD_NUMBER), "notify_old_number");
}

Test(wf_phone, r19_the_requester_never_approves_their_own_change)
{
	struct wf_facts f = wf_facts_pass();

	f.actor_opened_review = 1;
	cr_expect_str_eq(refused_by(&wf_phone, P(AWAITING_PROOF), P(APPROVE), &f), "R19");
	f.actor_opened_review = 0;
	f.actor_is_subject = 1;
	cr_expect_str_eq(refused_by(&wf_phone, P(AWAITING_PROOF), P(APPROVE), &f), "R19");
	f.actor_is_subject = 0;
	cr_expect_eq(step_ok(&wf_phone, P(AWAITING_PROOF), P(APPROVE), &f, NULL), P(AWAITING_CODE));
}

Test(wf_phone, r7_only_a_matching_identification_is_proof)
{
	struct wf_facts f = wf_facts_pass();

	f.ident_match = 0;
	cr_expect_str_eq(refused_by(&wf_phone, P(AWAITING_PROOF), P(IDENT_PASSED), &f), "R7");
}

Test(wf_phone, r3_no_completion_without_proof_and_code)
{
	struct wf_result r;

	/* the code is confirmed only after proof; proof alone completes nothing */
	cr_expect_eq(wf_step(&wf_phone, P(AWAITING_PROOF), P(CONFIRM), NULL, &r), WF_E_NOT_ALLOWED);
	cr_expect_eq(wf_step(&wf_phone, P(AWAITING_PROOF), P(CODE_WRONG), NULL, &r), WF_E_NOT_ALLOWED);
	for (int e = 0; e < P(N_EVENTS); e++) {
		struct wf_facts f = wf_facts_pass();
		if (wf_step(&wf_phone, P(AWAITING_PROOF), e, &f, &r) == 0)
			cr_expect_neq(r.next_state, P(COMPLETED), "%s", wf_event_name(&wf_phone, e));
	}
	cr_expect_eq(wf_step(&wf_phone, P(COMPLETED), P(CANCEL), NULL, &r), WF_E_FINAL);
	cr_expect_eq(wf_step(&wf_phone, P(CANCELLED), P(CONFIRM), NULL, &r), WF_E_FINAL);
}
