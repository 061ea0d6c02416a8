/*
 * intake_tx.c - the order transaction of one delivery: a chain of asynchronous statements on
 * one leased connection, BEGIN ... COMMIT, then the reply.  Nothing is checked before it is
 * inserted: the INSERT ... ON CONFLICT DO NOTHING on the shop's order id decides which of any
 * number of concurrent deliveries creates the order, and the others wait on the row lock and
 * then find it (docs/intake.md).  The state changes follow workflows/wf_order.c.
 *
 * Round trips: statements queued in one callback go out together (ra/db.c pipelines them and
 * skips the rest of a group after a failure).  BEGIN goes with the order's one insert statement
 * (the order, its line items and certificate requests, and for a paid order its user), and the
 * tail of a paid order (state, job, audit records, COMMIT) is one group: a new customer's paid
 * order is two round trips and six statements (docs/intake.md).
 */
#include <stdlib.h>
#include <string.h>

#include "ra/base/config.h"
#include "ra/flows/intake/intake_reject.h"
#include "ra/flows/intake/intake_req.h"
#include "ra/flows/intake/intake_tx.h"
#include "ra/base/log.h"
#include "ra/base/names.h"
#include "ra/db/outbox.h"
#include "workflows/wf_order.h"

#define MAX_TRIES 3 /* deadlock or serialization failure: run the whole transaction again */

/*
 * The order, its line items (one JSON array, $11) with one certificate request per unit, and
 * for a paid order ($12 not NULL) its user, in one statement: data-modifying CTEs that take
 * the new order's id from o, so when the order exists already (o is empty) nothing else is
 * written either.  The user insert yields no row when the number has a user (R3): the caller
 * then reads that one.  Answers one row when the order was created: id, state, user id and
 * public id (NULL unless this statement created the user).
 */
static const char *sql_insert_order = DB_PLAN_ONCE
	"WITH o AS ("
	" INSERT INTO orders (shop_order_id, shop_number, shop_status, state, phone_e164, first_name, last_name,"
	"  email, contract_number, ident_tx)"
	" VALUES ($1::bigint, $2, $3, $4, NULLIF($5, ''), $6, $7, $8, $9, $10)"
	" ON CONFLICT (shop, shop_order_id) DO NOTHING RETURNING id, state),"
	" it AS ("
	" INSERT INTO order_items (order_id, line_item_id, product_id, sku, class, validity_years, contract_months,"
	"  contract_term, quantity, organisation, organisation_id, function)"
	" SELECT o.id, x.line_item_id, x.product_id, x.sku, x.class, x.validity_years, x.contract_months,"
	"  x.contract_term::interval, x.quantity, x.organisation, x.organisation_id, x.function"
	" FROM o, jsonb_to_recordset($11::jsonb) AS x(line_item_id bigint, product_id bigint, sku text, class text,"
	"  validity_years int, contract_months int, contract_term text, quantity int, organisation text,"
	"  organisation_id text, function text)"
	" RETURNING id, order_id, class, validity_years, quantity, organisation, organisation_id, function),"
	" cr AS ("
	" INSERT INTO cert_requests (order_id, item_id, seq, class, validity_years, organisation, organisation_id,"
	"  function)"
	" SELECT it.order_id, it.id, g, it.class, it.validity_years, it.organisation, it.organisation_id, it.function"
	" FROM it CROSS JOIN LATERAL generate_series(1, it.quantity) AS g),"
	" u AS ("
	" INSERT INTO users (public_id, phone_e164, first_name, last_name, email, name_fold)"
	" SELECT $12, $13, $14, $15, $16, $17 FROM o WHERE $12::text IS NOT NULL"
	" ON CONFLICT (phone_e164) DO NOTHING RETURNING id, public_id)"
	" SELECT o.id, o.state, u.id, u.public_id FROM o LEFT JOIN u ON true";

static const char *sql_lock_order = DB_PLAN_ONCE
	"SELECT id, state, quota_taken, shop_cancel_seen_at IS NOT NULL FROM orders"
	" WHERE shop = 'woocommerce' AND shop_order_id = $1::bigint FOR UPDATE";

