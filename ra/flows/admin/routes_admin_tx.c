/*
 * routes_admin_tx.c - how an admin operation touches the database: reads as one statement
 * that answers JSON, changes as one transaction (load and lock, decide with the workflows
 * machines, write state + audit + outbox jobs, commit); see routes_admin_int.h.
 */
#include <stdlib.h>
#include <string.h>

#include "ra/db/db.h"
#include "ra/base/log.h"
#include "ra/db/outbox.h"
#include "ra/flows/admin/routes_admin_int.h"

/* ---- the rules in words ---------------------------------------------------------------- */

static const struct {
	const char *rule;
	const char *why;
} rule_text[] = {
	{"R1", "a qualified certificate needs a second factor (SMS or app)"},
	{"R2", "a replacement always gets a new key; a key serves one certificate of one class"},
	{"R4",
	 "organisation and function are a person's affiliation; an organisation seal names the "
	 "organisation itself, so a new organisation is a new seal, verified again: order one"},
	{"R7", "no certificate without a passed identification (and approved proof where needed)"},
	{"R9",
	 "the authenticator app is still registered: de-register it first (uninstalling is not enough)"},
	{"R10",
	 "single factor only for advanced certificates and seals, with a recorded consent declaration, "
	 "and never while the user holds a qualified certificate"},
	{"R12", "a lost ActivationPIN is never reset: re-key instead"},
	{"R13", "unlocking keeps the previous ActivationPIN; it is never reset"},
	{"R14",
	 "revocation needs an RFC 5280 reason: unspecified, keyCompromise, affiliationChanged, superseded, "
	 "cessationOfOperation or privilegeWithdrawn"},
	{"R15", "the old certificate is revoked only after its replacement is issued"},
	{"R19",
	 "a support user may not act where they are themselves the subject, nor approve what they opened"},
};

static const char *why(const char *rule)
{
	for (size_t i = 0; i < sizeof(rule_text) / sizeof(rule_text[0]); i++)
		if (strcmp(rule_text[i].rule, rule) == 0)
			return rule_text[i].why;
	return "refused by this rule";
}

int adm_wf(const struct wf_machine *m, const char *state, int event, const struct wf_facts *f,
	   struct wf_result *r, const char *what, struct ra_err *e)
{
	int s = wf_state_parse(m, state);
	int rc;

	if (s < 0)
		return ra_err_set(e, RA_E_INTERNAL, "state", "%s has an unknown state '%s'", what, state);
	rc = wf_step(m, s, event, f, r);
	if (rc == 0)
		return 0;
	if (rc == WF_E_GUARD)
		return adm_refuse(e, RA_E_RULE, r->rule, "%s", why(r->rule));
	if (rc == WF_E_FINAL)
		return ra_err_set(e, RA_E_CONFLICT, "state", "%s is %s, which is final: nothing changed",
				  what, state);
	return ra_err_set(e, RA_E_CONFLICT, "state", "%s in state %s does not allow %s: nothing changed",
			  what, state, wf_event_name(m, event));
}

/* ---- reads ----------------------------------------------------------------------------- */

struct read {
	struct adm_req *ar;
	const char *what;
};

static json_t *row_json(const PGresult *res, struct ra_err *e)
{
	json_error_t je;
	json_t *j = json_loads(PQgetvalue(res, 0, 0), JSON_DECODE_ANY, &je);

	if (j == NULL)
		ra_err_set(e, RA_E_INTERNAL, "", "database answered malformed JSON: %s", je.text);
	return j;
}

static void on_read(PGresult *res, const struct ra_err *err, void *data)
{
	struct read *rd = data;
	struct adm_req *ar = rd->ar;
	struct ra_err e = {0};
	json_t *j;

	if (err) {
		adm_fail(ar, err);
	} else if (PQntuples(res) == 0 || PQgetisnull(res, 0, 0)) {
		ra_err_set(&e, RA_E_NOTFOUND, "id", "no such %s", rd->what);
		adm_fail(ar, &e);
	} else if ((j = row_json(res, &e)) == NULL) {
		adm_fail(ar, &e);
	} else {
		adm_reply(ar, 200, j);
	}
	free(rd);
}

void adm_read(struct adm_req *ar, const char *sql, int n, const char *const *params, const char *what)
{
	struct read *rd = calloc(1, sizeof(*rd));

	if (rd == NULL)
		abort();
	rd->ar = ar;
	rd->what = what;
	db_query(ar->hr->app->db, sql, n, params, on_read, rd);
}

/* ---- changes --------------------------------------------------------------------------- */

