/*
 * phone_jobs.c - the jobs of a phone-number change: the code SMS to the new number, the notice
 * SMS to the old one, the video identification's start and its result; see phone_jobs.h.
 * Each job loads the change, acts only in the state the machine (workflows/wf_phone.h) says it
 * acts in, and records what it did in one outbox unit with its audit record.
 */
#include "ra/flows/admin/phone_jobs.h"

#include <openssl/crypto.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ra/base/config.h"
#include "ra/base/log.h"
#include "ra/base/names.h"
#include "ra/base/pool.h"
#include "ra/base/secret.h"
#include "ra/db/db.h"
#include "ra/db/outbox.h"
#include "ra/flows/ident/ident_fetch.h"
#include "ra/flows/ident/idnow.h"
#include "ra/net/httpc.h"
#include "workflows/wf_phone.h"

#define SMS_TIMEOUT_MS 15000
#define MAIL_TIMEOUT_MS 30000

static const char *sql_load =
	"SELECT p.state, p.new_e164, p.old_e164, p.code_sent_at IS NOT NULL, p.notice_sent_at IS NOT NULL, p.ident_tx,"
	" p.ident_id, p.ident_mailed_at IS NOT NULL, u.first_name, u.last_name, u.email, u.ident_first_name,"
	" u.ident_last_name, u.ident_birth_date::text, u.public_id"
	" FROM phone_changes p JOIN users u ON u.id = p.user_id WHERE p.id = $1::bigint";
enum {
	L_STATE,
	L_NEW,
	L_OLD,
	L_CODE_SENT,
	L_NOTICE_SENT,
	L_TX,
	L_IDENT_ID,
	L_MAILED,
	L_FIRST,
	L_LAST,
	L_EMAIL,
	L_IFIRST,
	L_ILAST,
	L_IBIRTH,
	L_UID
};

/* the code's hash, only while the change waits for a code that was not sent yet */
static const char *sql_code_store =
	"UPDATE phone_changes SET code_hash = $3, code_failures = 0, updated_at = now()"
	" WHERE id = $1::bigint AND state = $2 AND code_sent_at IS NULL";
static const char *sql_code_sent =
	"UPDATE phone_changes SET code_sent_at = now(), code_sms_id = $2 WHERE id = $1::bigint AND code_sent_at IS NULL"
	" RETURNING id::text, jsonb_build_object('sms_id', $2::text, 'to', new_e164)::text";
static const char *sql_notice_sent =
	"UPDATE phone_changes SET notice_sent_at = now(), notice_sms_id = $2 WHERE id = $1::bigint"
	" AND notice_sent_at IS NULL"
	" RETURNING id::text, jsonb_build_object('sms_id', $2::text, 'to', old_e164, 'new_e164', new_e164)::text";
static const char *sql_ident_store =
	"UPDATE phone_changes SET ident_id = $2, updated_at = now() WHERE id = $1::bigint AND ident_id IS NULL";
static const char *sql_ident_mailed =
	"UPDATE phone_changes SET ident_mailed_at = now() WHERE id = $1::bigint AND ident_mailed_at IS NULL"
	" RETURNING id::text, jsonb_build_object('transactionnumber', ident_tx, 'ident_id', ident_id)::text";
/* outbox: $2 the new state, $3 the one decided from; $4 the provider's id, $5 why when cancelled */
static const char *sql_ident_decided =
	"UPDATE phone_changes SET state = $2, ident_id = coalesce(ident_id, $4), cancel_reason = $5,"
	" cancelled_by = CASE WHEN $5::text IS NULL THEN NULL ELSE 'system' END, updated_at = now()"
	" WHERE id = $1::bigint AND state = $3";

struct pj {
	struct job *job;
	struct app *app;
	char id[24];
	char what[16];
	char tx[128], claimed[48];
	char to[24];
	char code[SECRET_PIN_MAX_DIGITS + 1];
	char hash[SECRET_PIN_HASH_MAX];
	char sms_id[64];
	char ident_id[128];
	char *first, *last, *email, *ifirst, *ilast, *ibirth, *uid;
	struct idnow_ident *ident;
	int rc;
};

