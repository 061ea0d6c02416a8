/*
 * csc.c - POST /csc/v2/credentials/list and /csc/v2/credentials/info; see csc.h.  One read
 * statement, then the credentials are built on the thread pool (X.509 parsing, the CA chain
 * from ca-bridge), and the answer comes back to the loop.
 */
#include "ra/flows/signing/csc.h"

#include <stdlib.h>
#include <string.h>

#include "ca-bridge/cab.h"
#include "ra/base/pool.h"
#include "ra/base/userid.h"
#include "ra/db/db.h"
#include "ra/flows/signing/csc_cred.h"
#include "ra/flows/signing/signing_req.h"

#define CSC_PREFIX "/csc/v2/"

/* Every certificate that exists as one (it has its PEM: issued, active, superseding, revoked,
 * expired), oldest first; a user without any gives one row with NULL credential columns. */
static const char *sql_list =
	"SELECT u.state, c.id, c.class, c.state, c.subject::text, c.pem,"
	" c.not_after IS NOT NULL AND c.not_after <= now()"
	" FROM (SELECT $1::text AS id) k LEFT JOIN users u ON u.public_id = k.id"
	" LEFT JOIN certificates c ON c.user_id = u.public_id AND c.pem IS NOT NULL"
	" ORDER BY c.created_at, c.id";

static const char *sql_info =
	"SELECT u.state, c.id, c.class, c.state, c.subject::text, c.pem,"
	" c.not_after IS NOT NULL AND c.not_after <= now()"
	" FROM certificates c JOIN users u ON u.public_id = c.user_id WHERE c.id = $1 AND c.pem IS NOT NULL";

struct csc_q {
	struct sg_call *c;
	int list; /* credentials/list, else credentials/info */
	int with_info; /* list: credentialInfo */
	int only_valid;
	struct csc_opts o;
	struct csc_row *rows;
	int n;
	char *chain; /* CA chain PEM for certificates "chain" */
	json_t *out;
	struct ra_err err;
	int failed;
};

static void q_free(struct csc_q *q)
{
	for (int i = 0; i < q->n; i++) {
		free((char *)q->rows[i].id);
		free((char *)q->rows[i].cls);
		free((char *)q->rows[i].state);
		free((char *)q->rows[i].user_state);
		free((char *)q->rows[i].subject);
		free((char *)q->rows[i].pem);
	}
	free(q->rows);
	free(q->chain);
	json_decref(q->out);
	free(q);
}

static char *row_dup(const char *s)
{
	char *d = s ? strdup(s) : NULL;

	if (s && d == NULL)
		abort(); /* out of memory */
	return d;
}

static void copy_rows(struct csc_q *q, const PGresult *res)
{
	int n = PQntuples(res);

	q->rows = calloc((size_t)(n > 0 ? n : 1), sizeof(*q->rows));
	if (q->rows == NULL)
		abort();
	for (int i = 0; i < n; i++) {
		struct csc_row *r = &q->rows[q->n];
		if (db_val(res, i, 1) == NULL)
			continue; /* a user without credentials */
		r->user_state = row_dup(db_val(res, i, 0));
		r->id = row_dup(db_val(res, i, 1));
		r->cls = row_dup(db_val(res, i, 2));
		r->state = row_dup(db_val(res, i, 3));
		r->subject = row_dup(db_val(res, i, 4));
		r->pem = row_dup(db_val(res, i, 5));
		r->expired = PQgetvalue(res, i, 6)[0] == 't';
		q->n++;
	}
}

/* ---- on the thread pool ----------------------------------------------------------------- */

static void work_build(void *data)
{
	struct csc_q *q = data;
	struct cab *cab = q->c->hr->app->cab;
	struct cab_err ce = {0};
	json_t *infos = NULL;

	if (q->o.certs == CSC_CERTS_CHAIN && cab != NULL && cab_chain_pem(cab, &q->chain, &ce) != 0) {
		ra_err_set(&q->err, RA_E_UNAVAILABLE, "certificates", "the CA chain is not available: %s",
			   ce.msg);
		q->failed = 1;
		return;
	}
	if (!q->list) {
		q->out = csc_credential(&q->rows[0], &q->o, q->chain, 0, &q->err);
		q->failed = q->out == NULL;
		return;
	}
	infos = json_array();
	for (int i = 0; i < q->n; i++) {
		json_t *one;
		if (q->only_valid && !csc_usable(&q->rows[i]))
			continue;
		one = csc_credential(&q->rows[i], &q->o, q->chain, 1, &q->err);
		if (one == NULL) {
			json_decref(infos);
			q->failed = 1;
			return;
		}
		json_array_append_new(infos, one);
	}
	q->out = infos;
}

/* ---- answers ---------------------------------------------------------------------------- */

