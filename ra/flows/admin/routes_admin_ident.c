/*
 * routes_admin_ident.c - GET /v1/admin/identifications/{order id}: the identification evidence of an
 * order for support (R18), opened with evidence.key.  Reading evidence is itself recorded in
 * the audit log (R16: who looked at whose identity documents), before the answer is sent.
 */
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ra/db/db.h"
#include "ra/db/outbox.h"
#include "ra/flows/admin/admin.h"
#include "ra/flows/admin/routes_admin_int.h"
#include "ra/base/vault.h"
#include "ra/flows/ident/evidence.h"
#include "ra/net/http.h"

/* the order, if it has identifications: the object of the audit record (outbox) */
static const char *sql_has =
	"SELECT $1::text WHERE EXISTS (SELECT 1 FROM identifications WHERE order_id = $1::text::bigint)";

static const char *sql_list =
	"SELECT tx, attempt, provider, ident_id, result, reason, outcome, name_match, first_name, last_name,"
	"  birth_date::text, country, encode(evidence, 'hex'), retain_until::text, decided_at::text, decided_by"
	" FROM identifications WHERE order_id = $1::text::bigint ORDER BY attempt";

struct rd {
	struct http_req *hr;
	char order[24];
};

static json_t *row_json(const struct config *cfg, PGresult *res, int i)
{
	static const char *const cols[] = {
		"transactionnumber", "attempt",    "provider",   "ident_id",  "result",     "reason",
		"outcome",           "name_match", "first_name", "last_name", "birth_date", "country"};
	json_t *o = json_object(), *ev = NULL;
	char aad[200], *text = NULL;
	size_t len = 0;
	struct ra_err e;

	for (int c = 0; c < 12; c++) {
		const char *v = db_val(res, i, c);
		json_object_set_new(o, cols[c], v ? json_string(v) : json_null());
	}
	snprintf(aad, sizeof(aad), EVIDENCE_AAD_FMT, PQgetvalue(res, i, 0));
	if (vault_open(cfg, aad, PQgetvalue(res, i, 12), &text, &len, &e) == 0) {
		ev = json_loadb(text, len, 0, NULL);
		vault_text_free(text, len);
	}
	json_object_set_new(o, "evidence", ev ? ev : json_pack("{s:s}", "error", e.msg));
	json_object_set_new(o, "retain_until", json_string(PQgetvalue(res, i, 13)));
	json_object_set_new(o, "decided_at", json_string(PQgetvalue(res, i, 14)));
	json_object_set_new(o, "decided_by",
			    db_val(res, i, 15) ? json_string(PQgetvalue(res, i, 15)) : json_null());
	return o;
}

static void on_list(PGresult *res, const struct ra_err *err, void *data)
{
	struct rd *r = data;
	json_t *arr;

	if (err != NULL) {
		http_reply_error(r->hr, err);
	} else if (PQntuples(res) == 0) {
		http_reply_errorf(r->hr, RA_E_NOTFOUND, "order", "no identification for this order");
	} else {
		arr = json_array();
		for (int i = 0; i < PQntuples(res); i++)
			json_array_append_new(arr, row_json(r->hr->app->cfg, res, i));
		http_reply_json(r->hr, 200, json_pack("{s:o}", "identifications", arr));
	}
	free(r);
}

static void on_recorded(const int *rows, const struct ra_err *err, void *data)
{
	struct rd *r = data;
	const char *p[1] = {r->order};

	(void)rows;
	if (err != NULL) {
		http_reply_error(r->hr, err);
		free(r);
		return;
	}
	db_query(r->hr->app->db, sql_list, 1, p, on_list, r);
}

static void authorised(struct http_req *hr, const struct admin_user *who, void *data)
{
	struct rd *r = calloc(1, sizeof(*r));
	struct outbox ob = {0};
	char actor[80];
	int o;

	(void)data;
	if (r == NULL)
		abort();
	r->hr = hr;
	snprintf(r->order, sizeof(r->order), "%s", hr->rest);
	snprintf(actor, sizeof(actor), "support:%s", who->name);
	/* R16: the reading is recorded (committed) before anything is read */
	o = ob_stmt(&ob, sql_has, 1, (const char *const[]){r->order}, 0);
	ob_audit_each(&ob, o, actor, "order.evidence_read", "order",
		      "support looked at the identification evidence");
	ob_commit(&ob, hr->app->db, on_recorded, r);
}

static void route(struct http_req *hr)
{
	const char *s = hr->rest;
	size_t n = s ? strlen(s) : 0;

	for (size_t i = 0; i < n; i++)
		if (!isdigit((unsigned char)s[i]))
			n = 0;
	if (n == 0 || n > 18) {
		http_reply_errorf(hr, RA_E_INVALID, "order", "an order id is required");
		return;
	}
	admin_authorize(hr, "support", authorised, NULL);
}

void adm_ident_routes(struct app *app)
{
	http_route(app->http, "GET", "/v1/admin/identifications/", 1, "admin_identifications", route, NULL);
}
