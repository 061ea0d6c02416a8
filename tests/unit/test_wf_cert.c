/* test_wf_cert.c - unit tests for workflows/wf_cert.h: every pair, every guard (R1, R2, R7, R11, R12, R14, R15, R17, R19). */
#include "workflows/wf_cert.h"

#include "tests/unit/wf_walk.h"

#define C(x) WF_CERT_##x
#define AUD WF_ACT_AUDIT
#define SUPP (WF_ACT_NOTIFY_SUPPORT | WF_ACT_AUDIT)
#define PIN (WF_ACT_SEND_TRANSPORT_PIN | WF_ACT_AUDIT)
#define REPL (WF_ACT_ISSUE_REPLACEMENT | WF_ACT_AUDIT)
#define REV (WF_ACT_REVOKE | WF_ACT_NOTIFY_USER | WF_ACT_AUDIT)
#define X(s, e, n, a, rule)                                \
	{                                                  \
		C(s), C(e), C(n), (a), WF_RSN_NONE, (rule) \
	}
/* wf_facts_pass() carries keyCompromise for an explicit revoke. */
#define XR(s, e, n, rsn, rule)                       \
	{                                            \
		C(s), C(e), C(n), REV, (rsn), (rule) \
	}

/* Written from docs/workflows.md, not from wf_cert.c. */
static const struct exp_row expected[] = {
	X(REQUESTED, KEYGEN_DONE, KEY_GENERATED, AUD, "R1"),
	X(REQUESTED, ISSUE_FAILED, FAILED, SUPP, NULL),
	X(KEY_GENERATED, CA_ISSUED, ISSUED, PIN, "R7"),
	X(KEY_GENERATED, ISSUE_FAILED, FAILED, WF_ACT_DESTROY_KEY | SUPP, NULL),
	X(ISSUED, ACTIVATE, ACTIVE, AUD, "R1"),
	X(ISSUED, TRANSPORT_PIN_REISSUE, ISSUED, PIN, NULL),
	XR(ISSUED, REVOKE, REVOKED, WF_RSN_KEY_COMPROMISE, "R19"),
	X(ISSUED, EXPIRE, EXPIRED, AUD, NULL),
	X(ACTIVE, REKEY, SUPERSEDING, REPL, "R19"),
	X(ACTIVE, MODIFY, SUPERSEDING, REPL, "R19"),
	X(ACTIVE, PIN_LOST, SUPERSEDING, REPL, "R19"),
	XR(ACTIVE, REVOKE, REVOKED, WF_RSN_KEY_COMPROMISE, "R19"),
	X(ACTIVE, EXPIRE, EXPIRED, AUD, NULL),
	XR(SUPERSEDING, REPLACED, REVOKED, WF_RSN_SUPERSEDED, "R15"),
	XR(SUPERSEDING, REPLACED_AFFILIATION, REVOKED, WF_RSN_AFFILIATION_CHANGED, "R15"),
	X(SUPERSEDING, REPLACEMENT_FAILED, ACTIVE, SUPP, NULL),
	XR(SUPERSEDING, REVOKE, REVOKED, WF_RSN_KEY_COMPROMISE, "R19"),
	X(SUPERSEDING, EXPIRE, EXPIRED, AUD, NULL),
};

#define N_EXPECTED ((int)(sizeof(expected) / sizeof(expected[0])))
#define FINALS (1u << C(REVOKED) | 1u << C(EXPIRED) | 1u << C(FAILED))

Test(wf_cert, every_state_event_pair_matches_the_documented_table)
{
	cr_assert_eq(C(N_STATES), 8);
	cr_assert_eq(C(N_EVENTS), 13);
	wf_walk(&wf_cert, 8, 13, FINALS, expected, N_EXPECTED);
}

Test(wf_cert, names_are_stable_and_round_trip)
{
	static const char *const states[] = {
		"requested",   "key_generated", "issued",  "active",
		"superseding", "revoked",       "expired", "failed",
	};
	static const char *const events[] = {
		"keygen_done",
		"ca_issued",
		"issue_failed",
		"activate",
		"transport_pin_reissue",
		"rekey",
		"modify",
		"pin_lost",
		"replaced",
		"replaced_affiliation",
		"replacement_failed",
		"revoke",
		"expire",
	};

	wf_check_names(&wf_cert, states, 8, events, 13);
	cr_expect_str_eq(wf_machine_name(&wf_cert), "cert");
}