static json_t *credential_ids(struct csc_q *q)
{
	json_t *ids = json_array();

	for (int i = 0; i < q->n; i++)
		if (!q->only_valid || csc_usable(&q->rows[i]))
			json_array_append_new(ids, json_string(q->rows[i].id));
	return ids;
}

static void reply_list(struct csc_q *q, json_t *infos)
{
	json_t *o = json_pack("{s:o}", "credentialIDs", credential_ids(q));

	if (infos)
		json_object_set(o, "credentialInfos", infos);
	if (q->only_valid) /* the RA supports onlyValid, so it says so */
		json_object_set_new(o, "onlyValid", json_true());
	sg_reply(q->c, 200, o);
}

static void after_build(void *data)
{
	struct csc_q *q = data;

	if (q->failed)
		sg_csc_fail_err(q->c, &q->err);
	else if (q->list)
		reply_list(q, q->out);
	else
		sg_reply(q->c, 200, json_incref(q->out));
	q_free(q);
}

static void on_loaded(PGresult *res, const struct ra_err *err, void *data)
{
	struct csc_q *q = data;

	if (err) {
		sg_csc_fail_err(q->c, err);
		q_free(q);
		return;
	}
	if (q->list && (PQntuples(res) == 0 || db_val(res, 0, 0) == NULL)) {
		sg_csc_fail(q->c, 400, "invalid_request", "Invalid parameter userID: no such user");
		q_free(q);
		return;
	}
	if (!q->list && PQntuples(res) != 1) {
		sg_csc_fail(q->c, 400, "invalid_request",
			    "Invalid parameter credentialID: no such credential");
		q_free(q);
		return;
	}
	copy_rows(q, res);
	if (q->list && !q->with_info) {
		reply_list(q, NULL);
		q_free(q);
		return;
	}
	if (pool_run(q->c->hr->app->loop, work_build, after_build, q) != 0) {
		sg_csc_fail(q->c, 500, "server_error", "cannot queue work");
		q_free(q);
	}
}

/* ---- requests --------------------------------------------------------------------------- */

static int opt_bool(struct csc_q *q, const char *key, int *out)
{
	json_t *v = json_object_get(q->c->body, key);

	if (v != NULL && !json_is_boolean(v)) {
		sg_csc_fail(q->c, 400, "invalid_request", "Invalid parameter %s: must be true or false", key);
		return -1;
	}
	*out = json_is_true(v);
	return 0;
}

static struct csc_q *start(struct sg_call *c, int list)
{
	struct csc_q *q = calloc(1, sizeof(*q));
	struct ra_err e = {0};

	if (q == NULL)
		abort();
	q->c = c;
	q->list = list;
	if (csc_opts_parse(c->body, &q->o, &e) != 0) {
		sg_csc_fail(c, 400, "invalid_request", "%s", e.msg);
		free(q);
		return NULL;
	}
	return q;
}

static void credentials_list(struct sg_call *c)
{
	struct csc_q *q = start(c, 1);
	const char *user;

	if (q == NULL)
		return;
	if (opt_bool(q, "credentialInfo", &q->with_info) != 0 ||
	    opt_bool(q, "onlyValid", &q->only_valid) != 0) {
		free(q);
		return;
	}
	user = json_string_value(json_object_get(c->body, "userID"));
	if (user == NULL || !userid_valid(user)) {
		sg_csc_fail(c, 400, "invalid_request", "Missing (or invalid type) string parameter userID");
		free(q);
		return;
	}
	db_query(c->hr->app->db, sql_list, 1, (const char *const[]){user}, on_loaded, q);
}

static void credentials_info(struct sg_call *c)
{
	struct csc_q *q = start(c, 0);
	const char *cred;

	if (q == NULL)
		return;
	cred = sg_plain(c->body, "credentialID", 64);
	if (cred == NULL) {
		sg_csc_fail(c, 400, "invalid_request",
			    "Missing (or invalid type) string parameter credentialID");
		free(q);
		return;
	}
	db_query(c->hr->app->db, sql_info, 1, (const char *const[]){cred}, on_loaded, q);
}

static void not_served(struct sg_call *c)
{
	sg_csc_fail(
		c, 404, "invalid_request",
		"%s%s is not served by the RA: the RA serves credentials/list and credentials/info; signing, "
		"authorisation and SAD belong to the remote signing server",
		CSC_PREFIX, c->hr->rest);
}

void csc_route(struct http_req *hr)
{
	const char *rest = hr->rest ? hr->rest : "";
	sg_handler fn = not_served;

	if (strcmp(rest, "credentials/list") == 0)
		fn = credentials_list;
	else if (strcmp(rest, "credentials/info") == 0)
		fn = credentials_info;
	if (fn == credentials_list)
		hr->route = "csc_credentials_list";
	else if (fn == credentials_info)
		hr->route = "csc_credentials_info";
	sg_start(hr, 1, fn);
}