/* R6: the quota is taken by the row update itself, so two orders cannot both take the last place.
 * The places are the order's stored certificate requests (a waiting order keeps its first items). */
static const char *sql_take_quota = DB_PLAN_ONCE
	"UPDATE contracts SET used = used + n.c"
	" FROM (SELECT count(*)::int AS c FROM cert_requests WHERE order_id = $2::bigint) n"
	" WHERE number = $1 AND status = 'open' AND used + n.c <= quota"
	" RETURNING id, organisation, organisation_id, n.c";

static const char *sql_contract_why =
	DB_PLAN_ONCE "SELECT status, quota - used FROM contracts WHERE number = $1";

static const char *sql_user_insert = DB_PLAN_ONCE
	"INSERT INTO users (public_id, phone_e164, first_name, last_name, email, name_fold)"
	" VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT (phone_e164) DO NOTHING RETURNING id, public_id";

static const char *sql_user_get = DB_PLAN_ONCE
	"SELECT id, public_id, ident_first_name, ident_last_name,"
	" floor(extract(epoch FROM now() - ident_verified_at) / 86400)::int"
	" FROM users WHERE phone_e164 = $1";

/* R6: a variant-2 certificate under a contract carries the contract's organisation.  The
 * order row is locked already (inserted or SELECT ... FOR UPDATE by this transaction); one
 * row answers when it moved (outbox: $2 the new state, $3 the one decided from). */
static const char *sql_pay = DB_PLAN_ONCE
	"WITH o AS (UPDATE orders SET state = $2, user_id = $4::bigint, contract_id = $5::bigint,"
	"  quota_taken = $6::int, contract_number = $7, shop_status = $8, ident_reused = $9::boolean,"
	"  ident_attempts = CASE WHEN $9::boolean THEN 0 ELSE 1 END, phone_e164 = $10, paid_at = now(),"
	"  updated_at = now() WHERE id = $1::bigint AND state = $3 RETURNING id),"
	" r AS (UPDATE cert_requests SET organisation = $11, organisation_id = $12"
	"  WHERE order_id = (SELECT id FROM o) AND organisation IS NOT NULL AND $11::text IS NOT NULL)"
	" SELECT id FROM o";

/* Cancel: the state, and the contract places back (R6). */
static const char *sql_cancel = DB_PLAN_ONCE
	"WITH o AS (UPDATE orders SET state = $2, shop_status = $4, quota_taken = 0, updated_at = now()"
	"  WHERE id = $1::bigint AND state = $3 RETURNING contract_id),"
	" c AS (UPDATE contracts SET used = used - $5::int WHERE id = (SELECT contract_id FROM o) AND $5::int > 0)"
	" SELECT 1 FROM o";

static const char *sql_cancel_seen = DB_PLAN_ONCE
	"UPDATE orders SET shop_cancel_seen_at = now(), shop_status = $2, updated_at = now() WHERE id = $1::bigint";

static void on_res(PGresult *res, const struct ra_err *err, void *data);
static void on_tail_res(PGresult *res, const struct ra_err *err, void *data);
static void step_begun(struct intake_req *r, PGresult *res);
static void pay_start(struct intake_req *r);

static void q(struct intake_req *r, const char *sql, int n, const char *const *p, intake_step next)
{
	r->next = next;
	db_conn_query(r->conn, sql, n, p, on_res, r);
}

static void release(struct intake_req *r)
{
	if (r->conn != NULL)
		db_release(r->conn); /* rolls back an open transaction */
	r->conn = NULL;
}

static void on_acquired(struct db_conn *conn, const struct ra_err *err, void *data)
{
	struct intake_req *r = data;

	if (err != NULL) {
		intake_fail(r, err);
		return;
	}
	r->conn = conn;
	/* Sent with the order insert that step_begun queues (one round trip); if BEGIN failed,
	 * the insert is skipped, never run outside the transaction. */
	db_conn_query(conn, "BEGIN", 0, NULL, on_tail_res, r);
	step_begun(r, NULL);
}

