/*
 * order_issue.c - certificates for an order whose identification passed, and the order_issue
 * job (R17 reuse); see order_issue.h.
 */
#include "ra/flows/cert/order_issue.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ra/jobs/jobs.h"
#include "ra/base/log.h"
#include "workflows/wf_order.h"

/* Variant 2 (R4) carries organisation, its identifier and the function; a seal carries only
 * the organisation (ca-bridge/cab.h).  jsonb_strip_nulls drops what a variant-1 lacks. */
static const char *const sql_certificates =
	"WITH o AS (SELECT o.id, u.public_id FROM orders o JOIN users u ON u.id = o.user_id"
	"  WHERE o.id = $1::bigint AND o.state = $6),"
	" c AS (INSERT INTO certificates (id, user_id, order_id, class, subject, validity_years, ident_id,"
	"   contract_term)"
	"  SELECT 'crq-' || r.id, o.public_id, o.id::text, r.class,"
	"   CASE WHEN r.class = 'seal' THEN jsonb_strip_nulls(jsonb_build_object('country', $4::text,"
	"     'organization', r.organisation, 'organization_identifier', r.organisation_id,"
	"     'common_name', r.organisation))"
	"   ELSE jsonb_strip_nulls(jsonb_build_object('country', $4::text, 'given_name', $2::text,"
	"     'surname', $3::text, 'serial_number', o.public_id, 'common_name', $2::text || ' ' || $3::text,"
	"     'organization', r.organisation, 'organization_identifier', r.organisation_id, 'title', r.function)) END,"
	"   r.validity_years, $5, coalesce(i.contract_term, i.contract_months * interval '1 month')"
	"  FROM cert_requests r JOIN o ON r.order_id = o.id JOIN order_items i ON i.id = r.item_id ORDER BY r.id"
	"  ON CONFLICT (id) DO NOTHING RETURNING id, class)"
	/* each row: the certificate and its audit record's details (outbox: ob_*_each) */
	" SELECT id, jsonb_build_object('order_id', $1::text, 'class', class, 'ident_id', $5::text)::text FROM c";

int order_issue_plan(struct outbox *ob, const char *order_id, const char *given, const char *surname,
		     const char *country, const char *ident_id)
{
	const char *p[] = {order_id, given,    surname,
			   country,  ident_id, wf_state_name(&wf_order, WF_ORDER_ISSUING)};
	/* need_rows: an order without requests (or issued already) is not silently "issued" */
	int c = ob_stmt(ob, sql_certificates, 6, p, 1);

	if (c < 0)
		return -1;
	ob_job_each(ob, c, "cert_issue", "certificate_id", "cert_issue:");
	ob_audit_each(ob, c, "system", "cert.requested", "certificate", "identification passed (R7)");
	return c;
}

/* ---- order_issue (R17) ------------------------------------------------------------------- */

/* The user's newest passed identification is what the reused order rests on (R7, R17). */
static const char *sql_load =
	"SELECT o.state, o.first_name, o.last_name,"
	" EXISTS (SELECT 1 FROM cert_requests r WHERE r.order_id = o.id AND r.organisation IS NOT NULL)"
	"  AND o.contract_id IS NULL,"
	" i.ident_id, i.country"
	" FROM orders o"
	" LEFT JOIN LATERAL (SELECT i.ident_id, i.country FROM identifications i JOIN orders p ON p.id = i.order_id"
	"  WHERE p.user_id = o.user_id AND i.outcome = 'passed' AND i.ident_id IS NOT NULL"
	"  ORDER BY i.decided_at DESC LIMIT 1) i ON true"
	" WHERE o.id = $1::bigint";

/* outbox (ra/db/outbox.h): $2 the new state, $3 the one decided from */
static const char *sql_move =
	"UPDATE orders SET state = $2, updated_at = now() WHERE id = $1::bigint AND state = $3";

static const char *sql_review =
	"INSERT INTO reviews (order_id, reason, opened_by) VALUES ($1::bigint, $2, 'system')";

struct oi {
	struct job *job;
	char order_id[24];
	int certs; /* the unit's certificate statement */
};

static void on_committed(const int *rows, const struct ra_err *err, void *data)
{
	struct oi *oi = data;

	if (err != NULL) {
		/* RA_E_CONFLICT: another run moved the order on; the next run finds it done */
		job_fail(oi->job, err, 1);
	} else {
		log_info("order.issuing", "order", oi->order_id, NULL);
		job_done(oi->job, json_pack("{s:i}", "certificates", rows[oi->certs]));
	}
	free(oi);
}