Test(wf_cert, r14_revoked_is_final_for_every_event)
{
	for (int e = 0; e < C(N_EVENTS); e++) {
		struct wf_facts f = wf_facts_pass();
		struct wf_result r;

		cr_expect_eq(wf_step(&wf_cert, C(REVOKED), e, &f, &r), WF_E_FINAL, "%s",
			     wf_event_name(&wf_cert, e));
		cr_expect_eq(r.next_state, C(REVOKED));
	}
}

Test(wf_cert, r14_revoke_takes_only_the_rfc5280_reasons_we_allow)
{
	static const int ok[] = {
		WF_RSN_UNSPECIFIED, WF_RSN_KEY_COMPROMISE,         WF_RSN_AFFILIATION_CHANGED,
		WF_RSN_SUPERSEDED,  WF_RSN_CESSATION_OF_OPERATION, WF_RSN_PRIVILEGE_WITHDRAWN,
	};
	/* cACompromise, certificateHold, removeFromCRL, aACompromise, junk */
	static const int bad[] = {2, 6, 8, 10, -1, 99};
	struct wf_facts f = wf_facts_pass();
	struct wf_result r;

	for (size_t i = 0; i < sizeof(ok) / sizeof(ok[0]); i++) {
		f.revoke_reason = ok[i];
		cr_expect_eq(wf_step(&wf_cert, C(ACTIVE), C(REVOKE), &f, &r), 0);
		cr_expect_eq(r.reason, ok[i], "the reason is passed through to the CA");
		cr_expect(r.actions & WF_ACT_REVOKE);
	}
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		f.revoke_reason = bad[i];
		cr_expect_str_eq(refused_by(&wf_cert, C(ACTIVE), C(REVOKE), &f), "R14", "%d", bad[i]);
	}
}

Test(wf_cert, r15_old_certificate_revoked_only_after_new_one_is_issued)
{
	struct wf_facts f = wf_facts_pass();
	struct wf_result r;

	f.new_cert_issued = 0;
	cr_expect_str_eq(refused_by(&wf_cert, C(SUPERSEDING), C(REPLACED), &f), "R15");
	cr_expect_str_eq(refused_by(&wf_cert, C(SUPERSEDING), C(REPLACED_AFFILIATION), &f), "R15");
	f.new_cert_issued = 1;
	cr_expect_eq(wf_step(&wf_cert, C(SUPERSEDING), C(REPLACED), &f, &r), 0);
	cr_expect_eq(r.next_state, C(REVOKED));
	cr_expect_eq(r.reason, WF_RSN_SUPERSEDED);
}

Test(wf_cert, r15_modification_of_affiliation_revokes_as_affiliation_changed)
{
	struct wf_facts f = wf_facts_pass();
	struct wf_result r;

	f.revoke_reason = WF_RSN_KEY_COMPROMISE; /* ignored: the row fixes the reason */
	cr_expect_eq(wf_step(&wf_cert, C(SUPERSEDING), C(REPLACED_AFFILIATION), &f, &r), 0);
	cr_expect_eq(r.reason, WF_RSN_AFFILIATION_CHANGED);
	cr_expect_str_eq(wf_reason_name(r.reason), "affiliationChanged");
}

Test(wf_cert, r15_rekey_keeps_old_certificate_usable_until_replaced)
{
	struct wf_facts f = wf_facts_pass();
	unsigned acts = 0;
	int s = step_ok(&wf_cert, C(ACTIVE), C(REKEY), &f, &acts);

	cr_expect_eq(s, C(SUPERSEDING));
	cr_expect(acts & WF_ACT_ISSUE_REPLACEMENT);
	cr_expect_not(acts & WF_ACT_REVOKE, "R15: no revocation when the re-key starts");
	cr_expect_eq(step_ok(&wf_cert, s, C(REPLACEMENT_FAILED), &f, NULL), C(ACTIVE));
}

Test(wf_cert, r12_lost_activation_pin_means_new_certificate_with_new_key)
{
	struct wf_facts f = wf_facts_pass();
	unsigned acts = 0;

	f.replacement_same_key = 1;
	cr_expect_str_eq(refused_by(&wf_cert, C(ACTIVE), C(PIN_LOST), &f), "R12");
	f.replacement_same_key = 0;
	cr_expect_eq(step_ok(&wf_cert, C(ACTIVE), C(PIN_LOST), &f, &acts), C(SUPERSEDING));
	cr_expect(acts & WF_ACT_ISSUE_REPLACEMENT);
}

