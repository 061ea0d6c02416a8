/* test_wf_order.c - unit tests for workflows/wf_order.h: every pair, every guard (R1, R7, R8, R17, R19). */
#include "workflows/wf_order.h"

#include "tests/unit/wf_walk.h"

#define O(x) WF_ORDER_##x
#define AUD WF_ACT_AUDIT
#define CUST (WF_ACT_NOTIFY_CUSTOMER | WF_ACT_AUDIT)
#define SUPP (WF_ACT_NOTIFY_SUPPORT | WF_ACT_AUDIT)
#define INV (WF_ACT_INVITE_IDENT | WF_ACT_AUDIT)
#define ISS (WF_ACT_ISSUE | WF_ACT_AUDIT)
#define X(s, e, n, a, rule)                                \
	{                                                  \
		O(s), O(e), O(n), (a), WF_RSN_NONE, (rule) \
	}

/* Written from docs/workflows.md, not from wf_order.c. */
static const struct exp_row expected[] = {
	X(AWAITING_PAYMENT, PAID, RECEIVED, INV, NULL),
	X(AWAITING_PAYMENT, SHOP_CANCEL, CANCELLED, AUD, NULL),
	X(AWAITING_PAYMENT, EXPIRE, CANCELLED, CUST, NULL),
	X(RECEIVED, IDENT_INVITE_SENT, IDENT_INVITED, AUD, NULL),
	X(RECEIVED, IDENT_REUSED, IDENT_PASSED, ISS, "R17"),
	X(RECEIVED, SHOP_CANCEL, CANCELLED, AUD, NULL),
	X(RECEIVED, EXPIRE, CANCELLED, CUST, NULL),
	X(IDENT_INVITED, IDENT_SUCCESS, IDENT_PASSED, ISS, "R7"),
	X(IDENT_INVITED, IDENT_SUCCESS_DATA_CHANGED, IN_REVIEW, SUPP, NULL),
	X(IDENT_INVITED, IDENT_MISMATCH, IN_REVIEW, SUPP, NULL),
	X(IDENT_INVITED, IDENT_FRAUD, REJECTED, SUPP, NULL),
	X(IDENT_INVITED, IDENT_ABORTED, IDENT_FAILED, CUST, NULL),
	X(IDENT_INVITED, SHOP_CANCEL, CANCELLED, AUD, NULL),
	X(IDENT_INVITED, EXPIRE, CANCELLED, CUST, NULL),
	X(IDENT_FAILED, IDENT_RETRY, RECEIVED, INV, "ATTEMPTS"),
	X(IDENT_FAILED, SHOP_CANCEL, CANCELLED, AUD, NULL),
	X(IDENT_FAILED, EXPIRE, CANCELLED, CUST, NULL),
	X(IDENT_PASSED, ISSUE_START, ISSUING, AUD, "R7"),
	X(IDENT_PASSED, PROOF_REQUIRED, IN_REVIEW, SUPP, NULL),
	X(IDENT_PASSED, SHOP_CANCEL, CANCELLED, AUD, NULL),
	X(IN_REVIEW, REVIEW_APPROVE, IDENT_PASSED, ISS, "R19"),
	X(IN_REVIEW, REVIEW_REJECT, REJECTED, CUST, NULL),
	X(IN_REVIEW, IDENT_FRAUD, REJECTED, SUPP, NULL),
	X(IN_REVIEW, SHOP_CANCEL, CANCELLED, AUD, NULL),
	X(ISSUING, ISSUE_DONE, ISSUED, WF_ACT_NOTIFY_USER_ID | WF_ACT_AUDIT, NULL),
	X(ISSUING, ISSUE_FAILED, IN_REVIEW, SUPP, NULL),
};

#define N_EXPECTED ((int)(sizeof(expected) / sizeof(expected[0])))
#define FINALS (1u << O(ISSUED) | 1u << O(REJECTED) | 1u << O(CANCELLED))

