/*
 * notify_send.c - the `notify` job: one mail for one event (notify.h).  The event's data is
 * read in one statement, the template (notices.c) rendered, the mail sent through the SMTP
 * client, then recorded under the job's key with its audit record.  A re-run that finds the
 * record sends nothing; a crash between the SMTP server's 250 and the record can send the
 * mail twice: at-least-once is what SMTP allows (as for the other mails).
 */
#include "ra/flows/lifecycle/notify.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ra/base/config.h"
#include "ra/base/log.h"
#include "ra/db/db.h"
#include "ra/db/outbox.h"
#include "ra/flows/lifecycle/notices.h"
#include "ra/net/httpc.h"

#define MAIL_TIMEOUT_MS 30000
#define TS(col) "to_char(" col " AT TIME ZONE 'UTC', 'YYYY-MM-DD HH24:MI:SS \"UTC\"')"

/* An audit event and who it concerns.  The term end is the one the event names (a renewal's
 * new end, not whatever a later renewal made of it), else the certificate's.  $1 seq, $2 the job's key.  Columns in the order of
 * event_vars below, then the object type, the e-mail address and whether it was sent already. */
static const char *sql_event =
	"SELECT u.first_name, u.last_name, u.public_id, c.id, c.serial, a.reason, a.details->>'comment',"
	" " TS("c.not_after") ", " TS("CASE WHEN a.details ? 'term_end' THEN (a.details->>'term_end')::timestamptz"
		 " WHEN a.details ? 'until' THEN ((a.details->>'until')::date + 1)::timestamp AT TIME ZONE 'UTC'"
		 " ELSE c.term_end END") ", " TS("a.at") ", u.state, a.details->>'replacement',"
	" a.action, a.object_id, o.id::text, o.shop_number, a.object_type,"
	" u.email, EXISTS (SELECT 1 FROM notifications WHERE idempotency_key = $2)"
	" FROM audit_log a"
	" LEFT JOIN certificates c ON a.object_type = 'certificate' AND c.id = a.object_id"
	" LEFT JOIN orders o ON a.object_type = 'order' AND o.id::text = a.object_id"
	" LEFT JOIN users u ON u.public_id = CASE a.object_type WHEN 'user' THEN a.object_id"
	"  WHEN 'certificate' THEN c.user_id END OR u.id = o.user_id"
	" WHERE a.seq = $1::bigint";

static const char *const event_vars[] = {"first_name", "last_name", "user_id",    "certificate_id",
					 "serial",     "reason",    "comment",    "not_after",
					 "term_end",   "at",        "user_state", "replacement_id",
					 "action",     "object_id", "order_id",   "shop_number"};
#define EVENT_NVARS (sizeof(event_vars) / sizeof(event_vars[0]))

/* A dead job.  $1 id, $2 the job's key. */
static const char *sql_job =
	"SELECT id::text, kind, last_error, attempts::text, " TS("done_at") ", 'job.dead', id::text,"
	" NULL::text, EXISTS (SELECT 1 FROM notifications WHERE idempotency_key = $2)"
	" FROM jobs WHERE id = $1::bigint";

static const char *const job_vars[] = {"job_id", "job_kind", "job_error", "job_attempts",
				       "at",     "action",   "object_id"};
#define JOB_NVARS (sizeof(job_vars) / sizeof(job_vars[0]))

/* $1 key, $2 object id, $3 template, $4 recipient kind, $5 event.  The mail is recorded once
 * (its key); the row returned is its audit record's object and details (outbox). */
static const char *sql_sent =
	"INSERT INTO notifications (idempotency_key) VALUES ($1) ON CONFLICT DO NOTHING"
	" RETURNING $2::text, jsonb_build_object('template', $3::text, 'to', $4::text, 'event', $5::text)::text";

struct ns {
	struct job *job;
	const char *tmpl, *to; /* borrowed from the payload */
	char id[24]; /* seq or job id */
	int is_job;
	char obj_type[16], obj_id[80];
};

static void fail(struct ns *n, int retryable, int code, const char *msg)
{
	struct ra_err e;

	ra_err_set(&e, code, "", "%s", msg);
	log_warn("notify.failed", "job", n->id, "template", n->tmpl ? n->tmpl : "-", "message", msg, NULL);
	job_fail(n->job, &e, retryable);
	free(n);
}

static void finish(struct ns *n, json_t *result)
{
	job_done(n->job, result);
	free(n);
}

static void on_recorded(const int *rows, const struct ra_err *err, void *data)
{
	struct ns *n = data;

	(void)rows;
	if (err != NULL) {
		fail(n, 1, err->code, err->msg);
		return;
	}
	log_info("notify.sent", "template", n->tmpl, "to", n->to, "event", n->id, NULL);
	finish(n, json_pack("{s:s, s:s}", "sent", n->tmpl, "to", n->to));
}

