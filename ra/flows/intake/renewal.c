/*
 * renewal.c - renewal orders (docs/lifecycle.md "Renewals").  Two shapes:
 *
 *   * WooCommerce Subscriptions renews by creating an ordinary order with meta
 *     _subscription_renewal (the subscription) and the subscription's parent order in
 *     parent_id: every usable certificate of the RA order made from that parent shop order
 *     (replacements carry the order on) is renewed by the product's term;
 *   * a catalogue product marked "renewal": true, whose line item names the certificate in
 *     meta certificate_id.
 *
 * Either way the certificate must belong to the buyer (the user with the order's mobile
 * number).  One statement: a renewals row per line item and certificate under the key
 * "woocommerce:<order>:<line item>" (a repeated delivery inserts nothing and so extends
 * nothing), the term end moved from max(term end, now) by the item's term, and the audit
 * record cert.renewed (mailed to the user).  Only a paid renewal applies; a renewal that names
 * no certificate of the buyer is refused (422, kept in intake_rejections for support).
 */
#include "ra/flows/intake/renewal.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ra/base/log.h"
#include "ra/db/db.h"
#include "ra/db/outbox.h"
#include "workflows/wf_cert.h"
#include "ra/flows/intake/intake_reject.h"
#include "ra/net/http.h"

/* $1 shop order id, $2 items [{line_item_id, certificate_id, term}], $3 parent shop order id
 * (NULL: none), $4 the buyer's E.164 number, $5 the usable states (text[], names from
 * wf_cert).  The certificates the order names: */
#define RENEW_TARGET                                                                                                  \
	"WITH it AS (SELECT * FROM jsonb_to_recordset($2::jsonb) AS x(line_item_id bigint, certificate_id text,"      \
	"  term text)),"                                                                                              \
	" buyer AS (SELECT public_id FROM users WHERE phone_e164 = $4),"                                              \
	" target AS (SELECT it.line_item_id, it.term, c.id, c.term_end FROM it JOIN certificates c ON"                \
	"  (c.id = it.certificate_id OR (it.certificate_id IS NULL AND c.order_id = (SELECT o.id::text FROM orders o" \
	"   WHERE o.shop = 'woocommerce' AND o.shop_order_id = $3::bigint)))"                                         \
	"  WHERE c.state = ANY($5::text[]) AND c.user_id = (SELECT public_id FROM buyer))"

/* how many it names (read by the caller; $1 unused there) */
static const char *sql_named = RENEW_TARGET " SELECT count(*), $1::text FROM target";

/* the renewals applied, each row its certificate and audit record's details (outbox) */
static const char *sql_renew = RENEW_TARGET
	","
	" r AS (INSERT INTO renewals (source, key, certificate_id, old_term_end, new_term_end, actor, reason)"
	"  SELECT 'shop', 'woocommerce:' || $1 || ':' || t.line_item_id, t.id, t.term_end,"
	"   greatest(t.term_end, now()) + t.term::interval, 'shop', 'renewal order ' || $1 FROM target t"
	"  ON CONFLICT (source, key, certificate_id) DO NOTHING RETURNING certificate_id, old_term_end, new_term_end),"
	" u AS (UPDATE certificates c SET term_end = r.new_term_end, term_ended_at = NULL FROM r"
	"  WHERE c.id = r.certificate_id RETURNING c.id)"
	" SELECT r.certificate_id, jsonb_build_object('source', 'shop', 'shop_order_id', $1::text,"
	"  'term_end_before', r.old_term_end, 'term_end', r.new_term_end)::text FROM r";

int renewal_is(const struct intake_req *r)
{
	if (r->o->subscription_renewal != NULL)
		return 1;
	for (size_t i = 0; i < r->o->n_items; i++)
		if (r->prod[i] == NULL || !r->prod[i]->renewal)
			return 0;
	return r->o->n_items > 0;
}

static void on_named(PGresult *res, const struct ra_err *err, void *data)
{
	int *named = data;

	(void)err;
	*named = atoi(PQgetvalue(res, 0, 0));
}

static void on_renewed(const int *rows, const struct ra_err *err, void *data)
{
	struct intake_req *r = data;
	struct ra_err e = {0};
	int named = r->renew_named, applied = rows[1];

	if (err != NULL) {
		intake_fail(r, err);
		return;
	}
	if (named == 0) {
		ra_err_set(&e, RA_E_RULE,
			   r->o->subscription_renewal ? "parent_id"
						      : "line_items[0].meta_data.certificate_id",
			   "the renewal names no usable certificate of the buyer");
		intake_reject(r, "nothing_to_renew", &e);
		return;
	}
	log_info("intake.renewed", "rid", r->hr->rid, "shop_order", r->shop_id, NULL);
	http_reply_json(r->hr, 200,
			json_pack("{s:s, s:i, s:i}", "result", applied ? "renewed" : "unchanged",
				  "certificates", named, "applied", applied));
	intake_req_free(r);
}

void renewal_start(struct intake_req *r)
{
	json_t *items = json_array();
	char parent[24], *text;
	const char *p[5];
	char usable[96];
	struct outbox ob = {0};
	char reason[64];
	int src;

	for (size_t i = 0; i < r->o->n_items; i++) {
		const struct woo_line_item *it = &r->o->items[i];
		json_array_append_new(items, json_pack("{s:I, s:s?, s:s}", "line_item_id", (json_int_t)it->id,
						       "certificate_id",
						       r->prod[i]->renewal ? it->certificate_id : NULL,
						       "term", r->prod[i]->contract_term));
	}
	text = json_dumps(items, JSON_COMPACT);
	json_decref(items);
	if (text == NULL) {
		struct ra_err e;
		ra_err_set(&e, RA_E_NOMEM, "", "out of memory");
		intake_fail(r, &e);
		return;
	}
	snprintf(parent, sizeof(parent), "%lld", (long long)r->o->parent_id);
	p[0] = r->shop_id;
	p[1] = text;
	p[2] = r->o->parent_id > 0 ? parent : NULL;
	p[3] = r->phone;
	p[4] = ob_states(&wf_cert, 1u << WF_CERT_ISSUED | 1u << WF_CERT_ACTIVE | 1u << WF_CERT_SUPERSEDING,
			 usable, sizeof(usable));
	snprintf(reason, sizeof(reason), "renewal order %s", r->shop_id);
	r->renew_named = 0;
	ob_stmt_read(&ob, sql_named, 5, p, 0, on_named, &r->renew_named);
	src = ob_stmt(&ob, sql_renew, 5, p, 0);
	ob_audit_each(&ob, src, "shop", "cert.renewed", "certificate", reason);
	ob_commit(&ob, r->in->app->db, on_renewed, r);
	free(text);
}