static void reset(struct intake_req *r)
{
	r->order_id[0] = r->state[0] = r->contract_id[0] = r->user_id[0] = r->public_id[0] = '\0';
	r->created = r->cancel_seen = r->quota_taken = r->user_created = r->reuse = 0;
	free(r->contract_org);
	free(r->contract_org_id);
	r->contract_org = r->contract_org_id = NULL;
	r->result = NULL;
}

void intake_tx_start(struct intake_req *r)
{
	reset(r);
	db_acquire(r->in->app->db, on_acquired, r);
}

static void abort_tx(struct intake_req *r, const struct ra_err *err)
{
	release(r);
	/* 40001/40P01 (and a unique violation we did not expect) come back as RA_E_CONFLICT:
	 * the transaction changed nothing, so it is simply run again. */
	if (err->code == RA_E_CONFLICT && ++r->tries < MAX_TRIES) {
		log_info("intake.retry", "rid", r->hr->rid, "shop_order", r->shop_id, "message", err->msg,
			 NULL);
		intake_tx_start(r);
		return;
	}
	intake_fail(r, err);
}

static void fail_internal(struct intake_req *r, const char *what)
{
	struct ra_err e;

	ra_err_set(&e, RA_E_INTERNAL, "", "order transaction: %s", what);
	release(r);
	intake_fail(r, &e);
}

static void on_res(PGresult *res, const struct ra_err *err, void *data)
{
	struct intake_req *r = data;

	if (err != NULL) {
		abort_tx(r, err);
		return;
	}
	r->next(r, res);
}

/* A statement sent ahead of the one whose result drives r->next: only its failure matters
 * (the release in abort_tx drops the results still due for the rest of its group). */
static void on_tail_res(PGresult *res, const struct ra_err *err, void *data)
{
	(void)res;
	if (err != NULL)
		abort_tx(data, err);
}

/* ---- commit and reply ---------------------------------------------------------------------- */

static void step_committed(struct intake_req *r, PGresult *res)
{
	json_t *o;

	(void)res;
	release(r);
	log_info("intake.order", "rid", r->hr->rid, "shop_order", r->shop_id, "order", r->order_id, "state",
		 r->state, "result", r->result, NULL);
	o = json_pack("{s:s, s:s, s:s}", "result", r->result, "order_id", r->order_id, "state", r->state);
	http_reply_json(r->hr, 200, o); /* only now: the order is committed */
	intake_req_free(r);
}

static void commit(struct intake_req *r, const char *result)
{
	r->result = result;
	q(r, "COMMIT", 0, NULL, step_committed);
}

static void on_unit(const int *rows, const struct ra_err *err, void *data)
{
	struct intake_req *r = data;

	(void)rows;
	if (err != NULL) {
		abort_tx(r, err);
		return;
	}
	step_committed(r, NULL);
}

/* The change of this delivery (state, job, audit records) and COMMIT: one outbox unit, the
 * audit records and COMMIT sent together (ra/db/outbox.h). */
static void commit_unit(struct intake_req *r, struct outbox *ob, const char *result)
{
	r->result = result;
	ob_queue_commit(ob, r->conn, on_unit, r);
}

/* R16: the delivery's one audit record, then COMMIT.  details is stolen. */
static void audit_commit(struct intake_req *r, const char *action, const char *oid, const char *reason,
			 json_t *details, const char *result)
{
	struct outbox ob = {0};

	ob_audit(&ob, INTAKE_ACTOR, action, "order", oid, reason, details);
	commit_unit(r, &ob, result);
}

static json_t *order_details(struct intake_req *r)
{
	return json_pack("{s:s, s:s, s:s}", "shop_order_id", r->shop_id, "shop_number", r->o->number,
			 "shop_status", r->o->status_raw);
}

/* ---- insert or lock the order -------------------------------------------------------------- */

