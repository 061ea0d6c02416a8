/*
 * intake.c - POST /v1/shop/woocommerce: authenticate the delivery, parse and check it, then
 * hand it to the order transaction (intake_tx.c).  Everything here is synchronous and
 * touches no table: a delivery refused here has changed nothing.
 *
 * Order of checks: the set-up ping (unsigned by WooCommerce's design, answered 200 and
 * ignored) is recognised first; every other request must carry a valid signature over the
 * raw body bytes before a single byte of it is parsed.
 */
#include "ra/base/config.h"
#include "ra/flows/intake/intake.h"
#include "ra/flows/intake/renewal.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ra/flows/intake/intake_reject.h"
#include "ra/flows/intake/intake_req.h"
#include "ra/flows/intake/intake_tx.h"
#include "ra/base/log.h"
#include "ra/base/secret.h"

#define HDR_MAX 512

/* Copies a header into buf as a C string; "" when absent or too long. */
static const char *header(struct http_req *hr, const char *name, char *buf, size_t cap)
{
	size_t len = 0;
	const char *v = http_header(hr, name, &len);

	buf[0] = '\0';
	if (v != NULL && len < cap) {
		memcpy(buf, v, len);
		buf[len] = '\0';
	}
	return buf;
}

static void reply_result(struct http_req *hr, const char *result, const char *why)
{
	json_t *o = json_pack("{s:s}", "result", result);

	if (why)
		json_object_set_new(o, "reason", json_string(why));
	http_reply_json(hr, 200, o);
}

static int kind_of(enum woo_status s, enum intake_kind *k)
{
	switch (s) {
	case WOO_PROCESSING:
	case WOO_COMPLETED:
		*k = INTAKE_PAID;
		return 0;
	case WOO_PENDING:
	case WOO_ON_HOLD:
		*k = INTAKE_WAITING;
		return 0;
	case WOO_CANCELLED:
	case WOO_REFUNDED:
	case WOO_FAILED:
		*k = INTAKE_CANCEL;
		return 0;
	case WOO_OTHER:
		break;
	}
	return -1;
}

/* Every SKU must be in the catalogue (R1, R5): the first unknown one is named. */
static int check_products(struct intake_req *r, struct ra_err *err)
{
	r->prod = calloc(r->o->n_items, sizeof(*r->prod));
	if (r->prod == NULL)
		return ra_err_set(err, RA_E_NOMEM, "", "out of memory");
	for (size_t i = 0; i < r->o->n_items; i++) {
		r->prod[i] = catalog_find(&r->in->catalog, r->o->items[i].sku);
		if (r->prod[i] == NULL) {
			char field[64];
			snprintf(field, sizeof(field), "line_items[%zu].sku", i);
			return ra_err_set(err, RA_E_RULE, field, "unknown SKU '%.100s' in line item %lld",
					  r->o->items[i].sku, (long long)r->o->items[i].id);
		}
		r->n_certs += r->o->items[i].quantity;
	}
	return 0;
}

/* R3: the mobile number in E.164, refused when it is not one (libphonenumber decides). */
static int check_phone(struct intake_req *r, struct ra_err *err)
{
	struct phone_err pe = {0};
	const char *country = cfg_str(r->in->app->cfg, "default_country");

	if (phone_normalize(r->o->phone, country, r->phone, sizeof(r->phone), &pe) == 0)
		return 0;
	r->phone[0] = '\0';
	return ra_err_set(err, RA_E_RULE, "billing.phone", "billing.phone is not a usable mobile number: %s",
			  phone_strerror(pe.code));
}

