/*
 * review.c - `ra order approve|reject`; see review.h.
 */
#include "ra/flows/admin/review.h"
#include "ra/base/log.h"

#include <getopt.h>
#include <libpq-fe.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ra/db/dbsync.h"
#include "ra/db/db.h"
#include "ra/base/names.h"
#include "ra/flows/cert/order_issue.h"
#include "ra/flows/intake/quota.h"
#include "workflows/wf_order.h"

enum {
	L_STATE,
	L_FIRST,
	L_LAST,
	L_PUBLIC,
	L_CONTRACT_BY,
	L_REVIEW,
	L_OPENED_BY,
	L_IDENT,
	L_IDENT_ID,
	L_RESULT,
	L_MATCH,
	L_IFIRST,
	L_ILAST,
	L_IBIRTH,
	L_COUNTRY,
	L_PROOF,
	L_STAFF_SELF,
	L_ID
};

static const char *sql_load =
	"SELECT o.state, o.first_name, o.last_name, u.public_id, k.created_by, r.id, r.opened_by,"
	" i.id, i.ident_id, i.result, i.name_match, i.first_name, i.last_name, i.birth_date::text, i.country,"
	" EXISTS (SELECT 1 FROM cert_requests q WHERE q.order_id = o.id AND q.organisation IS NOT NULL)"
	"  AND o.contract_id IS NULL,"
	" EXISTS (SELECT 1 FROM support_staff s WHERE s.name = $2 AND s.user_id = u.public_id), o.id"
	" FROM orders o JOIN users u ON u.id = o.user_id LEFT JOIN contracts k ON k.id = o.contract_id"
	" LEFT JOIN reviews r ON r.order_id = o.id AND r.decision IS NULL"
	" LEFT JOIN LATERAL (SELECT * FROM identifications x WHERE x.order_id = o.id ORDER BY x.attempt DESC LIMIT 1) i"
	"  ON true"
	/* the order by RA order id or shop order number, as order show finds it (the RA id wins) */
	" WHERE o.id = (SELECT x.id FROM orders x WHERE x.id::text = $1 OR x.shop_order_id::text = $1"
	"  ORDER BY (x.id::text = $1) DESC LIMIT 1) FOR UPDATE OF o";

/* outbox (ra/db/outbox.h): $2 the new state, $3 the one decided from */
static const char *sql_state =
	"UPDATE orders SET state = $2, updated_at = now() WHERE id = $1::bigint AND state = $3";

static const char *sql_ident =
	"UPDATE identifications SET outcome = $2, decided_by = $3 WHERE id = $1::bigint AND outcome = 'review'";

static const char *sql_user =
	"UPDATE users SET ident_first_name = $2, ident_last_name = $3, ident_birth_date = $4::date,"
	" ident_verified_at = now() WHERE id = (SELECT user_id FROM orders WHERE id = $1::bigint)";

static const char *sql_review =
	"UPDATE reviews SET decision = $2, decided_by = $3, decided_at = now(), comment = $4"
	" WHERE id = $1::bigint AND decision IS NULL";

static int exec(PGconn *c, const char *sql, int n, const char *const *p, PGresult **out, struct ra_err *err)
{
	PGresult *r = PQexecParams(c, sql, n, NULL, p, NULL, NULL, 0);
	ExecStatusType st = PQresultStatus(r);

	if (st != PGRES_COMMAND_OK && st != PGRES_TUPLES_OK) {
		int rc = db_result_err(r, err);
		PQclear(r);
		return rc ? rc : ra_err_set(err, RA_E_INTERNAL, "", "statement failed");
	}
	if (out)
		*out = r;
	else
		PQclear(r);
	return 0;
}

/* R19 facts for an approval. */
static void who_facts(PGresult *L, const char *by, struct wf_facts *f)
{
	char actor[96], name[512];
	const char *opened = db_val(L, 0, L_OPENED_BY), *contract_by = db_val(L, 0, L_CONTRACT_BY);

	snprintf(actor, sizeof(actor), "support:%s", by);
	snprintf(name, sizeof(name), "%s %s", PQgetvalue(L, 0, L_FIRST), PQgetvalue(L, 0, L_LAST));
	f->actor_is_subject =
		PQgetvalue(L, 0, L_STAFF_SELF)[0] == 't' || name_compare(by, name) != NAME_MISMATCH;
	f->actor_opened_review =
		(opened && strcmp(opened, actor) == 0) || (contract_by && strcmp(contract_by, actor) == 0);
}