static void step_existing(struct intake_req *r, PGresult *res);
static void step_inserted(struct intake_req *r, PGresult *res);
static void items_done(struct intake_req *r, PGresult *res);

/* The line items as the JSON array sql_insert_order reads; "[]" for an order the shop cancelled
 * before we saw it paid (no certificate requests).  NULL when out of memory. */
static char *items_json(const struct intake_req *r)
{
	json_t *a = json_array();
	char *text;

	for (size_t i = 0; r->kind != INTAKE_CANCEL && i < r->o->n_items; i++) {
		const struct woo_line_item *it = &r->o->items[i];
		json_array_append_new(
			a,
			json_pack("{s:I, s:I, s:s, s:s, s:i, s:i, s:s, s:i, s:s?, s:s?, s:s?}",
				  "line_item_id", (json_int_t)it->id, "product_id",
				  (json_int_t)it->product_id, "sku", it->sku, "class", r->prod[i]->class_name,
				  "validity_years", r->prod[i]->validity_years, "contract_months",
				  r->prod[i]->contract_months, "contract_term", r->prod[i]->contract_term,
				  "quantity", it->quantity, "organisation", it->organisation,
				  "organisation_id", it->organisation_id, "function", it->function));
	}
	text = json_dumps(a, JSON_COMPACT);
	json_decref(a);
	return text;
}

/* The user search key (issue #17), folded with libunistring: SQL cannot.  Caller frees. */
static char *user_fold(const struct intake_req *r)
{
	char *full = NULL, *fold = NULL;

	if (asprintf(&full, "%s %s", r->o->first_name ? r->o->first_name : "",
		     r->o->last_name ? r->o->last_name : "") >= 0)
		fold = name_fold(full);
	free(full);
	return fold;
}

static void step_begun(struct intake_req *r, PGresult *res)
{
	char tx[3 + USERID_MAX];
	char uid[USERID_MAX], pub[USERID_MAX];
	const char *state = wf_state_name(&wf_order, r->kind == INTAKE_CANCEL ? WF_ORDER_CANCELLED
									      : WF_ORDER_AWAITING_PAYMENT);
	int paid = r->kind == INTAKE_PAID;
	char *items, *fold;

	(void)res;
	/* Our transaction number at the ident provider: unique (UNIQUE constraint) and random;
	 * and a paid order's user id, should the number have no user yet. */
	if (userid_generate(uid, sizeof(uid)) != 0 || (paid && userid_generate(pub, sizeof(pub)) != 0)) {
		fail_internal(r, "no random number");
		return;
	}
	snprintf(tx, sizeof(tx), "RA-%s", uid);
	items = items_json(r);
	fold = paid ? user_fold(r) : NULL;
	if (items == NULL) {
		free(fold);
		fail_internal(r, "out of memory");
		return;
	}
	{
		const char *p[] = {r->shop_id,
				   r->o->number,
				   r->o->status_raw,
				   state,
				   r->phone,
				   r->o->first_name,
				   r->o->last_name,
				   r->o->email,
				   r->o->contract_number,
				   tx,
				   items,
				   paid ? pub : NULL,
				   r->phone,
				   r->o->first_name,
				   r->o->last_name,
				   r->o->email,
				   fold};
		q(r, sql_insert_order, 17, p, step_inserted);
	}
	free(items);
	free(fold);
}

static void step_inserted(struct intake_req *r, PGresult *res)
{
	if (PQntuples(res) == 0) {
		const char *p[] = {r->shop_id};
		q(r, sql_lock_order, 1, p, step_existing);
		return;
	}
	r->created = 1;
	snprintf(r->order_id, sizeof(r->order_id), "%s", PQgetvalue(res, 0, 0));
	snprintf(r->state, sizeof(r->state), "%s", PQgetvalue(res, 0, 1));
	if (db_val(res, 0, 2)) {
		r->user_created = 1;
		snprintf(r->user_id, sizeof(r->user_id), "%s", PQgetvalue(res, 0, 2));
		snprintf(r->public_id, sizeof(r->public_id), "%s", PQgetvalue(res, 0, 3));
	}
	if (r->kind == INTAKE_CANCEL) {
		/* Cancelled before we saw it paid: this row makes a late 'processing' delivery a no-op. */
		audit_commit(r, "order.cancelled", r->order_id, "cancelled by the shop before payment",
			     order_details(r), "cancelled");
		return;
	}
	items_done(r, NULL);
}

