/*
 * test_ident_decide.c - what an identification result means for its order (R7, R17 names,
 * bounded attempts), through the real order machine.
 */
#include <criterion/criterion.h>

#include "ra/flows/ident/ident.h"
#include "ra/flows/ident/ident_decide.h"
#include "workflows/wf_order.h"

static struct ident_case base(enum idnow_result r)
{
	struct ident_case c = {0};

	c.result = r;
	c.order_first = "Anna";
	c.order_last = "Gruber";
	c.ident_first = "ANNA";
	c.ident_last = "GRUBER";
	c.ident_birth = "1988-03-14";
	c.cert_class = WF_CLASS_QUALIFIED;
	c.attempts = 1;
	c.max_attempts = 3;
	return c;
}

static struct ident_decision decide(const struct ident_case *c)
{
	struct ident_decision d;

	cr_assert_eq(ident_decide(c, &d), 0);
	return d;
}

Test(ident_decide, r7_success_with_matching_names_issues)
{
	struct ident_case c = base(IDNOW_SUCCESS);
	struct ident_decision d = decide(&c);

	cr_expect_eq(d.outcome, IDENT_ISSUE);
	cr_expect_eq(d.next_state, WF_ORDER_ISSUING);
	cr_expect_eq(d.names, NAME_EXACT);
}

Test(ident_decide, r7_case_and_normalisation_do_not_matter)
{
	struct ident_case c = base(IDNOW_SUCCESS);

	c.order_last = "Müller";
	c.ident_last = "MÜLLER";
	cr_expect_eq(decide(&c).outcome, IDENT_ISSUE);
}

Test(ident_decide, r7_match_only_after_transliteration_goes_to_review)
{
	struct ident_case c = base(IDNOW_SUCCESS);
	struct ident_decision d;

	c.order_last = "Müller";
	c.ident_last = "MUELLER";
	d = decide(&c);
	cr_expect_eq(d.outcome, IDENT_REVIEW);
	cr_expect_eq(d.next_state, WF_ORDER_IN_REVIEW);
	cr_expect_eq(d.names, NAME_NEEDS_REVIEW);
}

Test(ident_decide, r7_other_person_goes_to_review_never_issue)
{
	struct ident_case c = base(IDNOW_SUCCESS);
	struct ident_decision d;

	c.ident_first = "MAX";
	d = decide(&c);
	cr_expect_eq(d.outcome, IDENT_REVIEW);
	cr_expect_eq(d.names, NAME_MISMATCH);
}

Test(ident_decide, r7_birth_date_on_the_order_must_match)
{
	struct ident_case c = base(IDNOW_SUCCESS);

	c.order_birth = "1988-03-14";
	cr_expect_eq(decide(&c).outcome, IDENT_ISSUE);
	c.order_birth = "1988-03-15";
	cr_expect_eq(decide(&c).outcome, IDENT_REVIEW);
}

Test(ident_decide, r7_data_changed_goes_to_review)
{
	struct ident_case c = base(IDNOW_SUCCESS_DATA_CHANGED);
	struct ident_decision d = decide(&c);

	cr_expect_eq(d.outcome, IDENT_REVIEW);
	cr_expect_eq(d.next_state, WF_ORDER_IN_REVIEW);
}

Test(ident_decide, r7_variant2_without_contract_needs_proof_review)
{
	struct ident_case c = base(IDNOW_SUCCESS);
	struct ident_decision d;

	c.needs_proof = 1;
	d = decide(&c);
	cr_expect_eq(d.outcome, IDENT_REVIEW);
	cr_expect_eq(d.next_state, WF_ORDER_IN_REVIEW);
	cr_expect(strstr(d.why, "proof") != NULL);
}

Test(ident_decide, fraud_rejects)
{
	struct ident_case c = base(IDNOW_FRAUD_SUSPICION_CONFIRMED);
	struct ident_decision d = decide(&c);

	cr_expect_eq(d.outcome, IDENT_REJECT);
	cr_expect_eq(d.next_state, WF_ORDER_REJECTED);
}

Test(ident_decide, aborted_canceled_failed_retry_until_the_bound)
{
	enum idnow_result r[] = {IDNOW_ABORTED, IDNOW_CANCELED, IDNOW_FAILED};

	for (size_t i = 0; i < 3; i++) {
		struct ident_case c = base(r[i]);
		struct ident_decision d;

		c.attempts = 2;
		d = decide(&c);
		cr_expect_eq(d.outcome, IDENT_RETRY, "%s", idnow_result_str(r[i]));
		cr_expect_eq(d.next_state, WF_ORDER_RECEIVED);
		c.attempts = 3;
		d = decide(&c);
		cr_expect_eq(d.outcome, IDENT_FAILED, "attempt 3 of 3 was the last");
		cr_expect_eq(d.next_state, WF_ORDER_IDENT_FAILED);
	}
}

Test(ident_decide, pending_results_change_nothing)
{
	enum idnow_result r[] = {IDNOW_REVIEW_PENDING, IDNOW_CHECK_PENDING, IDNOW_FRAUD_SUSPICION_PENDING};

	for (size_t i = 0; i < 3; i++) {
		struct ident_case c = base(r[i]);
		struct ident_decision d = decide(&c);

		cr_expect_eq(d.outcome, IDENT_WAIT);
		cr_expect_eq(d.next_state, WF_ORDER_IDENT_INVITED);
	}
}

Test(ident_decide, r7_missing_names_are_a_mismatch)
{
	struct ident_case c = base(IDNOW_SUCCESS);

	c.ident_first = NULL;
	cr_expect_eq(decide(&c).outcome, IDENT_REVIEW);
}

Test(ident_callback, allowlist_addresses_and_prefixes)
{
	cr_expect(ident_addr_allowed("127.0.0.1", "127.0.0.1"));
	cr_expect(!ident_addr_allowed("127.0.0.1", "127.0.0.2"));
	cr_expect(ident_addr_allowed("10.0.0.0/8, 192.0.2.7", "10.200.3.4"));
	cr_expect(ident_addr_allowed("10.0.0.0/8 192.0.2.7", "192.0.2.7"));
	cr_expect(!ident_addr_allowed("10.0.0.0/8", "11.0.0.1"));
	cr_expect(ident_addr_allowed("2001:db8::/32", "2001:db8:1::5"));
	cr_expect(!ident_addr_allowed("2001:db8::/32", "127.0.0.1"));
	cr_expect(!ident_addr_allowed("junk/99, /8", "127.0.0.1"));
	cr_expect(!ident_addr_allowed("", "127.0.0.1"));
	cr_expect(ident_addr_allowed("192.0.2.0/25", "192.0.2.127"));
	cr_expect(!ident_addr_allowed("192.0.2.0/25", "192.0.2.128"));
}