static void pj_free(struct pj *t)
{
	OPENSSL_cleanse(t->code, sizeof(t->code));
	OPENSSL_cleanse(t->hash, sizeof(t->hash));
	free(t->first);
	free(t->last);
	free(t->email);
	free(t->ifirst);
	free(t->ilast);
	free(t->ibirth);
	free(t->uid);
	idnow_ident_free(t->ident);
	free(t);
}

static void done(struct pj *t, json_t *result)
{
	job_done(t->job, result);
	pj_free(t);
}

static void fail(struct pj *t, int retryable, int code, const char *field, const char *fmt, ...)
	__attribute__((format(printf, 5, 6)));
static void fail(struct pj *t, int retryable, int code, const char *field, const char *fmt, ...)
{
	struct ra_err e = {.code = code};
	va_list ap;

	snprintf(e.field, sizeof(e.field), "%s", field);
	va_start(ap, fmt);
	vsnprintf(e.msg, sizeof(e.msg), fmt, ap);
	va_end(ap);
	log_warn("phone_change.job_failed", "phone_change", t->id, "message", e.msg, "retry",
		 retryable ? "yes" : "no", NULL);
	job_fail(t->job, &e, retryable);
	pj_free(t);
}

static char *dup_val(const PGresult *res, int col)
{
	const char *s = db_val(res, 0, col);
	char *d = s ? strdup(s) : NULL;

	if (s && d == NULL)
		abort();
	return d;
}

static struct pj *pj_new(struct job *job, int with_tx)
{
	struct pj *t = calloc(1, sizeof(*t));
	const char *id = json_string_value(json_object_get(job->payload, "phone_change_id"));
	const char *what = json_string_value(json_object_get(job->payload, "what"));
	const char *tx = json_string_value(json_object_get(job->payload, "tx"));
	const char *claimed = json_string_value(json_object_get(job->payload, "claimed"));

	if (t == NULL)
		abort();
	t->job = job;
	t->app = job->app;
	if (id == NULL || strlen(id) >= sizeof(t->id) || strspn(id, "0123456789") != strlen(id) ||
	    *id == '\0' || (with_tx && (tx == NULL || strlen(tx) >= sizeof(t->tx)))) {
		fail(t, 0, RA_E_INVALID, "payload", "payload needs phone_change_id%s",
		     with_tx ? " and tx" : "");
		return NULL;
	}
	snprintf(t->id, sizeof(t->id), "%s", id);
	snprintf(t->what, sizeof(t->what), "%s", what ? what : "");
	snprintf(t->tx, sizeof(t->tx), "%s", tx ? tx : "");
	snprintf(t->claimed, sizeof(t->claimed), "%s", claimed ? claimed : "unknown");
	return t;
}

/* ---- SMS ------------------------------------------------------------------------------- */

/* POSTs {to, text} to the SMS gateway (sms.url, bearer sms.token); text is wiped here. */
static int sms_send(struct pj *t, const char *to, char *text, httpc_cb cb)
{
	const char *url = cfg_str(t->app->cfg, "sms.url"), *token = cfg_str(t->app->cfg, "sms.token");
	char auth[300], *body = NULL;
	const char *headers[] = {"Content-Type: application/json", auth, NULL};
	json_t *b;
	int rc = -1;

	if (url == NULL || token == NULL) {
		OPENSSL_cleanse(text, strlen(text));
		return RA_E_CONFIG;
	}
	snprintf(auth, sizeof(auth), "Authorization: Bearer %s", token);
	b = json_pack("{s:s, s:s}", "to", to, "text", text);
	body = b ? json_dumps(b, JSON_COMPACT) : NULL;
	if (body != NULL)
		rc = httpc_request(t->app->httpc, "POST", url, headers, body, strlen(body), SMS_TIMEOUT_MS,
				   cb, t);
	/* a code is a secret: wipe every copy (httpc keeps its own) */
	OPENSSL_cleanse(text, strlen(text));
	if (body) {
		OPENSSL_cleanse(body, strlen(body));
		free(body);
	}
	if (b) {
		char *copy = (char *)json_string_value(json_object_get(b, "text"));
		OPENSSL_cleanse(copy, strlen(copy));
		json_decref(b);
	}
	OPENSSL_cleanse(auth, sizeof(auth));
	return rc == 0 ? 0 : RA_E_UNAVAILABLE;
}

