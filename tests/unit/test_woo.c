/* test_woo.c - unit tests for ra/woo.h: WooCommerce order webhook bodies (issue #4). */
#include "ra/flows/intake/woo.h"

#include "tests/unit/fixture.h"

#include <criterion/criterion.h>
#include <jansson.h>
#include <string.h>

static struct woo_order *parse_fixture(const char *name)
{
	struct woo_order *o = NULL;
	struct ra_err err = {0};
	size_t len;
	char *body = fixture_read(name, &len);

	cr_assert_eq(woo_order_parse(body, len, &o, &err), 0, "%s: %s", err.field, err.msg);
	free(body);
	return o;
}

static json_t *load_fixture(const char *name)
{
	json_error_t jerr;
	char *body = fixture_read(name, NULL);
	json_t *j = json_loads(body, 0, &jerr);

	cr_assert_not_null(j, "%s", jerr.text);
	free(body);
	return j;
}

/* Parses the (mutated) document j, expects failure with code on field; frees j. */
static void expect_error(json_t *j, int code, const char *field)
{
	struct woo_order *o = NULL;
	struct ra_err err = {0};
	char *body = json_dumps(j, 0);

	cr_assert_not_null(body);
	cr_expect_eq(woo_order_parse(body, strlen(body), &o, &err), code, "field %s: %s", field, err.msg);
	cr_expect_null(o);
	cr_expect_str_eq(err.field, field);
	cr_expect_eq(err.code, code);
	free(body);
	json_decref(j);
}

static json_t *item(json_t *j, size_t i)
{
	return json_array_get(json_object_get(j, "line_items"), i);
}

Test(woo, parses_paid_variant1_order)
{
	struct woo_order *o = parse_fixture("woocommerce-order-paid.json");

	cr_expect_eq(o->id, 4711);
	cr_expect_str_eq(o->number, "4711");
	cr_expect_eq(o->status, WOO_PROCESSING);
	cr_expect(woo_status_is_paid(o->status));
	cr_expect_str_eq(o->currency, "EUR");
	cr_expect_str_eq(o->first_name, "Anna");
	cr_expect_str_eq(o->last_name, "Gruber");
	cr_expect_str_eq(o->email, "anna.gruber@example.at");
	cr_expect_str_eq(o->phone, "+43 664 1234567");
	/* the order meta has only a WooCommerce attribution key, no contract (R6) */
	cr_expect_null(o->contract_number);
	cr_assert_eq(o->n_items, 1);
	cr_expect_eq(o->items[0].id, 881);
	cr_expect_eq(o->items[0].product_id, 31);
	cr_expect_eq(o->items[0].quantity, 1);
	cr_expect_str_eq(o->items[0].sku, "QES-5Y");
	/* R4 variant 1: no organisation, no function */
	cr_expect_null(o->items[0].organisation);
	cr_expect_null(o->items[0].organisation_id);
	cr_expect_null(o->items[0].function);
	woo_order_free(o);
}

Test(woo, r4_r6_parses_variant2_order_with_contract)
{
	struct woo_order *o = parse_fixture("woocommerce-order-variant2.json");

	cr_expect_eq(o->id, 4712);
	cr_expect_str_eq(o->phone, "0664 1234567");
	cr_expect_str_eq(o->contract_number, "RA-C-000001");
	cr_assert_eq(o->n_items, 2);
	cr_expect_eq(o->items[0].id, 890);
	cr_expect_str_eq(o->items[0].organisation, "Gruber Bau GmbH");
	cr_expect_str_eq(o->items[0].organisation_id, "NTRAT-123456a");
	cr_expect_str_eq(o->items[0].function, "Geschäftsführerin");
	cr_expect_eq(o->items[1].id, 891);
	cr_expect_str_eq(o->items[1].sku, "AES-10Y");
	cr_expect_str_eq(o->items[1].organisation, "Gruber Holding AG");
	cr_expect_null(o->items[1].organisation_id);
	cr_expect_str_eq(o->items[1].function, "Prokuristin");
	woo_order_free(o);
}

Test(woo, missing_required_fields_are_named)
{
	static const char *const top[] = {"id", "number", "status", "currency", "line_items", "billing"};
	static const char *const billing[] = {"first_name", "last_name", "email", "phone"};
	static const char *const line[] = {"id", "sku", "quantity", "product_id"};
	char want[64];
	json_t *j;

	for (size_t i = 0; i < sizeof(top) / sizeof(top[0]); i++) {
		j = load_fixture("woocommerce-order-paid.json");
		json_object_del(j, top[i]);
		expect_error(j, RA_E_INVALID, top[i]);
	}
	for (size_t i = 0; i < sizeof(billing) / sizeof(billing[0]); i++) {
		j = load_fixture("woocommerce-order-paid.json");
		json_object_del(json_object_get(j, "billing"), billing[i]);
		snprintf(want, sizeof(want), "billing.%s", billing[i]);
		expect_error(j, RA_E_INVALID, want);
	}
	for (size_t i = 0; i < sizeof(line) / sizeof(line[0]); i++) {
		j = load_fixture("woocommerce-order-variant2.json");
		json_object_del(item(j, 1), line[i]);
		snprintf(want, sizeof(want), "line_items[1].%s", line[i]);
		expect_error(j, RA_E_INVALID, want);
	}
}