Test(wf_order, every_state_event_pair_matches_the_documented_table)
{
	cr_assert_eq(O(N_STATES), 10);
	cr_assert_eq(O(N_EVENTS), 17);
	wf_walk(&wf_order, 10, 17, FINALS, expected, N_EXPECTED);
}

Test(wf_order, names_are_stable_and_round_trip)
{
	static const char *const states[] = {
		"awaiting_payment", "received", "ident_invited", "ident_passed", "in_review",
		"ident_failed",     "issuing",  "issued",        "rejected",     "cancelled",
	};
	static const char *const events[] = {
		"paid",
		"ident_invite_sent",
		"ident_reused",
		"ident_success",
		"ident_success_data_changed",
		"ident_mismatch",
		"ident_fraud",
		"ident_aborted",
		"ident_retry",
		"proof_required",
		"review_approve",
		"review_reject",
		"issue_start",
		"issue_done",
		"issue_failed",
		"shop_cancel",
		"expire",
	};

	wf_check_names(&wf_order, states, 10, events, 17);
	cr_expect_str_eq(wf_machine_name(&wf_order), "order");
	/* Stored names are exact: no case folding, so one spelling per value. */
	cr_expect_eq(wf_state_parse(&wf_order, "ISSUED"), WF_E_INVALID);
}

Test(wf_order, happy_path_invites_issues_and_mails_user_id_r8)
{
	struct wf_facts f = wf_facts_pass();
	unsigned acts = 0;
	int s = O(AWAITING_PAYMENT);

	s = step_ok(&wf_order, s, O(PAID), &f, &acts);
	cr_expect(acts & WF_ACT_INVITE_IDENT);
	s = step_ok(&wf_order, s, O(IDENT_INVITE_SENT), &f, &acts);
	s = step_ok(&wf_order, s, O(IDENT_SUCCESS), &f, &acts);
	cr_expect(acts & WF_ACT_ISSUE);
	cr_expect_not(acts & WF_ACT_NOTIFY_USER_ID, "R8 mail only once the user exists");
	s = step_ok(&wf_order, s, O(ISSUE_START), &f, &acts);
	s = step_ok(&wf_order, s, O(ISSUE_DONE), &f, &acts);
	cr_expect_eq(s, O(ISSUED));
	cr_expect(acts & WF_ACT_NOTIFY_USER_ID, "R8: user ID mail after identification");
	cr_expect_eq(wf_is_final(&wf_order, s), 1);
}

Test(wf_order, r7_ident_success_refused_when_identity_does_not_match)
{
	struct wf_facts f = wf_facts_pass();

	f.ident_match = 0;
	cr_expect_str_eq(refused_by(&wf_order, O(IDENT_INVITED), O(IDENT_SUCCESS), &f), "R7");
	/* The caller's way for a mismatch is review, which is not guarded. */
	cr_expect_eq(step_ok(&wf_order, O(IDENT_INVITED), O(IDENT_MISMATCH), &f, NULL), O(IN_REVIEW));
}

Test(wf_order, r7_no_issue_before_ident_passed)
{
	struct wf_facts f = wf_facts_pass();

	f.ident_passed = 0;
	cr_expect_str_eq(refused_by(&wf_order, O(IDENT_PASSED), O(ISSUE_START), &f), "R7");
	f.ident_passed = 1;
	cr_expect_eq(step_ok(&wf_order, O(IDENT_PASSED), O(ISSUE_START), &f, NULL), O(ISSUING));
}

Test(wf_order, r7_no_issue_before_required_proof_is_approved)
{
	struct wf_facts f = wf_facts_pass();

	f.needs_proof = 1;
	cr_expect_str_eq(refused_by(&wf_order, O(IDENT_PASSED), O(ISSUE_START), &f), "R7");
	f.proof_approved = 1;
	cr_expect_eq(step_ok(&wf_order, O(IDENT_PASSED), O(ISSUE_START), &f, NULL), O(ISSUING));
}