/* The gateway's id of an accepted SMS into t->sms_id; 0, or an error after failing the job. */
static int sms_accepted(struct pj *t, const struct httpc_resp *resp, const struct ra_err *err)
{
	json_t *j;
	const char *id;

	if (err != NULL) {
		fail(t, 1, err->code, "sms.url", "%s", err->msg);
		return -1;
	}
	j = json_loadb(resp->body, resp->len, 0, NULL);
	id = json_string_value(json_object_get(j, "id"));
	if (resp->status / 100 != 2 || id == NULL) {
		json_decref(j);
		fail(t, 1, RA_E_UNAVAILABLE, "sms.url", "the SMS gateway did not accept the message");
		return -1;
	}
	snprintf(t->sms_id, sizeof(t->sms_id), "%s", id);
	json_decref(j);
	return 0;
}

static void on_recorded(const int *rows, const struct ra_err *err, void *data)
{
	struct pj *t = data;

	(void)rows;
	if (err != NULL) {
		fail(t, 1, err->code, "", "%s", err->msg);
		return;
	}
	log_info("phone_change.job_done", "phone_change", t->id, "what", t->what, NULL);
	done(t, json_pack("{s:s, s:s}", "done", t->what, "sms_id", t->sms_id[0] ? t->sms_id : "-"));
}

/* An SMS the gateway accepted: its record (sql: $1 the change, $2 the gateway's id) and the
 * audit record action, in one transaction. */
static void record_sms(struct pj *t, const struct httpc_resp *resp, const struct ra_err *err, const char *sql,
		       const char *action, const char *why)
{
	struct outbox ob = {0};
	int s;

	if (sms_accepted(t, resp, err) != 0)
		return;
	s = ob_stmt(&ob, sql, 2, (const char *const[]){t->id, t->sms_id}, 0);
	ob_audit_each(&ob, s, "system", action, "phone_change", why);
	ob_commit(&ob, t->app->db, on_recorded, t);
}

static void on_code_sms(const struct httpc_resp *resp, const struct ra_err *err, void *data)
{
	record_sms(data, resp, err, sql_code_sent, "phone_change.code_sent",
		   "R3: confirmation code sent by SMS to the new number");
}

static void on_code_stored(const int *rows, const struct ra_err *err, void *data)
{
	struct pj *t = data;
	char *text = NULL;
	int rc;

	(void)rows;
	if (err != NULL && err->code == RA_E_CONFLICT) { /* cancelled meanwhile, or sent by a run before */
		done(t, json_pack("{s:s}", "skipped", "the change no longer waits for a code"));
		return;
	}
	if (err != NULL) {
		fail(t, 1, err->code, "", "%s", err->msg);
		return;
	}
	if (asprintf(&text,
		     "Your code to confirm this number for your signature account: %s  "
		     "If you did not ask to move your account to this number, ignore this message.",
		     t->code) < 0) {
		fail(t, 1, RA_E_NOMEM, "", "out of memory");
		return;
	}
	OPENSSL_cleanse(t->code, sizeof(t->code));
	rc = sms_send(t, t->to, text, on_code_sms);
	free(text);
	if (rc != 0)
		fail(t, 1, rc, "sms.url",
		     rc == RA_E_CONFIG ? "sms.url and sms.token must be set" : "cannot start the SMS");
}

static void work_hash(void *data)
{
	struct pj *t = data;

	t->rc = secret_pin_hash(t->code, t->hash, sizeof(t->hash)); /* scrypt: never on the loop */
}

