/*
 * usermail.c - the user_id_mail job (R8): once an order is issued (tpin.c moves it there
 * when its last certificate is issued), the user gets their user ID and the next steps by
 * e-mail, in the words of the template user_id (deploy/templates/<language>/user_id.txt,
 * loaded at start-up by usermail_init).  Recorded in `notifications` under the job's key with its audit record; a re-run
 * that finds the record sends nothing.  A crash between the SMTP server's 250 and the record
 * can send the mail twice: at-least-once is what SMTP allows (as for the invitation).  Both
 * sends are then the same message byte for byte (issue #19): its Date is the job's creation
 * and its Message-ID names the order and that time, so the recipient's client shows one.
 */
#include "ra/flows/cert/usermail.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ra/db/db.h"
#include "ra/db/outbox.h"
#include "ra/net/httpc.h"
#include "ra/jobs/jobs.h"
#include "ra/base/log.h"
#include "ra/base/tmpl.h"
#include "workflows/wf_cert.h"

#define MAIL_TIMEOUT_MS 30000

static const char *sql_load =
	"SELECT o.email, o.first_name, o.last_name, o.shop_number, u.public_id,"
	" EXISTS (SELECT 1 FROM notifications WHERE idempotency_key = $2),"
	" (SELECT count(*) FROM certificates c WHERE c.order_id = o.id::text AND c.state = $3),"
	" floor(extract(epoch FROM coalesce((SELECT j.created_at FROM jobs j WHERE j.id = $4::bigint), now())))::bigint"
	" FROM orders o JOIN users u ON u.id = o.user_id WHERE o.id = $1::bigint";

/* the mail is recorded once (its key), and audited with it (outbox: a record for the row) */
static const char *sql_sent =
	"INSERT INTO notifications (idempotency_key) VALUES ($2) ON CONFLICT DO NOTHING"
	" RETURNING $3::text, jsonb_build_object('order_id', $1::text)::text";

struct um {
	struct job *job;
	char order_id[24];
	char key[64];
	char public_id[32];
};

static void fail(struct um *m, int retryable, int code, const char *msg)
{
	struct ra_err e;

	ra_err_set(&e, code, "", "%s", msg);
	log_warn("usermail.failed", "order", m->order_id, "message", msg, NULL);
	job_fail(m->job, &e, retryable);
	free(m);
}

static void on_recorded(const int *rows, const struct ra_err *err, void *data)
{
	struct um *m = data;

	(void)rows;
	if (err != NULL) {
		fail(m, 1, err->code, err->msg);
		return;
	}
	log_info("usermail.sent", "order", m->order_id, "user", m->public_id, NULL);
	job_done(m->job, json_pack("{s:s}", "user_id", m->public_id));
	free(m);
}

static void on_mailed(const struct httpc_resp *resp, const struct ra_err *err, void *data)
{
	struct um *m = data;

	(void)resp;
	if (err != NULL) {
		fail(m, err->code != RA_E_INVALID, err->code, err->msg);
		return;
	}
	{
		struct outbox ob = {0};
		int n = ob_stmt(&ob, sql_sent, 3, (const char *const[]){m->order_id, m->key, m->public_id},
				0);
		ob_audit_each(&ob, n, "system", "user.id_mailed", "user",
			      "R8: user ID and next steps mailed");
		ob_commit(&ob, m->job->app->db, on_recorded, m);
	}
}

static const char *const vars[] = {"first_name", "last_name", "shop_number", "user_id", "certificates", NULL};

int usermail_init(const struct config *cfg, struct ra_err *err)
{
	return tmpl_register(cfg, USERMAIL_TEMPLATE, vars, err);
}

/* the subject and body (deploy/templates/<language>/user_id.txt) with the order's values;
 * 0, or -1 when out of memory or the template was never registered */
static int mail_text(const PGresult *res, char **subject, char **body)
{
	const struct tmpl *t = tmpl_get(USERMAIL_TEMPLATE);
	const char *values[] = {PQgetvalue(res, 0, 1), PQgetvalue(res, 0, 2), PQgetvalue(res, 0, 3),
				PQgetvalue(res, 0, 4), PQgetvalue(res, 0, 6)};

	*subject = *body = NULL;
	if (t == NULL)
		return -1;
	*subject = tmpl_render(t->subject, vars, values, 5);
	*body = tmpl_render(t->body, vars, values, 5);
	return *subject && *body ? 0 : -1;
}

static void on_loaded(PGresult *res, const struct ra_err *err, void *data)
{
	struct um *m = data;
	const struct config *cfg = m->job->app->cfg;
	struct httpc_mail mail = {0};
	char *subject = NULL, *body = NULL, *msg = NULL, mid[64];
	long long date;
	int rc;

	if (err != NULL) {
		fail(m, 1, err->code, err->msg);
		return;
	}
	if (PQntuples(res) != 1) {
		fail(m, 0, RA_E_NOTFOUND, "order or user does not exist");
		return;
	}
	if (PQgetvalue(res, 0, 5)[0] == 't') {
		job_done(m->job, json_pack("{s:s}", "already", "mailed"));
		free(m);
		return;
	}
	if (cfg_str(cfg, "smtp.url") == NULL) {
		fail(m, 1, RA_E_CONFIG, "smtp.url is not set");
		return;
	}
	snprintf(m->public_id, sizeof(m->public_id), "%s", PQgetvalue(res, 0, 4));
	/* a re-run after a crash sends the same bytes: the date and id are the job's, not now's */
	date = atoll(PQgetvalue(res, 0, 7));
	snprintf(mid, sizeof(mid), "user-id-mail.%s.%lld", m->order_id, date);
	if (mail_text(res, &subject, &body) == 0)
		msg = httpc_mail_compose_at(cfg_str(cfg, "smtp.from"), PQgetvalue(res, 0, 0), subject, body,
					    date, mid);
	free(subject);
	free(body);
	if (msg == NULL) {
		fail(m, 0, RA_E_INVALID, "cannot compose the user-ID mail");
		return;
	}
	mail.url = cfg_str(cfg, "smtp.url");
	mail.tls = httpc_mail_tls_mode(cfg_str(cfg, "smtp.tls"));
	mail.user = cfg_str(cfg, "smtp.user");
	mail.password = cfg_str(cfg, "smtp.password");
	mail.from = cfg_str(cfg, "smtp.from");
	mail.to = PQgetvalue(res, 0, 0);
	mail.message = msg;
	rc = httpc_send_mail(m->job->app->httpc, &mail, MAIL_TIMEOUT_MS, on_mailed, m);
	free(msg);
	if (rc != 0)
		fail(m, 1, RA_E_UNAVAILABLE, "mail client unavailable");
}

void usermail_run(struct job *job)
{
	struct um *m = calloc(1, sizeof(*m));
	json_t *id = json_object_get(job->payload, "order_id");
	char jid[24];

	if (m == NULL)
		abort();
	m->job = job;
	if (!json_is_integer(id)) {
		fail(m, 0, RA_E_INVALID, "payload has no order_id");
		return;
	}
	snprintf(m->order_id, sizeof(m->order_id), "%lld", (long long)json_integer_value(id));
	snprintf(m->key, sizeof(m->key), "user_id_mail:%s", m->order_id);
	snprintf(jid, sizeof(jid), "%lld", (long long)job->id);
	{
		const char *p[] = {m->order_id, m->key, wf_state_name(&wf_cert, WF_CERT_ISSUED), jid};
		db_query(job->app->db, sql_load, 4, p, on_loaded, m);
	}
}
