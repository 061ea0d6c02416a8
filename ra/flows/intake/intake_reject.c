/*
 * intake_reject.c - a delivery refused for a business reason (unknown SKU, a number that is
 * no mobile number, a contract that cannot take the order) is not dropped silently: it is
 * kept in intake_rejections for support, audited the first time (R16), and then answered
 * 422.  Repeats of the same delivery only count up, so the audit log is not flooded.
 * The order tables are untouched: whatever the order transaction did was rolled back.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ra/flows/intake/intake_reject.h"
#include "ra/flows/intake/intake_req.h"
#include "ra/base/log.h"
#include "ra/db/outbox.h"

struct reject {
	struct intake_req *r;
	struct ra_err err;
	struct db_conn *conn;
	char reason[64];
};

static const char *sql_reject =
	"INSERT INTO intake_rejections (shop_order_id, shop_number, reason, field, message)"
	" VALUES ($1::bigint, $2, $3, $4, $5)"
	" ON CONFLICT (shop, shop_order_id, reason, field) DO UPDATE"
	" SET deliveries = intake_rejections.deliveries + 1, last_seen = now(), message = EXCLUDED.message"
	" RETURNING deliveries";

static void done(struct reject *j, const struct ra_err *err)
{
	if (j->conn)
		db_release(j->conn); /* rolls back what did not commit */
	if (err != NULL) /* the 422 still goes out: the shop must learn the order was refused */
		log_error("intake.reject_not_recorded", "rid", j->r->hr->rid, "shop_order", j->r->shop_id,
			  "message", err->msg, NULL);
	intake_fail(j->r, &j->err);
	free(j);
}

static void on_unit(const int *rows, const struct ra_err *err, void *data)
{
	(void)rows;
	done(data, err);
}

static void on_committed(PGresult *res, const struct ra_err *err, void *data)
{
	(void)res;
	done(data, err);
}

/* The first delivery with this reason is audited (R16), with its row in one transaction;
 * repeats only count. */
static void on_recorded(PGresult *res, const struct ra_err *err, void *data)
{
	struct reject *j = data;
	struct intake_req *r = j->r;
	struct outbox ob = {0};

	if (err != NULL) {
		done(j, err);
		return;
	}
	if (PQntuples(res) != 1 || strcmp(PQgetvalue(res, 0, 0), "1") != 0) {
		db_conn_query(j->conn, "COMMIT", 0, NULL, on_committed, j);
		return;
	}
	ob_audit(&ob, INTAKE_ACTOR, "order.rejected", "shop_order", r->shop_id, j->reason,
		 json_pack("{s:s, s:s, s:s}", "shop_number", r->o->number, "field", j->err.field, "message",
			   j->err.msg));
	ob_queue_commit(&ob, j->conn, on_unit, j);
}

static void on_begun(PGresult *res, const struct ra_err *err, void *data)
{
	struct reject *j = data;

	(void)res;
	if (err != NULL) /* the insert sent with it is skipped and reports too */
		log_error("intake.reject_begin", "rid", j->r->hr->rid, "message", err->msg, NULL);
}

static void on_conn(struct db_conn *conn, const struct ra_err *err, void *data)
{
	struct reject *j = data;
	struct intake_req *r = j->r;

	if (err != NULL) {
		done(j, err);
		return;
	}
	j->conn = conn;
	db_conn_query(conn, "BEGIN", 0, NULL, on_begun, j);
	{
		const char *p[] = {r->shop_id, r->o->number, j->reason, j->err.field, j->err.msg};
		db_conn_query(conn, sql_reject, 5, p, on_recorded, j);
	}
}

void intake_reject(struct intake_req *r, const char *reason, const struct ra_err *err)
{
	struct reject *j = calloc(1, sizeof(*j));

	if (j == NULL) {
		intake_fail(r, err);
		return;
	}
	j->r = r;
	j->err = *err;
	snprintf(j->reason, sizeof(j->reason), "%s", reason);
	db_acquire(r->in->app->db, on_conn, j);
}