Test(wf_cert, r12_activation_pin_is_set_once_never_again)
{
	struct wf_result r;

	/* activate is how the ActivationPIN gets set; from active it would be a reset. */
	cr_expect_eq(wf_step(&wf_cert, C(ACTIVE), C(ACTIVATE), NULL, &r), WF_E_NOT_ALLOWED);
	cr_expect_eq(wf_step(&wf_cert, C(SUPERSEDING), C(ACTIVATE), NULL, &r), WF_E_NOT_ALLOWED);
}

Test(wf_cert, r2_keygen_refuses_a_key_bound_to_another_certificate)
{
	struct wf_facts f = wf_facts_pass();

	f.key_in_use = 1;
	cr_expect_str_eq(refused_by(&wf_cert, C(REQUESTED), C(KEYGEN_DONE), &f), "R2");
}

Test(wf_cert, r2_keygen_refuses_a_key_of_the_other_class)
{
	struct wf_facts f = wf_facts_pass();

	f.cert_class = WF_CLASS_ADVANCED;
	f.key_class = WF_CLASS_QUALIFIED;
	cr_expect_str_eq(refused_by(&wf_cert, C(REQUESTED), C(KEYGEN_DONE), &f), "R2");
	f.cert_class = WF_CLASS_QUALIFIED;
	f.key_class = WF_CLASS_ADVANCED;
	cr_expect_str_eq(refused_by(&wf_cert, C(REQUESTED), C(KEYGEN_DONE), &f), "R2");
	f.key_class = WF_CLASS_QUALIFIED;
	cr_expect_eq(step_ok(&wf_cert, C(REQUESTED), C(KEYGEN_DONE), &f, NULL), C(KEY_GENERATED));
}

Test(wf_cert, r2_rekey_and_modify_make_a_new_key)
{
	struct wf_facts f = wf_facts_pass();

	f.replacement_same_key = 1;
	cr_expect_str_eq(refused_by(&wf_cert, C(ACTIVE), C(REKEY), &f), "R2");
	cr_expect_str_eq(refused_by(&wf_cert, C(ACTIVE), C(MODIFY), &f), "R2");
}

/* R4: organisation and function are a person's affiliation; a seal's organisation is its
 * subject.  A seal may be re-keyed (same subject) but not modified. */
Test(wf_cert, r4_a_seal_is_not_modified_but_may_be_rekeyed)
{
	struct wf_facts f = wf_facts_pass();

	f.cert_class = f.key_class = WF_CLASS_SEAL;
	cr_expect_str_eq(refused_by(&wf_cert, C(ACTIVE), C(MODIFY), &f), "R4");
	cr_expect_eq(step_ok(&wf_cert, C(ACTIVE), C(REKEY), &f, NULL), C(SUPERSEDING));
	for (int c = WF_CLASS_QUALIFIED; c <= WF_CLASS_ADVANCED; c++) {
		f.cert_class = f.key_class = c;
		cr_expect_eq(step_ok(&wf_cert, C(ACTIVE), C(MODIFY), &f, NULL), C(SUPERSEDING), "class %d",
			     c);
	}
}

Test(wf_cert, r2_key_of_a_failed_issuance_is_destroyed)
{
	unsigned acts = 0;

	cr_expect_eq(step_ok(&wf_cert, C(KEY_GENERATED), C(ISSUE_FAILED), NULL, &acts), C(FAILED));
	cr_expect(acts & WF_ACT_DESTROY_KEY);
}

Test(wf_cert, r1_keygen_refuses_an_unknown_class)
{
	struct wf_facts f = wf_facts_pass();

	f.cert_class = WF_CLASS_NONE;
	f.key_class = WF_CLASS_NONE;
	cr_expect_str_eq(refused_by(&wf_cert, C(REQUESTED), C(KEYGEN_DONE), &f), "R1");
}

Test(wf_cert, r1_qualified_certificate_activates_only_with_a_second_factor)
{
	struct wf_facts f = wf_facts_pass();

	f.cert_class = WF_CLASS_QUALIFIED;
	f.second_factor = WF_FACTOR_NONE;
	cr_expect_str_eq(refused_by(&wf_cert, C(ISSUED), C(ACTIVATE), &f), "R1");
	f.second_factor = WF_FACTOR_SMS;
	cr_expect_eq(step_ok(&wf_cert, C(ISSUED), C(ACTIVATE), &f, NULL), C(ACTIVE));
	f.second_factor = WF_FACTOR_APP;
	cr_expect_eq(step_ok(&wf_cert, C(ISSUED), C(ACTIVATE), &f, NULL), C(ACTIVE));
}