static void after_hash(void *data)
{
	struct pj *t = data;
	struct outbox ob = {0};

	if (t->rc != 0) {
		fail(t, 1, RA_E_INTERNAL, "", "cannot hash the code");
		return;
	}
	ob_stmt(&ob, sql_code_store, 3,
		(const char *const[]){t->id, wf_state_name(&wf_phone, WF_PHONE_AWAITING_CODE), t->hash}, 1);
	OPENSSL_cleanse(t->hash, sizeof(t->hash));
	ob_commit(&ob, t->app->db, on_code_stored, t);
}

static void on_notice_sms(const struct httpc_resp *resp, const struct ra_err *err, void *data)
{
	record_sms(data, resp, err, sql_notice_sent, "phone_change.old_number_notified",
		   "R3: the old number is told the account moved to a new number");
}

static void sms_loaded(PGresult *res, const struct ra_err *err, void *data)
{
	struct pj *t = data;
	int state, code = strcmp(t->what, "code") == 0;

	if (err != NULL) {
		fail(t, 1, err->code, "", "%s", err->msg);
		return;
	}
	if (PQntuples(res) != 1) {
		fail(t, 0, RA_E_NOTFOUND, "phone_change_id", "no such phone change");
		return;
	}
	state = wf_state_parse(&wf_phone, PQgetvalue(res, 0, L_STATE));
	if (code && (state != WF_PHONE_AWAITING_CODE || PQgetvalue(res, 0, L_CODE_SENT)[0] == 't')) {
		done(t, json_pack("{s:s, s:s}", "skipped", "no code to send", "state",
				  PQgetvalue(res, 0, L_STATE)));
		return;
	}
	if (code) {
		snprintf(t->to, sizeof(t->to), "%s", PQgetvalue(res, 0, L_NEW));
		if (secret_pin_generate(t->code, sizeof(t->code), PHONE_CODE_DIGITS) != 0) {
			fail(t, 1, RA_E_INTERNAL, "", "no random code");
			return;
		}
		if (pool_run_background(t->app->loop, work_hash, after_hash, t) != 0)
			fail(t, 1, RA_E_INTERNAL, "", "cannot queue work");
		return;
	}
	if (state != WF_PHONE_COMPLETED || PQgetvalue(res, 0, L_NOTICE_SENT)[0] == 't') {
		done(t, json_pack("{s:s, s:s}", "skipped", "no notice to send", "state",
				  PQgetvalue(res, 0, L_STATE)));
		return;
	}
	{
		const char *nw = PQgetvalue(res, 0, L_NEW);
		size_t n = strlen(nw);
		char *text = NULL;
		int rc;
		snprintf(t->to, sizeof(t->to), "%s", PQgetvalue(res, 0, L_OLD));
		/* the new number only by its last digits: this SMS may reach whoever has the old SIM */
		if (asprintf(
			    &text,
			    "The mobile number of your signature account was changed to a number ending in %s. "
			    "SMS for your account now go there. If you did not ask for this, call support at once.",
			    n > 3 ? nw + n - 3 : nw) < 0) {
			fail(t, 1, RA_E_NOMEM, "", "out of memory");
			return;
		}
		rc = sms_send(t, t->to, text, on_notice_sms);
		free(text);
		if (rc != 0)
			fail(t, 1, rc, "sms.url", "cannot send the SMS");
	}
}

void phone_sms_run(struct job *job)
{
	struct pj *t = pj_new(job, 0);

	if (t == NULL)
		return;
	if (strcmp(t->what, "code") != 0 && strcmp(t->what, "notice") != 0) {
		fail(t, 0, RA_E_INVALID, "what", "what must be code or notice");
		return;
	}
	db_query(t->app->db, sql_load, 1, (const char *const[]){t->id}, sms_loaded, t);
}

/* ---- the video identification: start, link mail ------------------------------------------ */

static void on_mail_recorded(const int *rows, const struct ra_err *err, void *data)
{
	struct pj *t = data;

	(void)rows;
	if (err != NULL) { /* mailed but not recorded: a re-run mails the link again */
		fail(t, 1, err->code, "", "%s", err->msg);
		return;
	}
	done(t, json_pack("{s:s, s:b}", "ident_id", t->ident_id, "mailed", 1));
}