Test(woo, blank_phone_counts_as_missing)
{
	json_t *j = load_fixture("woocommerce-order-paid.json");

	json_object_set_new(json_object_get(j, "billing"), "phone", json_string("  "));
	expect_error(j, RA_E_INVALID, "billing.phone");
}

Test(woo, malformed_fields_are_named)
{
	json_t *j;

	j = load_fixture("woocommerce-order-paid.json");
	json_object_set_new(j, "id", json_string("4711"));
	expect_error(j, RA_E_INVALID, "id");

	j = load_fixture("woocommerce-order-paid.json");
	json_object_set_new(j, "id", json_integer(0));
	expect_error(j, RA_E_INVALID, "id");

	j = load_fixture("woocommerce-order-paid.json");
	json_object_set_new(item(j, 0), "sku", json_integer(5));
	expect_error(j, RA_E_INVALID, "line_items[0].sku");

	j = load_fixture("woocommerce-order-paid.json");
	json_object_set_new(item(j, 0), "quantity", json_integer(0));
	expect_error(j, RA_E_INVALID, "line_items[0].quantity");

	j = load_fixture("woocommerce-order-paid.json");
	json_object_set_new(item(j, 0), "quantity", json_integer(WOO_MAX_QUANTITY + 1));
	expect_error(j, RA_E_INVALID, "line_items[0].quantity");

	j = load_fixture("woocommerce-order-paid.json");
	json_object_set_new(j, "line_items", json_array());
	expect_error(j, RA_E_INVALID, "line_items");

	j = load_fixture("woocommerce-order-paid.json");
	json_object_set_new(j, "billing", json_string("Anna"));
	expect_error(j, RA_E_INVALID, "billing");

	j = load_fixture("woocommerce-order-paid.json");
	json_object_set_new(json_object_get(j, "billing"), "email", json_string("anna"));
	expect_error(j, RA_E_INVALID, "billing.email");

	j = load_fixture("woocommerce-order-variant2.json");
	json_object_set_new(json_array_get(json_object_get(item(j, 0), "meta_data"), 2), "value",
			    json_integer(1));
	expect_error(j, RA_E_INVALID, "line_items[0].meta_data[2].value");

	j = load_fixture("woocommerce-order-variant2.json");
	json_object_set_new(json_array_get(json_object_get(j, "meta_data"), 0), "value", json_true());
	expect_error(j, RA_E_INVALID, "meta_data[0].value");
}

Test(woo, r6_contract_number_given_twice_is_refused)
{
	json_t *j = load_fixture("woocommerce-order-variant2.json");

	json_array_append_new(
		json_object_get(j, "meta_data"),
		json_pack("{s:i, s:s, s:s}", "id", 9102, "key", "contract_number", "value", "RA-C-000002"));
	expect_error(j, RA_E_INVALID, "meta_data[1].value");
}

/* R4: a variant-2 certificate has one organisation and one function, never just one. */
Test(woo, r4_organisation_without_function_is_refused)
{
	json_t *j = load_fixture("woocommerce-order-variant2.json");

	json_array_remove(json_object_get(item(j, 1), "meta_data"), 1); /* drop "function" */
	expect_error(j, RA_E_RULE, "line_items[1].meta_data.function");

	j = load_fixture("woocommerce-order-variant2.json");
	json_array_remove(json_object_get(item(j, 0), "meta_data"), 0); /* drop "organisation" */
	expect_error(j, RA_E_RULE, "line_items[0].meta_data.organisation");
}

Test(woo, truncated_body_is_rejected)
{
	size_t len;
	char *body = fixture_read("woocommerce-order-paid.json", &len);
	struct woo_order *o = NULL;
	struct ra_err err;

	for (size_t n = 0; n < len - 1; n += 7) {
		memset(&err, 0, sizeof(err));
		cr_expect_eq(woo_order_parse(body, n, &o, &err), RA_E_INVALID, "prefix %zu", n);
		cr_expect_null(o);
	}
	free(body);
}

Test(woo, non_object_and_duplicate_keys_are_rejected)
{
	struct woo_order *o = NULL;
	struct ra_err err = {0};
	const char *dup = "{\"id\":1,\"id\":2}";

	cr_expect_eq(woo_order_parse("[]", 2, &o, &err), RA_E_INVALID);
	cr_expect_str_eq(err.field, "body");
	cr_expect_eq(woo_order_parse(dup, strlen(dup), &o, &err), RA_E_INVALID);
	cr_expect_null(o);
}

