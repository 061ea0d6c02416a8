/* test_wf_engine.c - unit tests for workflows/wf.h: action and reason names, errors, table checks. */
#include "workflows/wf_cert.h"
#include "workflows/wf_order.h"
#include "workflows/wf_phone.h"
#include "workflows/wf_user.h"

#include <criterion/criterion.h>
#include <string.h>

Test(wf_engine, every_machine_table_passes_its_self_check)
{
	cr_expect_eq(wf_machine_check(&wf_order), 0);
	cr_expect_eq(wf_machine_check(&wf_cert), 0);
	cr_expect_eq(wf_machine_check(&wf_user), 0);
	cr_expect_eq(wf_machine_check(&wf_phone), 0);
	cr_expect_eq(wf_machine_check(NULL), WF_E_INVALID);
}

Test(wf_engine, action_names_round_trip_and_are_distinct)
{
	for (int i = 0; i < WF_ACT_COUNT; i++) {
		const char *n = wf_action_name(1u << i);

		cr_assert_not_null(n, "bit %d", i);
		cr_expect_eq(wf_action_parse(n), 1u << i, "%s", n);
		for (int j = 0; j < i; j++)
			cr_expect_str_neq(n, wf_action_name(1u << j));
	}
	cr_expect_null(wf_action_name(0));
	cr_expect_null(wf_action_name(WF_ACT_AUDIT | WF_ACT_ISSUE), "one bit only");
	cr_expect_null(wf_action_name(1u << WF_ACT_COUNT));
	cr_expect_eq(wf_action_parse("nope"), 0u);
	cr_expect_eq(wf_action_parse(NULL), 0u);
}

Test(wf_engine, r8_r11_action_names_are_stable)
{
	cr_expect_str_eq(wf_action_name(WF_ACT_NOTIFY_USER_ID), "notify_user_id");
	cr_expect_str_eq(wf_action_name(WF_ACT_SEND_TRANSPORT_PIN), "send_transport_pin");
	cr_expect_str_eq(wf_action_name(WF_ACT_KEEP_PIN), "keep_pin");
}

Test(wf_engine, action_list_is_comma_separated_in_bit_order)
{
	char buf[128];
	unsigned acts = WF_ACT_NOTIFY_USER_ID | WF_ACT_AUDIT | WF_ACT_ISSUE;

	cr_expect_eq(wf_action_names(acts, buf, sizeof(buf)), 26);
	cr_expect_str_eq(buf, "audit,issue,notify_user_id");
	cr_expect_eq(wf_action_names(0, buf, sizeof(buf)), 0);
	cr_expect_str_eq(buf, "");
}

Test(wf_engine, action_list_truncates_safely_and_reports_needed_length)
{
	char buf[8];

	memset(buf, 'x', sizeof(buf));
	cr_expect_eq(wf_action_names(WF_ACT_AUDIT | WF_ACT_ISSUE, buf, 8), 11);
	cr_expect_str_eq(buf, "audit,i");
	cr_expect_eq(wf_action_names(WF_ACT_AUDIT, NULL, 0), 5, "size query");
	cr_expect_eq(wf_action_names(WF_ACT_AUDIT, buf, 1), 5);
	cr_expect_str_eq(buf, "");
	cr_expect_eq(wf_action_names(1u << 31, buf, sizeof(buf)), WF_E_INVALID);
	cr_expect_eq(wf_action_names(WF_ACT_AUDIT, NULL, 4), WF_E_INVALID);
}

Test(wf_engine, r14_reason_names_use_rfc5280_spelling)
{
	static const struct {
		int code;
		const char *name;
	} want[] = {
		{0, "unspecified"}, {1, "keyCompromise"},        {3, "affiliationChanged"},
		{4, "superseded"},  {5, "cessationOfOperation"}, {9, "privilegeWithdrawn"},
	};

	for (size_t i = 0; i < sizeof(want) / sizeof(want[0]); i++) {
		cr_expect_str_eq(wf_reason_name(want[i].code), want[i].name);
		cr_expect_eq(wf_reason_parse(want[i].name), want[i].code);
	}
	/* certificateHold (6) would make revocation reversible. */
	cr_expect_null(wf_reason_name(6));
	cr_expect_eq(wf_reason_parse("certificateHold"), WF_E_INVALID);
	cr_expect_null(wf_reason_name(WF_RSN_NONE));
	cr_expect_eq(wf_reason_parse(NULL), WF_E_INVALID);
}

Test(wf_engine, errors_have_distinct_messages)
{
	static const int codes[] = {0, WF_E_INVALID, WF_E_NOT_ALLOWED, WF_E_GUARD, WF_E_FINAL};

	for (int i = 0; i < 5; i++)
		for (int j = 0; j < i; j++)
			cr_expect_str_neq(wf_strerror(codes[i]), wf_strerror(codes[j]));
	cr_expect_str_eq(wf_strerror(-999), "unknown workflow error");
}

Test(wf_engine, introspection_rejects_null_and_out_of_range)
{
	cr_expect_eq(wf_state_count(NULL), WF_E_INVALID);
	cr_expect_eq(wf_event_count(NULL), WF_E_INVALID);
	cr_expect_eq(wf_transition_count(NULL), WF_E_INVALID);
	cr_expect_eq(wf_is_final(&wf_user, WF_USER_N_STATES), WF_E_INVALID);
	cr_expect_eq(wf_is_final(NULL, 0), WF_E_INVALID);
	cr_expect_null(wf_machine_name(NULL));
	cr_expect_null(wf_state_name(NULL, 0));
	cr_expect_eq(wf_event_parse(NULL, "paid"), WF_E_INVALID);
}