static void woocommerce(struct http_req *hr)
{
	struct intake *in = hr->route_data;
	struct config *cfg = in->app->cfg;
	struct ra_err err = {0};
	char ct[HDR_MAX], sig[HDR_MAX], topic[HDR_MAX];
	struct intake_req *r;

	if (woo_is_ping(header(hr, "content-type", ct, sizeof(ct)), hr->body, hr->body_len)) {
		log_info("intake.ping", "rid", hr->rid, NULL);
		reply_result(hr, "ping", NULL);
		return;
	}
	header(hr, "x-wc-webhook-signature", sig, sizeof(sig));
	if (!woo_signature_ok(cfg_str(cfg, "shop.woocommerce_secret"), hr->body ? hr->body : "", hr->body_len,
			      sig)) {
		http_reply_errorf(hr, RA_E_AUTH, "X-WC-Webhook-Signature",
				  sig[0] ? "signature does not match the body" : "signature missing");
		return;
	}
	/* the ping above is form-encoded by design; a signed delivery is JSON or it is refused */
	if (http_want_json(hr, &err) != 0) {
		http_reply_error(hr, &err);
		return;
	}
	header(hr, "x-wc-webhook-topic", topic, sizeof(topic));
	if (strcmp(topic, "order.created") != 0 && strcmp(topic, "order.updated") != 0) {
		/* Not an error: a 4xx counts as a failed delivery, and 5 of them disable the webhook. */
		log_info("intake.ignored", "rid", hr->rid, "topic", topic, NULL);
		reply_result(hr, "ignored", "topic is not order.created or order.updated");
		return;
	}
	r = calloc(1, sizeof(*r));
	if (r == NULL) {
		http_reply_errorf(hr, RA_E_NOMEM, "", "out of memory");
		return;
	}
	r->hr = hr;
	r->in = in;
	if (woo_order_parse(hr->body, hr->body_len, &r->o, &err) != 0) {
		if (err.field[0] == '\0') /* not JSON at all: the body is what is wrong */
			snprintf(err.field, sizeof(err.field), "body");
		intake_fail(r, &err);
		return;
	}
	snprintf(r->shop_id, sizeof(r->shop_id), "%lld", (long long)r->o->id);
	if (kind_of(r->o->status, &r->kind) != 0) {
		log_info("intake.ignored", "rid", hr->rid, "shop_order", r->shop_id, "status",
			 r->o->status_raw, NULL);
		reply_result(hr, "ignored", "order status is not one the RA acts on");
		intake_req_free(r);
		return;
	}
	if (r->kind == INTAKE_CANCEL) {
		/* A cancellation needs no valid product or phone: it only ever removes. */
		struct ra_err ignore = {0};
		check_phone(r, &ignore);
		intake_tx_start(r);
		return;
	}
	if (check_products(r, &err) != 0) {
		if (err.code == RA_E_RULE)
			intake_reject(r, "unknown_sku", &err);
		else
			intake_fail(r, &err);
		return;
	}
	if (check_phone(r, &err) != 0) {
		intake_reject(r, "phone_not_mobile", &err);
		return;
	}
	if (renewal_is(r)) {
		/* a renewal changes nothing until it is paid, and is never an order to identify */
		if (r->kind != INTAKE_PAID) {
			reply_result(hr, "ignored", "a renewal applies once it is paid");
			intake_req_free(r);
			return;
		}
		renewal_start(r);
		return;
	}
	intake_tx_start(r);
}

static void intake_free_module(struct intake *in)
{
	catalog_free(&in->catalog);
	free(in);
}

int intake_init(struct app *app, struct ra_err *err)
{
	struct intake *in = calloc(1, sizeof(*in));
	int rc;

	if (in == NULL)
		return ra_err_set(err, RA_E_NOMEM, "", "out of memory");
	in->app = app;
	rc = catalog_load(cfg_json(app->cfg, "products"), &in->catalog, err);
	if (rc != 0) {
		intake_free_module(in);
		return rc;
	}
	if (cfg_str(app->cfg, "shop.woocommerce_secret") == NULL)
		log_warn("intake.no_secret", "message",
			 "shop.woocommerce_secret is not set: every order webhook gets 401", NULL);
	http_route(app->http, "POST", "/v1/shop/woocommerce", 0, "shop_woocommerce", woocommerce, in);
	/* `in` lives as long as the process: the route table holds it. */
	return 0;
}
