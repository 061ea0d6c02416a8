/*
 * invite.c - the `ident_invite` job: load the order, log in at the provider, start the
 * identification under the order's transaction number, store the ident id, mail the link,
 * record the mail.  See invite.h for why each step is safe to repeat.
 */
#include "ra/flows/ident/invite.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ra/base/config.h"
#include "ra/db/db.h"
#include "ra/db/outbox.h"
#include "ra/net/httpc.h"
#include "ra/flows/ident/ident_fetch.h"
#include "ra/jobs/jobs.h"
#include "ra/base/log.h"
#include "workflows/wf_order.h"

#define HTTP_TIMEOUT_MS 15000
#define MAIL_TIMEOUT_MS 30000

struct invite {
	struct job *job;
	struct app *app;
	char order_id[24];
	char tx[64];
	char ident_id[128];
	char *email, *first, *last, *number;
	long long date; /* the job's creation: the mail's Date, the same in every run */
};

static const char *sql_load =
	"SELECT state, ident_tx, ident_id, email, first_name, last_name, shop_number,"
	" floor(extract(epoch FROM coalesce((SELECT j.created_at FROM jobs j WHERE j.id = $2::bigint), now())))::bigint"
	" FROM orders WHERE id = $1::bigint";

static const char *sql_store_ident =
	"UPDATE orders SET ident_id = $2, updated_at = now() WHERE id = $1::bigint AND ident_id IS NULL";

/* R16: the state change and its audit record in one transaction (outbox: $2 the new state,
 * $3 the one decided from). */
static const char *sql_sent =
	"UPDATE orders SET invite_sent_at = now(), state = $2, updated_at = now()"
	" WHERE id = $1::bigint AND state = $3 AND invite_sent_at IS NULL";

static void invite_free(struct invite *v)
{
	free(v->email);
	free(v->first);
	free(v->last);
	free(v->number);
	free(v);
}

static void done(struct invite *v, json_t *result)
{
	job_done(v->job, result);
	invite_free(v);
}

static void fail(struct invite *v, int retryable, int code, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));
static void fail(struct invite *v, int retryable, int code, const char *fmt, ...)
{
	struct ra_err e = {.code = code};
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(e.msg, sizeof(e.msg), fmt, ap);
	va_end(ap);
	log_warn("invite.failed", "order", v->order_id, "message", e.msg, "retry", retryable ? "yes" : "no",
		 NULL);
	job_fail(v->job, &e, retryable);
	invite_free(v);
}

/* ---- mail ---------------------------------------------------------------------------------- */

static void on_recorded(const int *rows, const struct ra_err *err, void *data)
{
	struct invite *v = data;

	(void)rows;
	/* RA_E_CONFLICT: recorded meanwhile, or the order moved on (cancelled): nothing to record */
	if (err != NULL && err->code != RA_E_CONFLICT) {
		/* The mail went out but is not recorded: a re-run may send it again (invite.h). */
		fail(v, 1, err->code, "recording the invitation failed: %s", err->msg);
		return;
	}
	log_info("invite.sent", "order", v->order_id, "ident_id", v->ident_id, NULL);
	done(v, json_pack("{s:s, s:b}", "ident_id", v->ident_id, "mailed", 1));
}

static void on_mailed(const struct httpc_resp *resp, const struct ra_err *err, void *data)
{
	struct invite *v = data;
	struct wf_result wr;
	struct outbox ob = {0};

	(void)resp;
	if (err != NULL) {
		fail(v, err->code != RA_E_INVALID, err->code, "mail to the customer: %s", err->msg);
		return;
	}
	if (wf_step(&wf_order, WF_ORDER_RECEIVED, WF_ORDER_IDENT_INVITE_SENT, NULL, &wr) != 0) {
		fail(v, 0, RA_E_INTERNAL, "order table refuses %s", "ident_invite_sent");
		return;
	}
	ob_step(&ob, sql_sent, &wf_order, WF_ORDER_RECEIVED, &wr, v->order_id, 0, NULL);
	ob_audit(&ob, "system", "order.ident_invited", "order", v->order_id,
		 "identification started, link mailed",
		 json_pack("{s:s, s:s}", "transactionnumber", v->tx, "ident_id", v->ident_id));
	ob_commit(&ob, v->app->db, on_recorded, v);
}

