/*
 * intake_req.c - the end of a delivery's request context: freeing it, and failing it with
 * a logged JSON error.  See intake_req.h.
 */
#include "ra/flows/intake/intake_req.h"

#include <stdio.h>
#include <stdlib.h>

#include "ra/base/log.h"

void intake_req_free(struct intake_req *r)
{
	if (r == NULL)
		return;
	woo_order_free(r->o);
	free(r->prod);
	free(r->contract_org);
	free(r->contract_org_id);
	free(r);
}

void intake_fail(struct intake_req *r, const struct ra_err *err)
{
	char code[8];

	snprintf(code, sizeof(code), "%d", http_status_for(err->code));
	log_warn("intake.refused", "rid", r->hr->rid, "shop_order", r->shop_id, "status", code, "field",
		 err->field, "message", err->msg, NULL);
	http_reply_error(r->hr, err);
	intake_req_free(r);
}