int adm_stmt(struct adm_req *ar, const char *sql, int n, const char *const *params)
{
	if (n > OB_MAX_PARAMS || ob_stmt(&ar->ob, sql, n, params, 0) < 0)
		return ra_err_set(&ar->err, RA_E_INTERNAL, "", "too many statements in one operation");
	return 0;
}

int adm_audit(struct adm_req *ar, const char *action, const char *type, const char *id, const char *reason,
	      json_t *details)
{
	ob_audit(&ar->ob, ar->actor, action, type, id, reason, details);
	return 0;
}

static void on_ended(PGresult *res, const struct ra_err *err, void *data)
{
	struct adm_req *ar = data;
	json_t *reply;

	(void)res;
	db_release(ar->conn);
	ar->conn = NULL;
	if (ar->failed) {
		adm_fail(ar, &ar->err);
		return;
	}
	if (err) {
		adm_fail(ar, err);
		return;
	}
	reply = ar->reply ? ar->reply : json_object();
	ar->reply = NULL;
	if (ar->dry_run) { /* everything was checked and written, then rolled back */
		json_object_set_new(reply, "dry_run", json_true());
		adm_reply(ar, 200, reply);
		return;
	}
	log_info("admin.change", "rid", ar->hr->rid, "actor", ar->actor, "route", ar->hr->route, "id", ar->id,
		 NULL);
	adm_reply(ar, ar->status ? ar->status : 200, reply);
}

/* Ends the transaction: ROLLBACK after a refusal or error (nothing changes) or in a dry run,
 * else COMMIT. */
static void tx_end(struct adm_req *ar, const struct ra_err *e)
{
	if (e) {
		ar->failed = 1;
		if (e != &ar->err)
			ar->err = *e;
	}
	db_conn_query(ar->conn, ar->failed || ar->dry_run ? "ROLLBACK" : "COMMIT", 0, NULL, on_ended, ar);
}

static void on_unit(const int *rows, const struct ra_err *err, void *data)
{
	struct adm_req *ar = data;

	(void)rows;
	if (err || ar->dry_run) {
		tx_end(ar, err); /* ROLLBACK */
		return;
	}
	on_ended(NULL, NULL, ar); /* committed with the unit */
}

/* The plan's unit: with COMMIT in its last segment, or, in a dry run, followed by ROLLBACK. */
static void tx_next(struct adm_req *ar)
{
	if (ar->ob.n == 0) {
		tx_end(ar, NULL);
		return;
	}
	if (ar->dry_run)
		ob_queue(&ar->ob, ar->conn, on_unit, ar);
	else
		ob_queue_commit(&ar->ob, ar->conn, on_unit, ar);
}

static void on_loaded(PGresult *res, const struct ra_err *err, void *data)
{
	struct adm_req *ar = data;
	struct ra_err e = {0};
	json_t *row;

	if (err) {
		tx_end(ar, err);
		return;
	}
	if (PQntuples(res) == 0 || PQgetisnull(res, 0, 0)) {
		ra_err_set(&e, RA_E_NOTFOUND, "id", "no such %s: %s", ar->tx->what, ar->id);
		tx_end(ar, &e);
		return;
	}
	row = row_json(res, &e);
	if (row == NULL || ar->tx->plan(ar, row, &e) != 0) {
		json_decref(row);
		tx_end(ar, &e);
		return;
	}
	json_decref(row);
	tx_next(ar);
}

static void on_begun(PGresult *res, const struct ra_err *err, void *data)
{
	struct adm_req *ar = data;

	(void)res;
	if (err) {
		tx_end(ar, err);
		return;
	}
	if (ar->load.sql == NULL) { /* nothing to load: plan gets an empty row */
		struct ra_err e = {0};
		json_t *row = json_object();
		int rc = ar->tx->plan(ar, row, &e);
		json_decref(row);
		if (rc != 0)
			tx_end(ar, &e);
		else
			tx_next(ar);
		return;
	}
	db_conn_query(ar->conn, ar->load.sql, ar->load.n, (const char *const *)ar->load.p, on_loaded, ar);
}

static void on_conn(struct db_conn *conn, const struct ra_err *err, void *data)
{
	struct adm_req *ar = data;

	if (err) {
		adm_fail(ar, err);
		return;
	}
	ar->conn = conn;
	db_conn_query(conn, "BEGIN", 0, NULL, on_begun, ar);
}

void adm_tx_run(struct adm_req *ar, const struct adm_tx *tx, const char *load_sql, int n,
		const char *const *params)
{
	ar->tx = tx;
	ar->load.sql = load_sql;
	ar->load.n = n;
	for (int i = 0; i < n && i < ADM_MAX_PARAMS; i++)
		ar->load.p[i] = params[i] ? strdup(params[i]) : NULL;
	db_acquire(ar->hr->app->db, on_conn, ar);
}