static void on_mailed(const struct httpc_resp *resp, const struct ra_err *err, void *data)
{
	struct pj *t = data;
	struct outbox ob = {0};
	int s;

	(void)resp;
	if (err != NULL) {
		fail(t, err->code != RA_E_INVALID, err->code, "smtp.url", "mail to the user: %s", err->msg);
		return;
	}
	s = ob_stmt(&ob, sql_ident_mailed, 1, (const char *const[]){t->id}, 0);
	ob_audit_each(&ob, s, "system", "phone_change.ident_started", "phone_change",
		      "R3: video identification started for the phone change, link mailed");
	ob_commit(&ob, t->app->db, on_mail_recorded, t);
}

static void send_link(struct pj *t)
{
	struct config *cfg = t->app->cfg;
	const char *base = cfg_str(cfg, "ident.link_base");
	size_t n = base ? strlen(base) : 0;
	char *body = NULL, *msg = NULL;
	struct httpc_mail m = {0};
	int rc = -1;

	while (n > 0 && base[n - 1] == '/')
		n--;
	if (cfg_str(cfg, "smtp.url") == NULL) {
		fail(t, 1, RA_E_CONFIG, "smtp.url", "smtp.url is not set");
		return;
	}
	if (asprintf(
		    &body,
		    "Hello %s %s,\n\n"
		    "you asked to move your signature account to a new mobile number.  Before we do, we must\n"
		    "identify you by video again: have your passport or ID card at hand.\n\n"
		    "Start your identification here:\n%.*s/%s/%s\n\n"
		    "If you did not ask for this, call support at once.\n\nReference: %s\n",
		    t->first, t->last, (int)n, base ? base : "", cfg_str(cfg, "ident.company_id"),
		    t->ident_id, t->tx) < 0)
		body = NULL;
	msg = body ? httpc_mail_compose(cfg_str(cfg, "smtp.from"), t->email,
					"Your video identification for a new mobile number", body)
		   : NULL;
	if (msg != NULL) {
		m.url = cfg_str(cfg, "smtp.url");
		m.tls = httpc_mail_tls_mode(cfg_str(cfg, "smtp.tls"));
		m.user = cfg_str(cfg, "smtp.user");
		m.password = cfg_str(cfg, "smtp.password");
		m.from = cfg_str(cfg, "smtp.from");
		m.to = t->email;
		m.message = msg;
		rc = httpc_send_mail(t->app->httpc, &m, MAIL_TIMEOUT_MS, on_mailed, t);
	}
	free(body);
	free(msg);
	if (rc != 0)
		fail(t, msg != NULL, msg ? RA_E_UNAVAILABLE : RA_E_INVALID, "email",
		     "cannot send the link mail");
}

static void on_ident_stored(PGresult *res, const struct ra_err *err, void *data)
{
	struct pj *t = data;

	(void)res;
	if (err != NULL) {
		fail(t, 1, err->code, "", "storing the ident id: %s", err->msg);
		return;
	}
	send_link(t);
}

static void on_started(const struct httpc_resp *resp, const struct ra_err *err, void *data)
{
	struct pj *t = data;
	json_t *j;
	const char *id;

	if (err != NULL) {
		fail(t, err->code != RA_E_CONFIG, err->code, "ident.base_url", "ident provider start: %s",
		     err->msg);
		return;
	}
	if (resp->status / 100 != 2) {
		fail(t, ident_http_retryable(resp->status), RA_E_UNAVAILABLE, "ident.base_url",
		     "ident provider start answered %ld", resp->status);
		return;
	}
	j = json_loadb(resp->body, resp->len, 0, NULL);
	id = json_string_value(json_object_get(j, "id"));
	if (id == NULL || *id == '\0' || strlen(id) >= sizeof(t->ident_id) ||
	    strpbrk(id, "/?#\r\n ") != NULL) {
		json_decref(j);
		fail(t, 1, RA_E_UNAVAILABLE, "ident.base_url",
		     "ident provider start: answer without a usable id");
		return;
	}
	snprintf(t->ident_id, sizeof(t->ident_id), "%s", id);
	json_decref(j);
	db_query(t->app->db, sql_ident_store, 2, (const char *const[]){t->id, t->ident_id}, on_ident_stored,
		 t);
}