static char *link_for(struct invite *v)
{
	const char *base = cfg_str(v->app->cfg, "ident.link_base");
	size_t n = strlen(base);
	char *link = NULL;

	while (n > 0 && base[n - 1] == '/')
		n--;
	if (asprintf(&link, "%.*s/%s/%s", (int)n, base, cfg_str(v->app->cfg, "ident.company_id"),
		     v->ident_id) < 0)
		return NULL;
	return link;
}

static char *invite_text(struct invite *v, const char *link)
{
	char *body = NULL;

	if (asprintf(
		    &body,
		    "Hello %s %s,\n\n"
		    "thank you for your order %s.  Before we can issue your signature certificate we must\n"
		    "identify you by video: it takes a few minutes; have your passport or ID card at hand.\n\n"
		    "Start your identification here:\n%s\n\n"
		    "Reference: %s\n",
		    v->first, v->last, v->number, link, v->tx) < 0)
		return NULL;
	return body;
}

static void send_mail(struct invite *v)
{
	struct config *cfg = v->app->cfg;
	char *link = NULL, *subject = NULL, *body = NULL, *msg = NULL, mid[64];
	struct httpc_mail m = {0};
	int rc = -1, composed = 0;

	if (cfg_str(cfg, "smtp.url") == NULL) {
		fail(v, 1, RA_E_CONFIG, "smtp.url is not set");
		return;
	}
	link = link_for(v);
	if (link == NULL || asprintf(&subject, "Your video identification for order %s", v->number) < 0) {
		subject = NULL;
		goto out;
	}
	body = invite_text(v, link);
	/* a re-run (a crash between the 250 and the record) sends the same bytes (issue #19) */
	snprintf(mid, sizeof(mid), "ident-invite.%s.%lld", v->order_id, v->date);
	msg = body ? httpc_mail_compose_at(cfg_str(cfg, "smtp.from"), v->email, subject, body, v->date, mid)
		   : NULL;
	if (msg == NULL)
		goto out;
	composed = 1;
	m.url = cfg_str(cfg, "smtp.url");
	m.tls = httpc_mail_tls_mode(cfg_str(cfg, "smtp.tls"));
	m.user = cfg_str(cfg, "smtp.user");
	m.password = cfg_str(cfg, "smtp.password");
	m.from = cfg_str(cfg, "smtp.from");
	m.to = v->email;
	m.message = msg;
	rc = httpc_send_mail(v->app->httpc, &m, MAIL_TIMEOUT_MS, on_mailed, v);
out:
	free(link);
	free(subject);
	free(body);
	free(msg);
	if (rc == 0)
		return;
	if (!composed) /* a customer address or name the mail headers cannot carry */
		fail(v, 0, RA_E_INVALID, "cannot compose the invitation mail");
	else
		fail(v, 1, RA_E_UNAVAILABLE, "mail client unavailable");
}

/* ---- provider ------------------------------------------------------------------------------ */

static void on_ident_stored(PGresult *res, const struct ra_err *err, void *data)
{
	struct invite *v = data;

	(void)res;
	if (err != NULL) {
		fail(v, 1, err->code, "storing the ident id: %s", err->msg);
		return;
	}
	send_mail(v);
}