/* Breadth-first over every transition the facts allow, from both entry states. */
static unsigned reachable(const struct wf_facts *f)
{
	unsigned seen = 1u << O(AWAITING_PAYMENT) | 1u << O(RECEIVED), done = 0;

	while (seen != done) {
		for (int s = 0; s < O(N_STATES); s++) {
			if (!((seen >> s) & 1u) || ((done >> s) & 1u))
				continue;
			done |= 1u << s;
			for (int e = 0; e < O(N_EVENTS); e++) {
				struct wf_result r;

				if (wf_step(&wf_order, s, e, f, &r) == 0)
					seen |= 1u << r.next_state;
			}
		}
	}
	return seen;
}

Test(wf_order, r7_issued_unreachable_without_passed_identification)
{
	struct wf_facts f = wf_facts_pass();

	cr_expect(reachable(&f) & (1u << O(ISSUED)), "control: reachable with all facts");
	/* Everything else allowed, even review approval: still no way to issued. */
	f.ident_match = 0;
	f.ident_passed = 0;
	f.has_prior_ident = 0;
	cr_expect_not(reachable(&f) & (1u << O(ISSUED)));
}

Test(wf_order, r1_issue_start_refuses_an_unknown_certificate_class)
{
	struct wf_facts f = wf_facts_pass();
	static const int known[] = {WF_CLASS_QUALIFIED, WF_CLASS_ADVANCED, WF_CLASS_SEAL};

	for (int i = 0; i < 3; i++) {
		f.cert_class = known[i];
		step_ok(&wf_order, O(IDENT_PASSED), O(ISSUE_START), &f, NULL);
	}
	f.cert_class = WF_CLASS_NONE;
	cr_expect_str_eq(refused_by(&wf_order, O(IDENT_PASSED), O(ISSUE_START), &f), "R1");
	f.cert_class = 4;
	cr_expect_str_eq(refused_by(&wf_order, O(IDENT_PASSED), O(ISSUE_START), &f), "R1");
}

Test(wf_order, r17_reuse_of_identification_only_within_configured_period)
{
	struct wf_facts f = wf_facts_pass();

	f.ident_reuse_max_days = 30;
	f.ident_age_days = 30;
	cr_expect_eq(step_ok(&wf_order, O(RECEIVED), O(IDENT_REUSED), &f, NULL), O(IDENT_PASSED));
	f.ident_age_days = 31;
	cr_expect_str_eq(refused_by(&wf_order, O(RECEIVED), O(IDENT_REUSED), &f), "R17");
	f.ident_age_days = -1;
	cr_expect_str_eq(refused_by(&wf_order, O(RECEIVED), O(IDENT_REUSED), &f), "R17");
}

Test(wf_order, r17_reuse_disabled_by_zero_period_and_without_prior_ident)
{
	struct wf_facts f = wf_facts_pass();

	f.ident_age_days = 0;
	f.ident_reuse_max_days = 0;
	cr_expect_str_eq(refused_by(&wf_order, O(RECEIVED), O(IDENT_REUSED), &f), "R17");
	f = wf_facts_pass();
	f.has_prior_ident = 0;
	cr_expect_str_eq(refused_by(&wf_order, O(RECEIVED), O(IDENT_REUSED), &f), "R17");
}

Test(wf_order, r17_changed_attributes_are_always_identified_again)
{
	struct wf_facts f = wf_facts_pass();

	f.ident_age_days = 1;
	f.attrs_changed = 1;
	cr_expect_str_eq(refused_by(&wf_order, O(RECEIVED), O(IDENT_REUSED), &f), "R17");
}

Test(wf_order, r19_support_user_who_is_the_subject_cannot_approve)
{
	struct wf_facts f = wf_facts_pass();

	f.actor_is_subject = 1;
	cr_expect_str_eq(refused_by(&wf_order, O(IN_REVIEW), O(REVIEW_APPROVE), &f), "R19");
}

