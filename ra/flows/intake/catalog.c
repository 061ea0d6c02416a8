/*
 * catalog.c - the product catalogue from the configuration (see catalog.h).
 */
#include "ra/flows/intake/catalog.h"

#include "ra/base/duration.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* R1 classes with their R5 maximum (and default) technical validity in years. */
static const struct {
	const char *name;
	int max_years;
} classes[] = {
	{"qualified", 5},
	{"advanced", 10},
	{"seal", 10},
};

#define DEFAULT_CONTRACT_MONTHS 12
#define MAX_CONTRACT_MONTHS 600

static int int_field(const json_t *p, const char *sku, const char *key, int def, int min, int max, int *out,
		     struct ra_err *err)
{
	json_t *v = json_object_get(p, key);

	if (v == NULL || json_is_null(v)) {
		*out = def;
		return 0;
	}
	if (!json_is_integer(v) || json_integer_value(v) < min || json_integer_value(v) > max)
		return ra_err_set(err, RA_E_CONFIG, "", "products.%s.%s must be an integer from %d to %d",
				  sku, key, min, max);
	*out = (int)json_integer_value(v);
	return 0;
}

static int load_one(const char *sku, const json_t *p, struct catalog_product *out, struct ra_err *err)
{
	const char *cls;
	size_t i;
	int rc;

	if (!json_is_object(p))
		return ra_err_set(err, RA_E_CONFIG, "", "products.%s must be an object", sku);
	if (*sku == '\0' || strlen(sku) > 100)
		return ra_err_set(err, RA_E_CONFIG, "", "products: a SKU must have 1 to 100 characters");
	cls = json_string_value(json_object_get(p, "class"));
	for (i = 0; cls && i < sizeof(classes) / sizeof(classes[0]); i++)
		if (strcmp(cls, classes[i].name) == 0)
			break;
	if (cls == NULL || i == sizeof(classes) / sizeof(classes[0]))
		return ra_err_set(err, RA_E_CONFIG, "",
				  "products.%s.class must be qualified, advanced or seal (R1)", sku);
	out->class_name = classes[i].name;
	/* R5: more than the class allows is a configuration error, not something to clamp. */
	rc = int_field(p, sku, "validity_years", classes[i].max_years, 1, classes[i].max_years,
		       &out->validity_years, err);
	if (rc == 0)
		rc = int_field(p, sku, "contract_months", DEFAULT_CONTRACT_MONTHS, 1, MAX_CONTRACT_MONTHS,
			       &out->contract_months, err);
	if (rc != 0)
		return rc;
	snprintf(out->contract_term, sizeof(out->contract_term), "%d months", out->contract_months);
	if (json_object_get(p, "term") != NULL &&
	    duration_interval(json_string_value(json_object_get(p, "term")), 1, out->contract_term,
			      sizeof(out->contract_term)) != 0)
		return ra_err_set(err, RA_E_CONFIG, "",
				  "products.%s.term must be a duration such as \"12mo\", \"30d\" or \"90s\"",
				  sku);
	if (json_object_get(p, "renewal") != NULL && !json_is_boolean(json_object_get(p, "renewal")))
		return ra_err_set(err, RA_E_CONFIG, "", "products.%s.renewal must be true or false", sku);
	out->renewal = json_is_true(json_object_get(p, "renewal"));
	out->sku = strdup(sku);
	return out->sku ? 0 : ra_err_set(err, RA_E_NOMEM, "products", "out of memory");
}

int catalog_load(const json_t *products, struct catalog *out, struct ra_err *err)
{
	const char *sku;
	json_t *p;
	int rc = 0;

	memset(out, 0, sizeof(*out));
	if (products == NULL || json_is_null(products))
		return 0;
	if (!json_is_object(products))
		return ra_err_set(err, RA_E_CONFIG, "products", "products must be an object SKU -> product");
	out->products = calloc(json_object_size(products) + 1, sizeof(*out->products));
	if (out->products == NULL)
		return ra_err_set(err, RA_E_NOMEM, "products", "out of memory");
	json_object_foreach ((json_t *)products, sku, p) {
		rc = load_one(sku, p, &out->products[out->n], err);
		if (rc != 0) {
			if (err)
				snprintf(err->field, sizeof(err->field), "products.%.50s", sku);
			break;
		}
		out->n++;
	}
	if (rc != 0)
		catalog_free(out);
	return rc;
}

void catalog_free(struct catalog *c)
{
	if (c == NULL)
		return;
	for (size_t i = 0; i < c->n; i++)
		free(c->products[i].sku);
	free(c->products);
	c->products = NULL;
	c->n = 0;
}

const struct catalog_product *catalog_find(const struct catalog *c, const char *sku)
{
	for (size_t i = 0; sku && i < c->n; i++)
		if (strcmp(c->products[i].sku, sku) == 0)
			return &c->products[i];
	return NULL;
}