static void items_done(struct intake_req *r, PGresult *res)
{
	(void)res;
	if (r->kind == INTAKE_PAID) {
		pay_start(r);
		return;
	}
	audit_commit(r, "order.awaiting_payment", r->order_id, "recorded, waiting for payment",
		     order_details(r), "created");
}

/* ---- an order that exists ------------------------------------------------------------------ */

static void cancel_existing(struct intake_req *r);

static void step_existing(struct intake_req *r, PGresult *res)
{
	if (PQntuples(res) != 1) {
		fail_internal(r, "order vanished");
		return;
	}
	snprintf(r->order_id, sizeof(r->order_id), "%s", PQgetvalue(res, 0, 0));
	snprintf(r->state, sizeof(r->state), "%s", PQgetvalue(res, 0, 1));
	r->quota_taken = atoi(PQgetvalue(res, 0, 2));
	r->cancel_seen = PQgetvalue(res, 0, 3)[0] == 't';
	switch (r->kind) {
	case INTAKE_PAID:
		if (wf_state_parse(&wf_order, r->state) == WF_ORDER_AWAITING_PAYMENT)
			pay_start(r);
		else
			commit(r, "unchanged"); /* a repeat: the order exists */
		return;
	case INTAKE_WAITING:
		commit(r, "unchanged");
		return;
	case INTAKE_CANCEL:
		cancel_existing(r);
		return;
	}
}

static void cancel_existing(struct intake_req *r)
{
	struct wf_result wr;
	struct outbox ob = {0};
	int st = wf_state_parse(&wf_order, r->state);
	char q_s[16];

	if (st >= 0 && wf_step(&wf_order, st, WF_ORDER_SHOP_CANCEL, NULL, &wr) == 0) {
		json_t *d = order_details(r);
		snprintf(q_s, sizeof(q_s), "%d", r->quota_taken);
		ob_step(&ob, sql_cancel, &wf_order, st, &wr, r->order_id, 2,
			(const char *const[]){r->o->status_raw, q_s});
		json_object_set_new(d, "quota_released", json_integer(r->quota_taken));
		snprintf(r->state, sizeof(r->state), "%s", wf_state_name(&wf_order, wr.next_state));
		ob_audit(&ob, INTAKE_ACTOR, "order.cancelled", "order", r->order_id, "cancelled by the shop",
			 d);
		commit_unit(r, &ob, "cancelled");
		return;
	}
	/* Issuing or issued: a certificate may exist.  Audited once; support decides. */
	if ((st == WF_ORDER_ISSUING || st == WF_ORDER_ISSUED) && !r->cancel_seen) {
		ob_stmt(&ob, sql_cancel_seen, 2, (const char *const[]){r->order_id, r->o->status_raw}, 1);
		ob_audit(
			&ob, INTAKE_ACTOR, "order.shop_cancel_not_applied", "order", r->order_id,
			"the shop cancelled after issuance had started: left to support (revocation is theirs)",
			order_details(r));
		commit_unit(r, &ob, "left_to_support");
		return;
	}
	commit(r, "unchanged");
}

/* ---- paid: contract, user, identification, job --------------------------------------------- */

static void step_quota(struct intake_req *r, PGresult *res);
static void step_contract_why(struct intake_req *r, PGresult *res);
static void user_start(struct intake_req *r);

static void pay_start(struct intake_req *r)
{
	if (r->o->contract_number == NULL) {
		user_start(r);
		return;
	}
	{
		const char *p[] = {r->o->contract_number, r->order_id};
		q(r, sql_take_quota, 2, p, step_quota);
	}
}

