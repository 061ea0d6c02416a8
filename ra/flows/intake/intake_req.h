/*
 * intake_req.h - one webhook delivery on its way through intake: the request context that
 * intake.c (the HTTP handler) fills, intake_tx.c (the order transaction) and intake_reject.c
 * (recording refused orders) carry on, and the one place that frees it.  Not for other modules.
 */
#ifndef RA_INTAKE_REQ_H
#define RA_INTAKE_REQ_H

#include "ra/flows/intake/catalog.h"
#include "ra/db/db.h"
#include "ra/net/http.h"
#include "ra/base/phone.h"
#include "ra/base/userid.h"
#include "ra/flows/intake/woo.h"

#define INTAKE_ACTOR "shop:woocommerce"

/* Module state: the route's data, alive for the whole run. */
struct intake {
	struct app *app;
	struct catalog catalog;
};

/* What a delivery asks for, by order status. */
enum intake_kind {
	INTAKE_PAID, /* processing, completed: create the order, invite or reuse */
	INTAKE_WAITING, /* pending, on-hold: record it, wait for payment */
	INTAKE_CANCEL, /* cancelled, refunded, failed: cancel what is not issued yet */
};

struct intake_req;
typedef void (*intake_step)(struct intake_req *r, PGresult *res);

/* One delivery, from the parsed body to the reply.  Freed by intake_req_free() once replied. */
struct intake_req {
	struct http_req *hr;
	struct intake *in;
	struct woo_order *o;
	enum intake_kind kind;
	const struct catalog_product **prod; /* per line item */
	int n_certs; /* sum of quantities */
	char phone[PHONE_E164_MAX]; /* "" when not normalisable (cancellations only) */
	char shop_id[24];

	struct db_conn *conn;
	intake_step next;
	int tries; /* transaction runs so far (deadlock retry) */

	/* learned in the transaction */
	char order_id[24];
	char state[32];
	int created; /* this delivery inserted the order */
	int cancel_seen; /* an earlier cancellation of an issued order was audited */
	int quota_taken;
	char contract_id[24];
	char *contract_org, *contract_org_id;
	char user_id[24];
	char public_id[USERID_MAX];
	int user_created;
	int reuse; /* R17: the user's earlier identification is relied on */
	const char *result; /* "created", "unchanged", "cancelled", ... for the reply */
	int renew_named; /* renewal.c: the certificates a renewal order names */
};

/* Frees r and what it owns; NULL is fine. */
void intake_req_free(struct intake_req *r);

/* Replies with err (logged without secrets) and frees r. */
void intake_fail(struct intake_req *r, const struct ra_err *err);

#endif
