/*
 * woo.h - the WooCommerce REST v3 order webhook body as the RA needs it (issue #4).
 *
 * Parses the raw body (after woo_signature_ok() in ra/secret.h has accepted it) into a
 * struct woo_order.  Every missing or malformed field the RA relies on is an error whose
 * err->field is the JSON path ("billing.phone", "line_items[0].sku"), so the HTTP layer can
 * answer 400 naming it.  Only the shop's conventions are interpreted here (order meta
 * `contract_number`, `_subscription_renewal` and `parent_id` of a WooCommerce Subscriptions
 * renewal order; line-item meta `organisation`, `organisation_id`, `function`, `certificate_id`);
 * phone normalisation, SKU lookup and contracts are the caller's business.  Pure: no I/O.
 */
#ifndef RA_WOO_H
#define RA_WOO_H

#include <stddef.h>
#include <stdint.h>

#include "ra/base/err.h"

enum woo_status {
	WOO_PENDING,
	WOO_PROCESSING,
	WOO_ON_HOLD,
	WOO_COMPLETED,
	WOO_CANCELLED,
	WOO_REFUNDED,
	WOO_FAILED,
	/* Any other status string (plugins add their own, blocks checkout has
	 * "checkout-draft"): not an error, because a 400 counts as a failed delivery and
	 * WooCommerce disables a webhook after 5 of them.  The raw text is in status_raw. */
	WOO_OTHER,
};

/* Upper bound on one line item's quantity: each unit becomes a certificate request. */
#define WOO_MAX_QUANTITY 1000

struct woo_line_item {
	int64_t id; /* line-item id: with the order id, the idempotency key */
	int64_t product_id;
	int quantity; /* 1..WOO_MAX_QUANTITY */
	char *sku; /* non-empty */
	char *organisation; /* NULL for variant 1 (R4) */
	char *organisation_id; /* NULL when not known */
	char *function; /* NULL for variant 1; set exactly when organisation is (R4) */
	char *certificate_id; /* meta certificate_id: the certificate a renewal SKU renews */
};

struct woo_order {
	int64_t id; /* the shop's order id (> 0) */
	char *number; /* the order number shown to the customer */
	enum woo_status status;
	char *status_raw;
	char *currency;
	char *first_name; /* billing.* */
	char *last_name;
	char *email;
	char *phone; /* as typed; normalise with phone_normalize() */
	char *contract_number; /* order meta, NULL when absent (R6) */
	/* WooCommerce Subscriptions: a renewal order carries meta _subscription_renewal (the
	 * subscription's id) and names the subscription's parent order in parent_id (0: none) */
	char *subscription_renewal;
	int64_t parent_id;
	size_t n_items; /* >= 1 */
	struct woo_line_item *items;
};

/*
 * Parses body (len bytes, need not be NUL-terminated).  On 0, *out is the order; caller
 * frees with woo_order_free().  Errors: RA_E_INVALID (malformed; err->field names the JSON
 * path), RA_E_RULE (R4: function without organisation or the other way round), RA_E_NOMEM.
 */
int woo_order_parse(const char *body, size_t len, struct woo_order **out, struct ra_err *err);
void woo_order_free(struct woo_order *o);

/*
 * 1 when the request is WooCommerce's unsigned set-up ping: a form-encoded body
 * `webhook_id=<digits>`.  Such a request is answered 200 and creates nothing.
 */
int woo_is_ping(const char *content_type, const char *body, size_t len);

/* 1 when sig_b64 (the X-WC-Webhook-Signature header) is base64(HMAC-SHA256(body, secret))
 * over the body bytes exactly as received, compared in constant time; else 0. */
int woo_signature_ok(const char *secret, const void *body, size_t len, const char *sig_b64);

/* "processing", ... for a status; NULL for WOO_OTHER. */
const char *woo_status_str(enum woo_status s);
/* 1 when the order is paid (processing, completed): only then is an RA order created. */
int woo_status_is_paid(enum woo_status s);

#endif