static void step_quota(struct intake_req *r, PGresult *res)
{
	if (PQntuples(res) == 0) {
		const char *p[] = {r->o->contract_number};
		q(r, sql_contract_why, 1, p, step_contract_why);
		return;
	}
	snprintf(r->contract_id, sizeof(r->contract_id), "%s", PQgetvalue(res, 0, 0));
	r->contract_org = strdup(PQgetvalue(res, 0, 1));
	r->contract_org_id = db_val(res, 0, 2) ? strdup(PQgetvalue(res, 0, 2)) : NULL;
	r->quota_taken = atoi(PQgetvalue(res, 0, 3));
	user_start(r);
}

/* R6: why the contract could not take the order; everything so far is rolled back. */
static void step_contract_why(struct intake_req *r, PGresult *res)
{
	static const char *field = "meta_data.contract_number";
	struct ra_err e;
	const char *reason;

	if (PQntuples(res) == 0) {
		reason = "contract_unknown";
		ra_err_set(&e, RA_E_RULE, field, "contract number '%.64s' is unknown (R6)",
			   r->o->contract_number);
	} else if (strcmp(PQgetvalue(res, 0, 0), "open") != 0) {
		reason = "contract_closed";
		ra_err_set(&e, RA_E_RULE, field, "contract number '%.64s' is closed (R6)",
			   r->o->contract_number);
	} else {
		reason = "contract_exhausted";
		ra_err_set(
			&e, RA_E_RULE, field,
			"contract number '%.64s' is exhausted: %s certificate(s) left, the order needs %d (R6)",
			r->o->contract_number, PQgetvalue(res, 0, 1), r->n_certs);
	}
	release(r);
	intake_reject(r, reason, &e);
}

static void step_user_inserted(struct intake_req *r, PGresult *res);
static void step_user_got(struct intake_req *r, PGresult *res);
static void decide(struct intake_req *r, const char *ident_first, const char *ident_last, const char *age);

static void user_start(struct intake_req *r)
{
	char uid[USERID_MAX];

	if (r->user_created) { /* by the order's insert statement */
		decide(r, NULL, NULL, NULL);
		return;
	}
	if (r->created) {
		/* R3: the order's insert found the number's user (or waited for a concurrent
		 * delivery's, ON CONFLICT): this order attaches to it */
		const char *p[] = {r->phone};
		q(r, sql_user_get, 1, p, step_user_got);
		return;
	}
	/* an order recorded earlier, paid now: its user may not exist yet */
	if (userid_generate(uid, sizeof(uid)) != 0) {
		fail_internal(r, "no random number");
		return;
	}
	{
		char *fold = user_fold(r);
		const char *p[] = {uid, r->phone, r->o->first_name, r->o->last_name, r->o->email, fold};
		q(r, sql_user_insert, 6, p, step_user_inserted);
		free(fold);
	}
}

static void step_user_inserted(struct intake_req *r, PGresult *res)
{
	if (PQntuples(res) == 0) {
		/* R3: the number has a user already (maybe committed a moment ago by a concurrent
		 * delivery: ON CONFLICT waited for it).  This order attaches to it. */
		const char *p[] = {r->phone};
		q(r, sql_user_get, 1, p, step_user_got);
		return;
	}
	r->user_created = 1;
	snprintf(r->user_id, sizeof(r->user_id), "%s", PQgetvalue(res, 0, 0));
	snprintf(r->public_id, sizeof(r->public_id), "%s", PQgetvalue(res, 0, 1));
	decide(r, NULL, NULL, NULL);
}

static void step_user_got(struct intake_req *r, PGresult *res)
{
	if (PQntuples(res) != 1) {
		fail_internal(r, "user vanished");
		return;
	}
	snprintf(r->user_id, sizeof(r->user_id), "%s", PQgetvalue(res, 0, 0));
	snprintf(r->public_id, sizeof(r->public_id), "%s", PQgetvalue(res, 0, 1));
	decide(r, db_val(res, 0, 2), db_val(res, 0, 3), db_val(res, 0, 4));
}