static void on_mailed(const struct httpc_resp *resp, const struct ra_err *err, void *data)
{
	struct ns *n = data;
	struct outbox ob = {0};
	int src;

	(void)resp;
	if (err != NULL) {
		fail(n, err->code != RA_E_INVALID, err->code, err->msg);
		return;
	}
	src = ob_stmt(&ob, sql_sent, 5,
		      (const char *const[]){n->job->idempotency_key, n->obj_id, n->tmpl, n->to, n->id}, 0);
	ob_audit_each(&ob, src, "system", "notify.sent", n->obj_type, n->tmpl);
	ob_commit(&ob, n->job->app->db, on_recorded, n);
}

static void send_mail(struct ns *n, const char *to_addr, const char *const *names, const char *const *values,
		      size_t nv)
{
	const struct config *cfg = n->job->app->cfg;
	const struct tmpl *t = tmpl_get(n->tmpl);
	struct httpc_mail mail = {0};
	char *subject, *body, *msg = NULL;
	int rc;

	if (t == NULL) {
		fail(n, 0, RA_E_INTERNAL, "unknown template");
		return;
	}
	if (cfg_str(cfg, "smtp.url") == NULL) {
		fail(n, 1, RA_E_CONFIG, "smtp.url is not set");
		return;
	}
	subject = tmpl_render(t->subject, names, values, nv);
	body = tmpl_render(t->body, names, values, nv);
	if (subject && body)
		msg = httpc_mail_compose(cfg_str(cfg, "smtp.from"), to_addr, subject, body);
	free(subject);
	free(body);
	if (msg == NULL) {
		fail(n, 0, RA_E_INVALID, "cannot compose the mail (address or text not acceptable)");
		return;
	}
	mail.url = cfg_str(cfg, "smtp.url");
	mail.tls = httpc_mail_tls_mode(cfg_str(cfg, "smtp.tls"));
	mail.user = cfg_str(cfg, "smtp.user");
	mail.password = cfg_str(cfg, "smtp.password");
	mail.from = cfg_str(cfg, "smtp.from");
	mail.to = to_addr;
	mail.message = msg;
	rc = httpc_send_mail(n->job->app->httpc, &mail, MAIL_TIMEOUT_MS, on_mailed, n);
	free(msg);
	if (rc != 0)
		fail(n, 1, RA_E_UNAVAILABLE, "mail client unavailable");
}

static void on_loaded(PGresult *res, const struct ra_err *err, void *data)
{
	struct ns *n = data;
	const struct config *cfg = n->job->app->cfg;
	size_t nv = n->is_job ? JOB_NVARS : EVENT_NVARS;
	const char *const *names = n->is_job ? job_vars : event_vars;
	const char *values[EVENT_NVARS > JOB_NVARS ? EVENT_NVARS : JOB_NVARS];
	const char *addr;
	int ncol;

	if (err != NULL) {
		fail(n, 1, err->code, err->msg);
		return;
	}
	if (PQntuples(res) != 1) {
		fail(n, 0, RA_E_NOTFOUND, "the event does not exist");
		return;
	}
	ncol = PQnfields(res);
	if (PQgetvalue(res, 0, ncol - 1)[0] == 't') {
		finish(n, json_pack("{s:s}", "already", "sent"));
		return;
	}
	for (size_t i = 0; i < nv; i++)
		values[i] = db_val(res, 0, (int)i);
	if (n->is_job) {
		snprintf(n->obj_type, sizeof(n->obj_type), "job");
		snprintf(n->obj_id, sizeof(n->obj_id), "%s", n->id);
	} else {
		const char *type = db_val(res, 0, ncol - 3);
		snprintf(n->obj_type, sizeof(n->obj_type), "%s", type ? type : "");
		snprintf(n->obj_id, sizeof(n->obj_id), "%s", values[13] ? values[13] : "");
	}
	if (strcmp(n->to, "support") == 0)
		addr = cfg_str(cfg, "notify.support_address");
	else
		addr = db_val(res, 0, ncol - 2);
	if (addr == NULL || addr[0] == '\0') {
		/* an event about a certificate without a user (none in production), or support mails
		 * switched off after the job was made: nobody to tell */
		finish(n, json_pack("{s:s}", "skipped", "no recipient"));
		return;
	}
	send_mail(n, addr, names, values, nv);
}

void notify_send_run(struct job *job)
{
	struct ns *n = calloc(1, sizeof(*n));
	json_t *seq = json_object_get(job->payload, "seq"), *jid = json_object_get(job->payload, "job_id");
	const char *p[2];

	if (n == NULL)
		abort();
	n->job = job;
	n->tmpl = json_string_value(json_object_get(job->payload, "template"));
	n->to = json_string_value(json_object_get(job->payload, "to"));
	if (n->tmpl == NULL || n->to == NULL || job->idempotency_key == NULL ||
	    (!json_is_integer(seq) && !json_is_integer(jid))) {
		fail(n, 0, RA_E_INVALID, "payload needs template, to, and seq or job_id; the job a key");
		return;
	}
	n->is_job = json_is_integer(jid);
	snprintf(n->id, sizeof(n->id), "%lld", (long long)json_integer_value(n->is_job ? jid : seq));
	p[0] = n->id;
	p[1] = job->idempotency_key;
	db_query(job->app->db, n->is_job ? sql_job : sql_event, 2, p, on_loaded, n);
}