static void on_proof(const int *rows, const struct ra_err *err, void *data)
{
	struct oi *oi = data;

	(void)rows;
	if (err != NULL)
		job_fail(oi->job, err, 1);
	else
		job_done(oi->job, json_pack("{s:s}", "review", "variant 2 needs proof"));
	free(oi);
}

static void on_loaded(PGresult *res, const struct ra_err *err, void *data)
{
	struct oi *oi = data;
	struct wf_facts f = {0};
	struct wf_result wr;
	struct outbox ob = {0};
	struct ra_err e;
	const char *ident, *country;
	int rc;

	if (err != NULL) {
		job_fail(oi->job, err, 1);
		goto out;
	}
	if (PQntuples(res) != 1) {
		ra_err_set(&e, RA_E_NOTFOUND, "order_id", "order %s does not exist", oi->order_id);
		job_fail(oi->job, &e, 0);
		goto out;
	}
	if (wf_state_parse(&wf_order, PQgetvalue(res, 0, 0)) != WF_ORDER_IDENT_PASSED) {
		job_done(oi->job, json_pack("{s:s}", "skipped", PQgetvalue(res, 0, 0)));
		goto out;
	}
	ident = db_val(res, 0, 4);
	country = db_val(res, 0, 5);
	f.ident_passed = ident != NULL;
	f.needs_proof = PQgetvalue(res, 0, 3)[0] == 't';
	f.cert_class = WF_CLASS_QUALIFIED; /* the table's CHECK admits only the three classes (R1) */
	rc = wf_step(&wf_order, WF_ORDER_IDENT_PASSED, WF_ORDER_ISSUE_START, &f, &wr);
	if (rc == WF_E_GUARD && f.ident_passed && f.needs_proof) {
		static const char *why = "R7: variant 2, the organisation needs proof";
		ob_move(&ob, sql_move, &wf_order, WF_ORDER_IDENT_PASSED, WF_ORDER_IN_REVIEW, oi->order_id, 0,
			NULL);
		ob_stmt(&ob, sql_review, 2, (const char *const[]){oi->order_id, why}, 1);
		ob_audit(&ob, "system", "order.in_review", "order", oi->order_id, why, NULL);
		ob_commit(&ob, oi->job->app->db, on_proof, oi);
		return;
	}
	if (rc != 0) {
		/* R7: nothing on record to rely on; support must look (the job is parked dead) */
		ra_err_set(&e, RA_E_RULE, wr.rule ? wr.rule : "",
			   "%s: no passed identification on record for the user", wr.rule ? wr.rule : "R7");
		job_fail(oi->job, &e, 0);
		goto out;
	}
	ob_step(&ob, sql_move, &wf_order, WF_ORDER_IDENT_PASSED, &wr, oi->order_id, 0, NULL);
	/* R17 allowed reuse only with the exact identified names: the order's spelling is theirs */
	oi->certs =
		order_issue_plan(&ob, oi->order_id, PQgetvalue(res, 0, 1), PQgetvalue(res, 0, 2),
				 country ? country : cfg_str(oi->job->app->cfg, "default_country"), ident);
	ob_audit(&ob, "system", "order.issuing", "order", oi->order_id, "earlier identification reused (R17)",
		 json_pack("{s:s?}", "ident_id", ident));
	ob_commit(&ob, oi->job->app->db, on_committed, oi);
	return;
out:
	free(oi);
}

void order_issue_run(struct job *job)
{
	struct oi *oi = calloc(1, sizeof(*oi));
	json_t *id = json_object_get(job->payload, "order_id");
	struct ra_err e;

	if (oi == NULL)
		abort();
	if (!json_is_integer(id) || json_integer_value(id) <= 0) {
		free(oi);
		ra_err_set(&e, RA_E_INVALID, "order_id", "payload has no order_id");
		job_fail(job, &e, 0);
		return;
	}
	oi->job = job;
	snprintf(oi->order_id, sizeof(oi->order_id), "%lld", (long long)json_integer_value(id));
	{
		const char *p[] = {oi->order_id};
		db_query(job->app->db, sql_load, 1, p, on_loaded, oi);
	}
}