static int has_organisation(const struct woo_order *o)
{
	for (size_t i = 0; i < o->n_items; i++)
		if (o->items[i].organisation != NULL)
			return 1;
	return 0;
}

/*
 * R17: rely on the user's earlier identification only within ident.reuse_days and only when
 * the names on this order are exactly those identified (a name that needs review is a change).
 * Variant-2 attributes were never part of a video identification, so such orders are always
 * identified again.  The guard in wf_order decides; this only gathers the facts.
 */
static int may_reuse(struct intake_req *r, const char *first, const char *last, const char *age)
{
	struct wf_facts f = {0};
	struct wf_result wr;
	char on[512], idn[512];

	if (first == NULL || last == NULL || age == NULL)
		return 0;
	snprintf(on, sizeof(on), "%s %s", r->o->first_name, r->o->last_name);
	snprintf(idn, sizeof(idn), "%s %s", first, last);
	f.has_prior_ident = 1;
	f.ident_age_days = atoi(age);
	f.ident_reuse_max_days = (int)cfg_int(r->in->app->cfg, "ident.reuse_days");
	f.attrs_changed = name_compare(on, idn) != NAME_EXACT || has_organisation(r->o);
	return wf_step(&wf_order, WF_ORDER_RECEIVED, WF_ORDER_IDENT_REUSED, &f, &wr) == 0;
}

/* The rest of a paid order after its state change: the outbox job (invitation, or issuance
 * on reuse; it commits with the order or not at all), the audit records (R16) and COMMIT. */
static void paid_tail(struct intake_req *r, struct outbox *ob)
{
	const char *kind = r->reuse ? "order_issue" : "ident_invite";
	char key[96];
	json_t *d = order_details(r);

	snprintf(key, sizeof(key), "%s:%s:1", kind, r->order_id);
	ob_job(ob, &(struct ob_job){.kind = kind,
				    .payload = json_pack("{s:I}", "order_id",
							 (json_int_t)strtoll(r->order_id, NULL, 10)),
				    .key = key});
	json_object_set_new(d, "user_id", json_string(r->public_id));
	json_object_set_new(d, "certificates", json_integer(r->n_certs));
	json_object_set_new(d, "contract_number",
			    r->o->contract_number ? json_string(r->o->contract_number) : json_null());
	json_object_set_new(d, "identification", json_string(r->reuse ? "reused (R17)" : "invite"));
	ob_audit(ob, INTAKE_ACTOR, "order.received", "order", r->order_id, "paid in the shop", d);
	if (r->user_created)
		ob_audit(ob, INTAKE_ACTOR, "user.created", "user", r->public_id,
			 "first order for this mobile number (R3)",
			 json_pack("{s:s}", "order_id", r->order_id));
	commit_unit(r, ob, "created");
}

static void decide(struct intake_req *r, const char *ident_first, const char *ident_last, const char *age)
{
	struct wf_result wr;
	struct outbox ob = {0};
	char quota[16];
	int next;

	/* awaiting_payment --paid--> received (invite), then maybe received --ident_reused--> ident_passed */
	if (wf_step(&wf_order, WF_ORDER_AWAITING_PAYMENT, WF_ORDER_PAID, NULL, &wr) != 0) {
		fail_internal(r, "order table refuses 'paid'");
		return;
	}
	r->reuse = may_reuse(r, ident_first, ident_last, age);
	next = r->reuse ? WF_ORDER_IDENT_PASSED : wr.next_state;
	snprintf(r->state, sizeof(r->state), "%s", wf_state_name(&wf_order, next));
	snprintf(quota, sizeof(quota), "%d", r->quota_taken);
	ob_move(&ob, sql_pay, &wf_order, WF_ORDER_AWAITING_PAYMENT, next, r->order_id, 9,
		(const char *const[]){r->user_id, r->contract_id[0] ? r->contract_id : NULL, quota,
				      r->o->contract_number, r->o->status_raw, r->reuse ? "true" : "false",
				      r->phone, r->contract_org, r->contract_org_id});
	paid_tail(r, &ob);
}
