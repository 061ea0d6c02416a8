/*
 * catalog.h - the product catalogue: the configuration's `products` object, SKU ->
 * {class, validity_years, contract_months}, checked once at start-up so that a bad entry
 * stops the service instead of producing certificates with the wrong class or term.
 *
 *   "QES-5Y": {"class": "qualified", "validity_years": 5, "contract_months": 12}
 *
 * R1: class is qualified, advanced or seal.  R5: technical validity at most 5 years for
 * qualified, 10 for advanced and seals, defaulting to that maximum; the contractual term is
 * separate and defaults to 12 months ("contract_months", or "term" with a unit: "30d", "12mo";
 * docs/lifecycle.md).  Pure: no I/O.
 */
#ifndef RA_CATALOG_H
#define RA_CATALOG_H

#include <jansson.h>

#include "ra/base/err.h"

struct catalog_product {
	char *sku;
	const char *class_name; /* "qualified", "advanced", "seal" (static) */
	int validity_years;
	int contract_months;
	/* the contractual term as PostgreSQL interval text: "term" when the entry has one
	 * ("30d", "12mo", ... ra/base/duration.h), else contract_months months */
	char contract_term[32];
	int renewal; /* "renewal": true: an order of it extends the term of the certificate its line
		      * item names (meta certificate_id) instead of asking for a new certificate */
};

struct catalog {
	size_t n;
	struct catalog_product *products;
};

/* Builds the catalogue from the `products` JSON object.  Errors: RA_E_CONFIG with err->field
 * "products.<SKU>".  Caller frees with catalog_free(). */
int catalog_load(const json_t *products, struct catalog *out, struct ra_err *err);
void catalog_free(struct catalog *c);

/* The product for sku, or NULL when the catalogue does not know it. */
const struct catalog_product *catalog_find(const struct catalog *c, const char *sku);

#endif