static void ident_loaded(PGresult *res, const struct ra_err *err, void *data)
{
	struct pj *t = data;
	char rest[192];
	json_t *body;
	char *text;

	if (err != NULL || PQntuples(res) != 1) {
		if (err)
			fail(t, 1, err->code, "", "%s", err->msg);
		else
			fail(t, 0, RA_E_NOTFOUND, "phone_change_id", "no such phone change");
		return;
	}
	if (wf_state_parse(&wf_phone, PQgetvalue(res, 0, L_STATE)) != WF_PHONE_AWAITING_PROOF ||
	    PQgetvalue(res, 0, L_MAILED)[0] == 't' || db_val(res, 0, L_TX) == NULL) {
		done(t, json_pack("{s:s, s:s}", "skipped", "no identification to start", "state",
				  PQgetvalue(res, 0, L_STATE)));
		return;
	}
	snprintf(t->tx, sizeof(t->tx), "%s", PQgetvalue(res, 0, L_TX));
	t->first = dup_val(res, L_FIRST);
	t->last = dup_val(res, L_LAST);
	t->email = dup_val(res, L_EMAIL);
	if (db_val(res, 0, L_IDENT_ID) != NULL) { /* started by an earlier run: never a second one */
		snprintf(t->ident_id, sizeof(t->ident_id), "%s", PQgetvalue(res, 0, L_IDENT_ID));
		send_link(t);
		return;
	}
	body = json_pack("{s:s, s:s, s:s}", "firstname", t->first, "lastname", t->last, "email", t->email);
	text = body ? json_dumps(body, JSON_COMPACT) : NULL;
	json_decref(body);
	if (text == NULL) {
		fail(t, 1, RA_E_NOMEM, "", "out of memory");
		return;
	}
	snprintf(rest, sizeof(rest), "/identifications/%s/start", t->tx);
	ident_api_call(t->app, "POST", rest, text, on_started, t);
	free(text);
}

void phone_ident_run(struct job *job)
{
	struct pj *t = pj_new(job, 0);

	if (t != NULL)
		db_query(t->app->db, sql_load, 1, (const char *const[]){t->id}, ident_loaded, t);
}

/* ---- the video identification's result ---------------------------------------------------- */

static void on_decided(const int *rows, const struct ra_err *err, void *data)
{
	struct pj *t = data;

	(void)rows;
	if (err != NULL && err->code == RA_E_CONFLICT) {
		done(t, json_pack("{s:s}", "skipped", "the change was decided meanwhile"));
		return;
	}
	if (err != NULL) {
		fail(t, 1, err->code, "", "%s", err->msg);
		return;
	}
	done(t, json_pack("{s:s, s:s}", "decided", t->what, "result", idnow_result_str(t->ident->result)));
}

/* The same person: the user's verified identity data (from the identification their
 * certificates rest on) against the provider's record of this one; names as R7 compares
 * them, exact only, and the birth date. */
static int same_person(const struct pj *t)
{
	const struct idnow_ident *id = t->ident;

	return t->ifirst && t->ilast && t->ibirth && id->user.birthday.value &&
	       name_compare(t->ifirst, id->user.firstname.value) == NAME_EXACT &&
	       name_compare(t->ilast, id->user.lastname.value) == NAME_EXACT &&
	       strcmp(t->ibirth, id->user.birthday.value) == 0;
}

