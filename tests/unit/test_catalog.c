/*
 * test_catalog.c - the product catalogue from configuration: classes (R1), validity limits
 * and defaults (R5), contractual term, errors that name the product.
 */
#include <criterion/criterion.h>
#include <string.h>

#include "ra/flows/intake/catalog.h"

static int load(const char *text, struct catalog *c, struct ra_err *e)
{
	json_t *j = json_loads(text, 0, NULL);
	int rc;

	cr_assert_not_null(j, "%s", text);
	rc = catalog_load(j, c, e);
	json_decref(j);
	return rc;
}

Test(catalog, r1_r5_classes_defaults_and_lookup)
{
	struct catalog c;
	struct ra_err e = {0};
	const struct catalog_product *p;

	cr_assert_eq(
		load("{\"QES-5Y\": {\"class\": \"qualified\", \"validity_years\": 3, \"contract_months\": 24},"
		     " \"AES\": {\"class\": \"advanced\"}, \"SEAL\": {\"class\": \"seal\"}, \"QES\": {\"class\": \"qualified\"}}",
		     &c, &e),
		0, "%s", e.msg);
	cr_expect_eq(c.n, 4);
	p = catalog_find(&c, "QES-5Y");
	cr_assert_not_null(p);
	cr_expect_str_eq(p->class_name, "qualified");
	cr_expect_eq(p->validity_years, 3);
	cr_expect_eq(p->contract_months, 24);
	p = catalog_find(&c, "AES");
	cr_expect_eq(p->validity_years, 10, "R5: advanced defaults to 10 years");
	cr_expect_eq(p->contract_months, 12, "R5: the contractual term defaults to one year");
	cr_expect_eq(catalog_find(&c, "QES")->validity_years, 5, "R5: qualified defaults to 5 years");
	cr_expect_eq(catalog_find(&c, "SEAL")->validity_years, 10);
	cr_expect_null(catalog_find(&c, "qes-5y"), "SKUs are exact");
	cr_expect_null(catalog_find(&c, NULL));
	catalog_free(&c);
	catalog_free(&c); /* idempotent */
}

Test(catalog, r5_validity_over_the_class_limit_is_a_config_error)
{
	struct catalog c;
	struct ra_err e = {0};

	cr_expect_eq(load("{\"Q\": {\"class\": \"qualified\", \"validity_years\": 6}}", &c, &e), RA_E_CONFIG);
	cr_expect_str_eq(e.field, "products.Q");
	cr_expect(strstr(e.msg, "validity_years") != NULL, "%s", e.msg);
	cr_expect_eq(load("{\"A\": {\"class\": \"advanced\", \"validity_years\": 11}}", &c, &e), RA_E_CONFIG);
	cr_expect_eq(load("{\"A\": {\"class\": \"advanced\", \"validity_years\": 0}}", &c, &e), RA_E_CONFIG);
	cr_expect_eq(load("{\"A\": {\"class\": \"advanced\", \"contract_months\": \"12\"}}", &c, &e),
		     RA_E_CONFIG);
}

Test(catalog, r1_unknown_class_or_shape_is_a_config_error)
{
	struct catalog c;
	struct ra_err e = {0};

	cr_expect_eq(load("{\"X\": {\"class\": \"premium\"}}", &c, &e), RA_E_CONFIG);
	cr_expect(strstr(e.msg, "R1") != NULL, "%s", e.msg);
	cr_expect_eq(load("{\"X\": {}}", &c, &e), RA_E_CONFIG);
	cr_expect_eq(load("{\"X\": 5}", &c, &e), RA_E_CONFIG);
	cr_expect_eq(load("[1]", &c, &e), RA_E_CONFIG);
	cr_expect_eq(load("{}", &c, &e), 0);
	cr_expect_eq(c.n, 0);
	catalog_free(&c);
	cr_expect_eq(catalog_load(NULL, &c, &e), 0, "no catalogue: every SKU is unknown");
	cr_expect_null(catalog_find(&c, "QES"));
}

Test(catalog, contractual_term_from_months_or_a_term_with_a_unit)
{
	struct catalog c;
	struct ra_err e = {0};

	cr_assert_eq(
		load("{\"A\": {\"class\": \"qualified\", \"contract_months\": 24},"
		     " \"B\": {\"class\": \"qualified\", \"term\": \"1y\"}, \"C\": {\"class\": \"advanced\", \"term\": \"90s\"}}",
		     &c, &e),
		0, "%s", e.msg);
	cr_expect_str_eq(catalog_find(&c, "A")->contract_term, "24 months");
	cr_expect_str_eq(catalog_find(&c, "B")->contract_term, "12 months");
	cr_expect_str_eq(catalog_find(&c, "C")->contract_term, "90 seconds");
	catalog_free(&c);
	cr_expect_neq(load("{\"D\": {\"class\": \"qualified\", \"term\": \"a while\"}}", &c, &e), 0);
	cr_expect_str_eq(e.field, "products.D");
	cr_expect(strstr(e.msg, "term") != NULL, "%s", e.msg);
}
