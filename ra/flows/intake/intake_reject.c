/*
 * intake_reject.c - a delivery refused for a business reason (unknown SKU, a number that is
 * no mobile number, a contract that cannot take the order) is not dropped silently: it is
 * kept in intake_rejections for support, audited the first time (R16), and then answered
 * 422.  Repeats of the same delivery only count up, so the audit log is not flooded.
 * The order tables are untouched: whatever the order transaction did was rolled back.
 */
#include <stdlib.h>

#include "ra/flows/intake/intake_reject.h"
#include "ra/flows/intake/intake_req.h"
#include "ra/base/log.h"

struct reject {
	struct intake_req *r;
	struct ra_err err;
};

static const char *sql_reject =
	"WITH r AS ("
	" INSERT INTO intake_rejections (shop_order_id, shop_number, reason, field, message)"
	" VALUES ($1::bigint, $2, $3, $4, $5)"
	" ON CONFLICT (shop, shop_order_id, reason, field) DO UPDATE"
	" SET deliveries = intake_rejections.deliveries + 1, last_seen = now(), message = EXCLUDED.message"
	" RETURNING deliveries)"
	" INSERT INTO audit_log (actor, action, object_type, object_id, reason, details)"
	" SELECT $6, 'order.rejected', 'shop_order', $7, $3, $8::jsonb FROM r WHERE r.deliveries = 1";

static void on_recorded(PGresult *res, const struct ra_err *err, void *data)
{
	struct reject *j = data;

	(void)res;
	if (err != NULL) /* the 422 still goes out: the shop must learn the order was refused */
		log_error("intake.reject_not_recorded", "rid", j->r->hr->rid, "shop_order", j->r->shop_id, "message",
			  err->msg, NULL);
	intake_fail(j->r, &j->err);
	free(j);
}

void intake_reject(struct intake_req *r, const char *reason, const struct ra_err *err)
{
	struct reject *j = calloc(1, sizeof(*j));
	json_t *d;
	char *details;

	if (j == NULL) {
		intake_fail(r, err);
		return;
	}
	j->r = r;
	j->err = *err;
	d = json_pack("{s:s, s:s, s:s}", "shop_number", r->o->number, "field", err->field, "message", err->msg);
	details = d ? json_dumps(d, JSON_COMPACT) : NULL;
	json_decref(d);
	{
		const char *p[] = {r->shop_id, r->o->number, reason, err->field, err->msg, INTAKE_ACTOR, r->shop_id,
				   details ? details : "{}"};
		db_query(r->in->app->db, sql_reject, 8, p, on_recorded, j);
	}
	free(details);
}