static void decide(struct pj *t)
{
	const struct idnow_ident *id = t->ident;
	int success = id->result == IDNOW_SUCCESS, match = success && same_person(t);
	int event = match ? WF_PHONE_IDENT_PASSED : WF_PHONE_IDENT_FAILED;
	const char *why = match      ? NULL
			  : !success ? "the video identification did not succeed"
				     : "the identified person does not match the user's identity data";
	struct wf_facts f = {0};
	struct wf_result r;
	struct outbox ob = {0};
	char key[64];

	f.ident_match = match;
	if (wf_step(&wf_phone, WF_PHONE_AWAITING_PROOF, event, &f, &r) != 0) {
		fail(t, 0, RA_E_INTERNAL, "state", "the phone machine refuses %s",
		     wf_event_name(&wf_phone, event));
		return;
	}
	snprintf(t->what, sizeof(t->what), "%s", wf_event_name(&wf_phone, event));
	ob_step(&ob, sql_ident_decided, &wf_phone, WF_PHONE_AWAITING_PROOF, &r, t->id, 2,
		(const char *const[]){id->ident_id, why});
	if (r.actions & WF_ACT_SEND_PHONE_CODE) {
		snprintf(key, sizeof(key), "phone_code:%s", t->id);
		ob_job(&ob, &(struct ob_job){.kind = PHONE_JOB_SMS,
					     .payload = json_pack("{s:s, s:s}", "phone_change_id", t->id,
								  "what", "code"),
					     .key = key});
	}
	ob_audit(&ob, "ident:idnow", match ? "phone_change.ident_passed" : "phone_change.ident_failed",
		 "phone_change", t->id, match ? "R3: a fresh video identification matched the user" : why,
		 json_pack("{s:s, s:s, s:s?, s:s?, s:s?, s:b}", "user_id", t->uid, "result",
			   idnow_result_str(id->result), "ident_id", id->ident_id, "agent", id->agent,
			   "reason", id->reason, "same_person", match));
	ob_commit(&ob, t->app->db, on_decided, t);
}

static void on_fetched(const struct httpc_resp *resp, const struct ra_err *err, void *data)
{
	struct pj *t = data;
	struct ra_err e;
	int rc;

	if (err != NULL) {
		fail(t, err->code != RA_E_CONFIG, err->code, "ident.base_url", "%s", err->msg);
		return;
	}
	if (resp->status / 100 != 2) {
		fail(t, resp->status == 404 || ident_http_retryable(resp->status), RA_E_UNAVAILABLE,
		     "ident.base_url", "ident provider answered %ld", resp->status);
		return;
	}
	if ((rc = idnow_parse(resp->body, resp->len, &t->ident, &e)) != 0) {
		fail(t, rc == RA_E_NOMEM, e.code, e.field, "%s", e.msg);
		return;
	}
	if (strcmp(t->ident->transaction_number, t->tx) != 0) {
		fail(t, 0, RA_E_INVALID, "identificationprocess.transactionnumber",
		     "the provider's record is for another transaction number");
		return;
	}
	if (idnow_result_is_pending(t->ident->result)) {
		done(t, json_pack("{s:s}", "pending", idnow_result_str(t->ident->result)));
		return;
	}
	decide(t);
}

static void result_loaded(PGresult *res, const struct ra_err *err, void *data)
{
	struct pj *t = data;

	if (err != NULL || PQntuples(res) != 1) {
		if (err)
			fail(t, 1, err->code, "", "%s", err->msg);
		else
			fail(t, 0, RA_E_NOTFOUND, "phone_change_id", "no such phone change");
		return;
	}
	if (wf_state_parse(&wf_phone, PQgetvalue(res, 0, L_STATE)) != WF_PHONE_AWAITING_PROOF) {
		done(t, json_pack("{s:s, s:s}", "skipped", "decided already", "state",
				  PQgetvalue(res, 0, L_STATE)));
		return;
	}
	if (db_val(res, 0, L_TX) == NULL || strcmp(PQgetvalue(res, 0, L_TX), t->tx) != 0) {
		fail(t, 0, RA_E_INVALID, "tx", "not this phone change's transaction number");
		return;
	}
	t->ifirst = dup_val(res, L_IFIRST);
	t->ilast = dup_val(res, L_ILAST);
	t->ibirth = dup_val(res, L_IBIRTH);
	t->uid = dup_val(res, L_UID);
	ident_fetch(t->app, t->tx, on_fetched, t);
}

void phone_ident_result_run(struct job *job)
{
	struct pj *t = pj_new(job, 1);

	if (t != NULL)
		db_query(t->app->db, sql_load, 1, (const char *const[]){t->id}, result_loaded, t);
}
