/*
 * ident_job.c - the ident_result job (issue #5): a callback only triggers it.  It loads the
 * order, fetches the result from the provider (ident_fetch.c), parses it strictly
 * (ra/idnow.h), decides (ident_decide.c) and stores the decision (ident_apply.c).
 *
 * Payload {"order_id": N, "tx": "...", "claimed": "..."}: claimed is what the callback body
 * said, used only to tell "the provider is still pending although the callback said final"
 * (retry later) from "pending as announced" (wait for the next callback).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ra/db/db.h"
#include "ra/flows/ident/ident.h"
#include "ra/flows/ident/ident_fetch.h"
#include "ra/flows/ident/ident_apply.h"
#include "ra/flows/ident/ident_run.h"
#include "ra/base/log.h"
#include "workflows/wf_order.h"

static const char *sql_load =
	"SELECT o.state, o.ident_tx = $2, o.first_name, o.last_name, o.ident_attempts,"
	" EXISTS (SELECT 1 FROM cert_requests r WHERE r.order_id = o.id AND r.organisation IS NOT NULL)"
	"  AND o.contract_id IS NULL,"
	" coalesce((SELECT max(validity_years) FROM cert_requests r WHERE r.order_id = o.id), 0),"
	" (SELECT min(class) FROM cert_requests r WHERE r.order_id = o.id)"
	" FROM orders o WHERE o.id = $1::bigint";

static void failf(struct ident_run *r, int retryable, int code, const char *field, const char *msg)
{
	struct ra_err e;

	ra_err_set(&e, code, field, "%s", msg);
	ident_run_fail(r, retryable, &e);
}

static int class_of(const char *c)
{
	if (c == NULL)
		return WF_CLASS_NONE;
	return !strcmp(c, "qualified")  ? WF_CLASS_QUALIFIED
	       : !strcmp(c, "advanced") ? WF_CLASS_ADVANCED
	       : !strcmp(c, "seal")     ? WF_CLASS_SEAL
					: WF_CLASS_NONE;
}

static int claimed_final(const char *claimed)
{
	static const char *const pending[] = {"REVIEW_PENDING", "CHECK_PENDING", "FRAUD_SUSPICION_PENDING",
					      "unknown"};

	for (size_t i = 0; i < sizeof(pending) / sizeof(pending[0]); i++)
		if (strcmp(claimed, pending[i]) == 0)
			return 0;
	return 1;
}

static void on_fetched(const struct httpc_resp *resp, const struct ra_err *err, void *data)
{
	struct ident_run *r = data;
	struct ident_case c = {0};
	struct ra_err e;
	int rc;

	if (err != NULL) {
		ident_run_fail(r, err->code != RA_E_CONFIG, err);
		return;
	}
	if (resp->status == 404) {
		failf(r, 1, RA_E_NOTFOUND, "transactionnumber",
		      "the provider has no result for this transaction yet");
		return;
	}
	if (resp->status / 100 != 2) {
		ra_err_set(&e, RA_E_UNAVAILABLE, "ident.base_url", "ident provider answered %ld",
			   resp->status);
		ident_run_fail(r, ident_http_retryable(resp->status), &e);
		return;
	}
	if ((rc = idnow_parse(resp->body, resp->len, &r->id, &e)) != 0) {
		/* the provider's own record is malformed: a person must look (parked dead) */
		ident_run_fail(r, rc == RA_E_NOMEM, &e);
		return;
	}
	if (strcmp(r->id->transaction_number, r->tx) != 0) {
		failf(r, 0, RA_E_INVALID, "identificationprocess.transactionnumber",
		      "the provider's record is for another transaction number");
		return;
	}
	c.result = r->id->result;
	c.order_first = r->first;
	c.order_last = r->last;
	c.ident_first = r->id->user.firstname.value;
	c.ident_last = r->id->user.lastname.value;
	c.ident_birth = r->id->user.birthday.value;
	c.order_birth = NULL; /* the shop sends no birth date (docs/ident.md) */
	c.needs_proof = r->needs_proof;
	c.cert_class = r->cert_class;
	c.attempts = r->attempts;
	c.max_attempts = (int)cfg_int(r->app->cfg, "ident.max_attempts");
	if ((rc = ident_decide(&c, &r->d)) != 0) {
		failf(r, 0, RA_E_INTERNAL, "state", wf_strerror(rc));
		return;
	}
	if (r->d.outcome == IDENT_WAIT) {
		if (claimed_final(r->claimed)) {
			failf(r, 1, RA_E_UNAVAILABLE, "identificationprocess.result",
			      "callback announced a final result, the provider still reports it pending");
			return;
		}
		ident_run_done(r, json_pack("{s:s}", "pending", idnow_result_str(r->id->result)));
		return;
	}
	ident_apply(r);
}

static char *dup0(const char *s)
{
	char *d = strdup(s ? s : "");
	if (d == NULL)
		abort();
	return d;
}

static void on_loaded(PGresult *res, const struct ra_err *err, void *data)
{
	struct ident_run *r = data;
	const char *state;

	if (err != NULL) {
		ident_run_fail(r, 1, err);
		return;
	}
	if (PQntuples(res) != 1) {
		failf(r, 0, RA_E_NOTFOUND, "order_id", "order does not exist");
		return;
	}
	state = PQgetvalue(res, 0, 0);
	if (PQgetvalue(res, 0, 1)[0] != 't') {
		/* an earlier attempt's number: that attempt was decided, a new one runs */
		ident_run_done(r, json_pack("{s:s}", "skipped", "transaction number of an earlier attempt"));
		return;
	}
	if (strcmp(state, "received") == 0) {
		failf(r, 1, RA_E_CONFLICT, "state", "the invitation is not recorded yet");
		return;
	}
	if (strcmp(state, "ident_invited") != 0) {
		/* decided before (a repeated callback, a re-run after a crash): nothing more to do */
		ident_run_done(r, json_pack("{s:s, s:s}", "skipped", "decided already", "state", state));
		return;
	}
	r->first = dup0(PQgetvalue(res, 0, 2));
	r->last = dup0(PQgetvalue(res, 0, 3));
	r->attempts = atoi(PQgetvalue(res, 0, 4));
	r->needs_proof = PQgetvalue(res, 0, 5)[0] == 't';
	r->validity_max = atoi(PQgetvalue(res, 0, 6));
	r->cert_class = class_of(db_val(res, 0, 7));
	ident_fetch(r->app, r->tx, on_fetched, r);
}

void ident_result_run(struct job *job)
{
	struct ident_run *r = calloc(1, sizeof(*r));
	json_t *oid = json_object_get(job->payload, "order_id");
	const char *tx = json_string_value(json_object_get(job->payload, "tx"));
	const char *claimed = json_string_value(json_object_get(job->payload, "claimed"));

	if (r == NULL)
		abort();
	r->job = job;
	r->app = job->app;
	if (!json_is_integer(oid) || tx == NULL || strlen(tx) >= sizeof(r->tx)) {
		failf(r, 0, RA_E_INVALID, "payload", "payload needs order_id and tx");
		return;
	}
	snprintf(r->order_id, sizeof(r->order_id), "%lld", (long long)json_integer_value(oid));
	snprintf(r->tx, sizeof(r->tx), "%s", tx);
	snprintf(r->claimed, sizeof(r->claimed), "%s", claimed ? claimed : "unknown");
	{
		const char *p[] = {r->order_id, r->tx};
		db_query(r->app->db, sql_load, 2, p, on_loaded, r);
	}
}