static int approve(PGconn *c, PGresult *L, const struct config *cfg, const char *oid, const char *actor,
		   const char *by, const char *comment, struct ra_err *err)
{
	struct wf_facts f = {0};
	struct wf_result r;
	const char *result = db_val(L, 0, L_RESULT), *ident_id = db_val(L, 0, L_IDENT_ID);
	const char *match = db_val(L, 0, L_MATCH), *country = db_val(L, 0, L_COUNTRY);
	int exact = match && strcmp(match, "exact") == 0, rc;
	const char *given = exact ? PQgetvalue(L, 0, L_FIRST) : db_val(L, 0, L_IFIRST);
	const char *sur = exact ? PQgetvalue(L, 0, L_LAST) : db_val(L, 0, L_ILAST);

	who_facts(L, by, &f);
	if ((rc = wf_step(&wf_order, WF_ORDER_IN_REVIEW, WF_ORDER_REVIEW_APPROVE, &f, &r)) != 0)
		return ra_err_set(err, RA_E_RULE, r.rule ? r.rule : "",
				  "%s: %s may not approve this order (%s)", r.rule ? r.rule : "refused", by,
				  f.actor_is_subject ? "they are its subject" : "they opened the request");
	/* R7: only a successful identification can be approved; the review confirms the identity */
	if (ident_id == NULL || result == NULL || given == NULL || sur == NULL ||
	    (strcmp(result, "SUCCESS") != 0 && strcmp(result, "SUCCESS_DATA_CHANGED") != 0))
		return ra_err_set(err, RA_E_RULE, "R7",
				  "R7: the order has no successful identification to approve");
	memset(&f, 0, sizeof(f));
	f.ident_passed = 1;
	f.needs_proof = PQgetvalue(L, 0, L_PROOF)[0] == 't';
	f.proof_approved = 1; /* this approval is the proof's (R7) */
	f.cert_class = WF_CLASS_QUALIFIED; /* classes are constrained by the table (R1) */
	if ((rc = wf_step(&wf_order, WF_ORDER_IDENT_PASSED, WF_ORDER_ISSUE_START, &f, &r)) != 0)
		return ra_err_set(err, RA_E_RULE, r.rule ? r.rule : "", "%s", wf_strerror(rc));
	{
		struct outbox ob = {0};
		const char *next = wf_state_name(&wf_order, r.next_state);

		/* in_review --review_approve--> ident_passed --issue_start--> issuing, in one change */
		ob_move(&ob, sql_state, &wf_order, WF_ORDER_IN_REVIEW, r.next_state, oid, 0, NULL);
		ob_stmt(&ob, sql_ident, 3, (const char *const[]){db_val(L, 0, L_IDENT), "passed", by}, 0);
		ob_stmt(&ob, sql_user, 4,
			(const char *const[]){oid, db_val(L, 0, L_IFIRST), db_val(L, 0, L_ILAST),
					      db_val(L, 0, L_IBIRTH)},
			0);
		ob_stmt(&ob, sql_review, 4,
			(const char *const[]){db_val(L, 0, L_REVIEW), "approved", by, comment}, 0);
		order_issue_plan(&ob, oid, given, sur, country ? country : cfg_str(cfg, "default_country"),
				 ident_id);
		ob_audit(&ob, actor, "order.review_approved", "order", oid,
			 comment ? comment : "approved after review", json_pack("{s:s}", "state", next));
		rc = ob_exec(&ob, c, NULL, err);
		if (rc == RA_E_CONFLICT) /* the order is locked: only its certificate requests can be gone */
			return ra_err_set(err, RA_E_CONFLICT, "order",
					  "the order has no certificate request left to issue");
		return rc;
	}
}

static int reject(PGconn *c, PGresult *L, const char *oid, const char *actor, const char *by,
		  const char *comment, struct ra_err *err)
{
	struct wf_result r;
	struct outbox ob = {0};
	int rc;
	const char *ident = db_val(L, 0, L_IDENT), *review = db_val(L, 0, L_REVIEW);

	/* no R19 guard: a rejection gives nobody a certificate (docs/workflows.md) */
	if ((rc = wf_step(&wf_order, WF_ORDER_IN_REVIEW, WF_ORDER_REVIEW_REJECT, NULL, &r)) != 0)
		return ra_err_set(err, RA_E_INTERNAL, "", "%s", wf_strerror(rc));
	ob_step(&ob, sql_state, &wf_order, WF_ORDER_IN_REVIEW, &r, oid, 0, NULL);
	if (ident)
		ob_stmt(&ob, sql_ident, 3, (const char *const[]){ident, "rejected", by}, 0);
	if (review)
		ob_stmt(&ob, sql_review, 4, (const char *const[]){review, "rejected", by, comment}, 0);
	/* R6: the order ends without a certificate, so its contract places go back */
	ob_stmt(&ob, quota_sql_release, 1, (const char *const[]){oid}, 0);
	ob_audit(&ob, actor, "order.review_rejected", "order", oid,
		 comment ? comment : "rejected after review",
		 json_pack("{s:s}", "state", wf_state_name(&wf_order, r.next_state)));
	return ob_exec(&ob, c, NULL, err);
}