static void on_started(const struct httpc_resp *resp, const struct ra_err *err, void *data)
{
	struct invite *v = data;
	json_t *j;
	const char *id;

	if (err != NULL) {
		/* transport or login: retry unless the configuration is what is wrong */
		fail(v, err->code != RA_E_CONFIG, err->code, "ident provider start: %s", err->msg);
		return;
	}
	if (resp->status / 100 != 2) {
		fail(v, ident_http_retryable(resp->status), RA_E_UNAVAILABLE,
		     "ident provider start answered %ld", resp->status);
		return;
	}
	j = json_loadb(resp->body, resp->len, 0, NULL);
	id = json_string_value(json_object_get(j, "id"));
	if (id == NULL || *id == '\0' || strlen(id) >= sizeof(v->ident_id) ||
	    strpbrk(id, "/?#\r\n ") != NULL) {
		json_decref(j);
		fail(v, 1, RA_E_UNAVAILABLE, "ident provider start: answer without a usable id");
		return;
	}
	snprintf(v->ident_id, sizeof(v->ident_id), "%s", id);
	json_decref(j);
	{
		const char *p[] = {v->order_id, v->ident_id};
		db_query(v->app->db, sql_store_ident, 2, p, on_ident_stored, v);
	}
}

/* Logs in at the provider and starts the identification for this order's transaction number
 * (ident_fetch.c does the login and keeps the token out of memory afterwards). */
static void start_ident(struct invite *v)
{
	char rest[128];
	json_t *body =
		json_pack("{s:s, s:s, s:s}", "firstname", v->first, "lastname", v->last, "email", v->email);
	char *text = body ? json_dumps(body, JSON_COMPACT) : NULL;

	json_decref(body);
	if (text == NULL) {
		fail(v, 1, RA_E_NOMEM, "out of memory");
		return;
	}
	snprintf(rest, sizeof(rest), "/identifications/%s/start", v->tx);
	ident_api_call(v->app, "POST", rest, text, on_started, v);
	free(text);
}

/* ---- load ---------------------------------------------------------------------------------- */

static char *dup_val(const PGresult *res, int col)
{
	const char *s = db_val(res, 0, col);
	return strdup(s ? s : "");
}

static void on_loaded(PGresult *res, const struct ra_err *err, void *data)
{
	struct invite *v = data;
	const char *state, *ident;

	if (err != NULL) {
		fail(v, 1, err->code, "loading the order: %s", err->msg);
		return;
	}
	if (PQntuples(res) != 1) {
		fail(v, 0, RA_E_NOTFOUND, "order %s does not exist", v->order_id);
		return;
	}
	state = PQgetvalue(res, 0, 0);
	if (wf_state_parse(&wf_order, state) != WF_ORDER_RECEIVED) {
		/* Invited already (a re-run after the record), or cancelled meanwhile: nothing to do. */
		done(v, json_pack("{s:s, s:s}", "skipped", "order is not waiting for an invitation", "state",
				  state));
		return;
	}
	snprintf(v->tx, sizeof(v->tx), "%s", PQgetvalue(res, 0, 1));
	ident = db_val(res, 0, 2);
	v->email = dup_val(res, 3);
	v->first = dup_val(res, 4);
	v->last = dup_val(res, 5);
	v->number = dup_val(res, 6);
	v->date = atoll(PQgetvalue(res, 0, 7));
	if (!v->email || !v->first || !v->last || !v->number) {
		fail(v, 1, RA_E_NOMEM, "out of memory");
		return;
	}
	if (ident != NULL) {
		/* Started by an earlier run: never start a second identification. */
		snprintf(v->ident_id, sizeof(v->ident_id), "%s", ident);
		send_mail(v);
		return;
	}
	start_ident(v);
}

void invite_run(struct job *job)
{
	struct invite *v = calloc(1, sizeof(*v));
	json_t *id = json_object_get(job->payload, "order_id");
	char jid[24];

	if (v == NULL) {
		struct ra_err e = {.code = RA_E_NOMEM};
		job_fail(job, &e, 1);
		return;
	}
	v->job = job;
	v->app = job->app;
	if (!json_is_integer(id) || json_integer_value(id) <= 0) {
		fail(v, 0, RA_E_INVALID, "payload has no order_id");
		return;
	}
	snprintf(v->order_id, sizeof(v->order_id), "%lld", (long long)json_integer_value(id));
	snprintf(jid, sizeof(jid), "%lld", (long long)job->id);
	{
		const char *p[] = {v->order_id, jid};
		db_query(v->app->db, sql_load, 2, p, on_loaded, v);
	}
}