Test(wf_order, r19_support_user_who_opened_the_review_cannot_approve)
{
	struct wf_facts f = wf_facts_pass();

	f.actor_opened_review = 1;
	cr_expect_str_eq(refused_by(&wf_order, O(IN_REVIEW), O(REVIEW_APPROVE), &f), "R19");
	/* Rejecting gives nobody a certificate: no four-eyes rule on it. */
	cr_expect_eq(step_ok(&wf_order, O(IN_REVIEW), O(REVIEW_REJECT), &f, NULL), O(REJECTED));
	f.actor_opened_review = 0;
	cr_expect_eq(step_ok(&wf_order, O(IN_REVIEW), O(REVIEW_APPROVE), &f, NULL), O(IDENT_PASSED));
}

Test(wf_order, ident_retry_bounded_by_attempts)
{
	struct wf_facts f = wf_facts_pass();

	f.max_attempts = 3;
	f.attempts = 2;
	cr_expect_eq(step_ok(&wf_order, O(IDENT_FAILED), O(IDENT_RETRY), &f, NULL), O(RECEIVED));
	f.attempts = 3;
	cr_expect_str_eq(refused_by(&wf_order, O(IDENT_FAILED), O(IDENT_RETRY), &f), "ATTEMPTS");
	f.max_attempts = 0;
	f.attempts = 0;
	cr_expect_str_eq(refused_by(&wf_order, O(IDENT_FAILED), O(IDENT_RETRY), &f), "ATTEMPTS");
}

Test(wf_order, ident_fraud_rejects_for_good)
{
	struct wf_result r;

	cr_expect_eq(step_ok(&wf_order, O(IDENT_INVITED), O(IDENT_FRAUD), NULL, NULL), O(REJECTED));
	cr_expect_eq(wf_step(&wf_order, O(REJECTED), O(REVIEW_APPROVE), NULL, &r), WF_E_FINAL);
	cr_expect_eq(wf_step(&wf_order, O(REJECTED), O(IDENT_RETRY), NULL, &r), WF_E_FINAL);
}

Test(wf_order, shop_cancel_only_before_issuance_starts)
{
	for (int s = 0; s < O(N_STATES); s++) {
		struct wf_result r;
		int rc = wf_step(&wf_order, s, O(SHOP_CANCEL), NULL, &r);
		int before = s != O(ISSUING) && s != O(ISSUED) && s != O(REJECTED) && s != O(CANCELLED);

		if (before) {
			cr_expect_eq(rc, 0, "%s", wf_state_name(&wf_order, s));
			cr_expect_eq(r.next_state, O(CANCELLED));
		} else {
			cr_expect_neq(rc, 0, "%s", wf_state_name(&wf_order, s));
		}
	}
}

Test(wf_order, guarded_steps_refuse_with_null_facts)
{
	struct wf_result r;

	cr_expect_eq(wf_step(&wf_order, O(IDENT_PASSED), O(ISSUE_START), NULL, &r), WF_E_GUARD);
	cr_expect_str_eq(r.rule, "R7");
	cr_expect_eq(wf_step(&wf_order, O(RECEIVED), O(IDENT_REUSED), NULL, &r), WF_E_GUARD);
	cr_expect_str_eq(r.rule, "R17");
}

Test(wf_order, out_of_range_numbers_are_invalid)
{
	struct wf_result r;

	cr_expect_eq(wf_step(&wf_order, -1, O(PAID), NULL, &r), WF_E_INVALID);
	cr_expect_eq(wf_step(&wf_order, O(N_STATES), O(PAID), NULL, &r), WF_E_INVALID);
	cr_expect_eq(wf_step(&wf_order, O(RECEIVED), O(N_EVENTS), NULL, &r), WF_E_INVALID);
	cr_expect_eq(wf_step(NULL, 0, 0, NULL, &r), WF_E_INVALID);
	cr_expect_eq(wf_step(&wf_order, O(AWAITING_PAYMENT), O(PAID), NULL, NULL), 0);
}