int review_decide(const struct config *cfg, const char *order_ref, int approve_it, const char *by,
		  const char *comment, int dry_run, char *order_id, size_t cap, struct ra_err *err)
{
	PGconn *c = db_connect_sync(cfg_str(cfg, "database_url"), 30000);
	PGresult *L = NULL;
	char actor[96];
	const char *p[] = {order_ref, by};
	int rc;

	snprintf(actor, sizeof(actor), "support:%s", by);
	if (PQstatus(c) != CONNECTION_OK) {
		/* libpq's text names hosts, sockets and roles: the log's, not the client's */
		log_warn("db.connect_failed", "message", PQerrorMessage(c), NULL);
		rc = ra_err_set(err, RA_E_UNAVAILABLE, "", "database unavailable");
		goto out;
	}
	if ((rc = exec(c, "BEGIN", 0, NULL, NULL, err)) != 0 || (rc = exec(c, sql_load, 2, p, &L, err)) != 0)
		goto out;
	if (PQntuples(L) != 1) {
		rc = ra_err_set(err, RA_E_NOTFOUND, "order", "no order %s (with a user)", order_ref);
		goto out;
	}
	snprintf(order_id, cap, "%s", PQgetvalue(L, 0, L_ID));
	if (wf_state_parse(&wf_order, PQgetvalue(L, 0, L_STATE)) != WF_ORDER_IN_REVIEW) {
		rc = ra_err_set(err, RA_E_CONFLICT, "state", "order %s is %s, not in review", order_id,
				PQgetvalue(L, 0, L_STATE));
		goto out;
	}
	rc = approve_it ? approve(c, L, cfg, order_id, actor, by, comment, err)
			: reject(c, L, order_id, actor, by, comment, err);
	if (rc == 0) /* a dry run decided and wrote everything: it is rolled back instead */
		rc = exec(c, dry_run ? "ROLLBACK" : "COMMIT", 0, NULL, NULL, err);
out:
	PQclear(L);
	PQfinish(c); /* an open transaction is rolled back with the connection */
	return rc;
}

static void usage(void)
{
	fputs("usage: ra order approve|reject ORDER --by NAME [--comment TEXT]\n", stderr);
}

int review_cmd(struct config *cfg, int argc, char **argv)
{
	static const struct option opts[] = {
		{"by", required_argument, NULL, 'b'},
		{"comment", required_argument, NULL, 'c'},
		{NULL, 0, NULL, 0},
	};
	const char *by = NULL, *comment = NULL, *order;
	char order_id[32];
	struct ra_err err = {0};
	int o, approve_it;

	if (argc < 2 || (strcmp(argv[0], "approve") != 0 && strcmp(argv[0], "reject") != 0)) {
		usage();
		return 2;
	}
	approve_it = strcmp(argv[0], "approve") == 0;
	order = argv[1];
	optind = 2;
	while ((o = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		switch (o) {
		case 'b':
			by = optarg;
			break;
		case 'c':
			comment = optarg;
			break;
		default:
			usage();
			return 2;
		}
	}
	if (by == NULL || *by == '\0' || optind != argc || strspn(order, "0123456789") != strlen(order) ||
	    !*order) {
		usage();
		return 2;
	}
	if (review_decide(cfg, order, approve_it, by, comment, 0, order_id, sizeof(order_id), &err) != 0) {
		fprintf(stderr, "ra order %s: %s%s%s\n", argv[0], err.field, err.field[0] ? ": " : "",
			err.msg);
		return err.code == RA_E_RULE || err.code == RA_E_CONFLICT || err.code == RA_E_NOTFOUND ? 1
												       : 2;
	}
	printf("order %s %s\n", order, approve_it ? "approved: issuing" : "rejected");
	return 0;
}