Test(wf_cert, r1_advanced_and_seal_activate_single_factor)
{
	struct wf_facts f = wf_facts_pass();

	f.second_factor = WF_FACTOR_NONE;
	f.cert_class = WF_CLASS_ADVANCED;
	cr_expect_eq(step_ok(&wf_cert, C(ISSUED), C(ACTIVATE), &f, NULL), C(ACTIVE));
	f.cert_class = WF_CLASS_SEAL;
	cr_expect_eq(step_ok(&wf_cert, C(ISSUED), C(ACTIVATE), &f, NULL), C(ACTIVE));
}

Test(wf_cert, r7_ca_issuance_refused_without_passed_identification)
{
	struct wf_facts f = wf_facts_pass();

	f.ident_passed = 0;
	cr_expect_str_eq(refused_by(&wf_cert, C(KEY_GENERATED), C(CA_ISSUED), &f), "R7");
	f.ident_passed = 1;
	f.needs_proof = 1;
	cr_expect_str_eq(refused_by(&wf_cert, C(KEY_GENERATED), C(CA_ISSUED), &f), "R7");
}

Test(wf_cert, r19_support_cannot_revoke_rekey_or_modify_own_certificate)
{
	static const int events[] = {C(REVOKE), C(REKEY), C(MODIFY), C(PIN_LOST)};
	struct wf_facts f = wf_facts_pass();

	f.actor_is_subject = 1;
	for (int i = 0; i < 4; i++)
		cr_expect_str_eq(refused_by(&wf_cert, C(ACTIVE), events[i], &f), "R19", "%s",
				 wf_event_name(&wf_cert, events[i]));
	cr_expect_str_eq(refused_by(&wf_cert, C(ISSUED), C(REVOKE), &f), "R19");
}

Test(wf_cert, r17_replacements_refused_when_the_identification_is_too_old_or_missing)
{
	static const int events[] = {C(REKEY), C(MODIFY), C(PIN_LOST)};

	for (int i = 0; i < 3; i++) {
		struct wf_facts f = wf_facts_pass();
		const char *en = wf_event_name(&wf_cert, events[i]);

		f.ident_reuse_max_days = 90;
		f.ident_age_days = 90;
		cr_expect_eq(step_ok(&wf_cert, C(ACTIVE), events[i], &f, NULL), C(SUPERSEDING), "%s", en);
		f.ident_age_days = 91;
		cr_expect_str_eq(refused_by(&wf_cert, C(ACTIVE), events[i], &f), "R17", "%s: too old", en);
		f.ident_age_days = 10;
		f.has_prior_ident = 0;
		cr_expect_str_eq(refused_by(&wf_cert, C(ACTIVE), events[i], &f), "R17", "%s: none", en);
		f.has_prior_ident = 1;
		f.ident_reuse_max_days = 0;
		cr_expect_str_eq(refused_by(&wf_cert, C(ACTIVE), events[i], &f), "R17", "%s: reuse off", en);
	}
}

Test(wf_cert, r11_transport_pin_reissued_only_before_activation)
{
	unsigned acts = 0;
	struct wf_result r;

	cr_expect_eq(step_ok(&wf_cert, C(ISSUED), C(TRANSPORT_PIN_REISSUE), NULL, &acts), C(ISSUED));
	cr_expect(acts & WF_ACT_SEND_TRANSPORT_PIN);
	cr_expect_eq(wf_step(&wf_cert, C(ACTIVE), C(TRANSPORT_PIN_REISSUE), NULL, &r), WF_E_NOT_ALLOWED);
}

Test(wf_cert, r11_issuance_sends_a_transport_pin)
{
	unsigned acts = 0;
	struct wf_facts f = wf_facts_pass();

	step_ok(&wf_cert, C(KEY_GENERATED), C(CA_ISSUED), &f, &acts);
	cr_expect(acts & WF_ACT_SEND_TRANSPORT_PIN);
}

Test(wf_cert, only_revocations_carry_a_reason)
{
	struct wf_facts f = wf_facts_pass();

	for (int s = 0; s < C(N_STATES); s++)
		for (int e = 0; e < C(N_EVENTS); e++) {
			struct wf_result r;

			if (wf_step(&wf_cert, s, e, &f, &r) != 0)
				continue;
			cr_expect_eq((r.actions & WF_ACT_REVOKE) != 0, r.reason != WF_RSN_NONE);
			cr_expect_eq(r.actions & WF_ACT_REVOKE ? r.next_state : C(REVOKED), C(REVOKED));
		}
}