Test(woo, every_status_is_recognised)
{
	static const enum woo_status all[] = {WOO_PENDING,   WOO_PROCESSING, WOO_ON_HOLD, WOO_COMPLETED,
					      WOO_CANCELLED, WOO_REFUNDED,   WOO_FAILED};

	for (size_t i = 0; i < sizeof(all) / sizeof(all[0]); i++) {
		json_t *j = load_fixture("woocommerce-order-paid.json");
		struct woo_order *o = NULL;
		char *body;

		json_object_set_new(j, "status", json_string(woo_status_str(all[i])));
		body = json_dumps(j, 0);
		cr_assert_eq(woo_order_parse(body, strlen(body), &o, NULL), 0);
		cr_expect_eq(o->status, all[i], "%s", woo_status_str(all[i]));
		cr_expect_eq(woo_status_is_paid(o->status),
			     all[i] == WOO_PROCESSING || all[i] == WOO_COMPLETED);
		woo_order_free(o);
		free(body);
		json_decref(j);
	}
	cr_expect_str_eq(woo_status_str(WOO_ON_HOLD), "on-hold");
}

Test(woo, unknown_status_is_other_not_an_error)
{
	json_t *j = load_fixture("woocommerce-order-paid.json");
	struct woo_order *o = NULL;
	char *body;

	json_object_set_new(j, "status", json_string("checkout-draft"));
	body = json_dumps(j, 0);
	cr_assert_eq(woo_order_parse(body, strlen(body), &o, NULL), 0);
	cr_expect_eq(o->status, WOO_OTHER);
	cr_expect_str_eq(o->status_raw, "checkout-draft");
	cr_expect_not(woo_status_is_paid(o->status));
	woo_order_free(o);
	free(body);
	json_decref(j);
}

Test(woo, ping_is_form_encoded_webhook_id)
{
	const char *form = "application/x-www-form-urlencoded";

	cr_expect_eq(woo_is_ping(form, "webhook_id=17", 13), 1);
	cr_expect_eq(woo_is_ping("application/x-www-form-urlencoded; charset=UTF-8", "webhook_id=17", 13), 1);
	cr_expect_eq(woo_is_ping("Application/X-WWW-Form-Urlencoded", "webhook_id=5", 12), 1);
	cr_expect_eq(woo_is_ping(form, "webhook_id=", 11), 0);
	cr_expect_eq(woo_is_ping(form, "webhook_id=17&x=1", 17), 0);
	cr_expect_eq(woo_is_ping(form, "webhook_id=17", 12), 1); /* only len bytes count */
	cr_expect_eq(woo_is_ping("application/json", "webhook_id=17", 13), 0);
	cr_expect_eq(woo_is_ping("application/x-www-form-urlencodedX", "webhook_id=17", 13), 0);
	cr_expect_eq(woo_is_ping(NULL, "webhook_id=17", 13), 0);
}

Test(woo, free_accepts_null)
{
	woo_order_free(NULL);
}

/* Issue #20: names and free text are printable text; the field is named, 422 (a rule) */
Test(woo, control_and_unassigned_characters_are_refused_naming_the_field)
{
	static const char *bad[] = {
		"\x1b]0;...\x07\x1b[2J", "Anna\tMaria",   "A\x7f",         "A\xc2\x85", "A\xe2\x80\xae",
		"A\xe2\x80\xa8",         "A\xef\xbf\xbe", "A\xee\x80\x80", "A\xcd\xb8"};

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		json_t *j = load_fixture("woocommerce-order-paid.json");
		json_object_set_new(json_object_get(j, "billing"), "first_name", json_string(bad[i]));
		expect_error(j, RA_E_RULE, "billing.first_name");
	}
	{
		json_t *j = load_fixture("woocommerce-order-variant2.json");
		json_t *m = json_array_get(json_object_get(item(j, 0), "meta_data"), 0);
		cr_assert_not_null(m);
		json_object_set_new(m, "value", json_string("Gruber\x1b[2J Bau"));
		{
			struct woo_order *o = NULL;
			struct ra_err err = {0};
			char *body = json_dumps(j, 0);
			cr_expect_eq(woo_order_parse(body, strlen(body), &o, &err), RA_E_RULE, "%s", err.msg);
			cr_expect_str_eq(err.field, "line_items[0].meta_data[0].value");
			free(body);
			woo_order_free(o);
		}
		json_decref(j);
	}
}

Test(woo, names_from_many_scripts_are_accepted)
{
	static const char *good[] = {"M\xc3\xbcller",
				     "\xe7\x8e\x8b\xe5\xb0\x8f\xe6\x98\x8e",
				     "O'Brien-Smith",
				     "\xd8\xb9\xd9\x84\xd9\x8a",
				     "Zo\xc3\xab",
				     "\xc5\x81\xc3\xb3"
				     "d\xc5\xba",
				     "\xd0\x98\xd0\xb2\xd0\xb0\xd0\xbd"};

	for (size_t i = 0; i < sizeof(good) / sizeof(good[0]); i++) {
		json_t *j = load_fixture("woocommerce-order-paid.json");
		struct woo_order *o = NULL;
		struct ra_err err = {0};
		char *body;

		json_object_set_new(json_object_get(j, "billing"), "first_name", json_string(good[i]));
		body = json_dumps(j, 0);
		cr_expect_eq(woo_order_parse(body, strlen(body), &o, &err), 0, "%s: %s", good[i], err.msg);
		woo_order_free(o);
		free(body);
		json_decref(j);
	}
}
