/*
 * tpin.c - the transport_pin job (R11), enqueued by cert_issue (ca.c) once a certificate is
 * issued: a random TransportPIN, only its scrypt hash on the certificate, the PIN by SMS to
 * the user's mobile number.
 *
 * Steps, and why a re-run never sends a second, different PIN:
 *   1. generate the PIN; on the thread pool hash it (scrypt) and seal it (evidence.key);
 *   2. one statement stores the hash on the certificate and the sealed PIN as a pending
 *      delivery (INSERT ... ON CONFLICT DO NOTHING: the first run's PIN wins), extends the
 *      identification's retention to the certificate's end of validity (R18) and, if this
 *      was the order's last certificate, moves the order to 'issued' and enqueues the R8
 *      user-ID mail;
 *   3. SMS through the gateway;
 *   4. record the delivery: sent_at, the gateway's id, and the sealed PIN is erased.
 * A crash before 2 leaves nothing (the PIN was never shown).  A crash between 2 and 4
 * re-runs from the pending delivery and resends the SAME PIN (the user may get it twice,
 * never two different ones).  After 4 a re-run does nothing.
 */
#include "ra/flows/cert/tpin.h"

#include <openssl/crypto.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ra/db/outbox.h"
#include "ra/base/vault.h"
#include "ra/flows/cert/cert.h"
#include "ra/net/httpc.h"
#include "ra/jobs/jobs.h"
#include "ra/base/log.h"
#include "ra/base/pool.h"
#include "ra/base/secret.h"
#include "workflows/wf_cert.h"
#include "workflows/wf_order.h"

#define TPIN_DIGITS 8
#define SMS_TIMEOUT_MS 15000

static const char *sql_load = DB_PLAN_ONCE
	"SELECT c.state, u.phone_e164, encode(d.pin_sealed, 'hex'), d.sent_at IS NOT NULL"
	" FROM certificates c LEFT JOIN users u ON u.public_id = c.user_id"
	" LEFT JOIN transport_pin_deliveries d ON d.certificate_id = c.id WHERE c.id = $1";

/*
 * The PIN is stored only while the certificate is still 'issued' ($2): the row is locked (FOR
 * UPDATE) so a revocation racing this run either commits first, and nothing is stored, or
 * waits for us.  The count is the state-checked update's: 0 means a concurrent run stored its
 * PIN first or the certificate left 'issued'; the re-run tells which.  The statements after it
 * act only if it stored this run's hash ($3 / $4).  One outbox unit (ra/db/outbox.h).
 */
static const char *sql_store = DB_PLAN_ONCE
	"WITH d AS (INSERT INTO transport_pin_deliveries (certificate_id, pin_sealed)"
	"  SELECT id, decode($4, 'hex') FROM certificates WHERE id = $1 AND state = $2 FOR UPDATE"
	"  ON CONFLICT (certificate_id) DO NOTHING RETURNING certificate_id)"
	" UPDATE certificates SET transport_pin_hash = $3 WHERE id IN (SELECT certificate_id FROM d)"
	"  AND state = $2 RETURNING id";

/* R18: the identification is kept until the certificate's end of validity and then some */
static const char *sql_retain = DB_PLAN_ONCE
	"UPDATE identifications SET retain_until = greatest(retain_until, c.not_after + make_interval(years => $3::int))"
	" FROM certificates c WHERE c.id = $1 AND c.transport_pin_hash = $2 AND identifications.ident_id = c.ident_id";

/* issuing -> issued once no certificate of the order is still pending ($4); its id */
static const char *sql_order_issued = DB_PLAN_ONCE
	"UPDATE orders SET state = $2, updated_at = now() FROM certificates c"
	" WHERE c.id = $1 AND c.transport_pin_hash = $5 AND orders.id::text = c.order_id AND orders.state = ANY($3::text[])"
	" AND NOT EXISTS (SELECT 1 FROM certificates x WHERE x.order_id = c.order_id AND x.state = ANY($4::text[]))"
	" RETURNING orders.id::text";

static const char *sql_sent = DB_PLAN_ONCE
	"UPDATE transport_pin_deliveries SET sent_at = now(), sms_id = $2, pin_sealed = NULL"
	" WHERE certificate_id = $1 AND sent_at IS NULL"
	" RETURNING certificate_id, jsonb_build_object('sms_id', $2::text)::text";

struct tpin {
	struct job *job;
	struct app *app;
	char id[72];
	char phone[24];
	char pin[SECRET_PIN_MAX_DIGITS + 1];
	char hash[SECRET_PIN_HASH_MAX];
	char *sealed_hex;
	char sms_id[64];
	int rc;
	struct ra_err err;
};

static void tpin_free(struct tpin *t)
{
	OPENSSL_cleanse(t->pin, sizeof(t->pin));
	free(t->sealed_hex);
	free(t);
}

static void finish(struct tpin *t, json_t *result)
{
	job_done(t->job, result);
	tpin_free(t);
}

static void fail(struct tpin *t, int retryable, int code, const char *field, const char *msg)
{
	struct ra_err e;

	ra_err_set(&e, code, field, "%s", msg);
	log_warn("tpin.failed", "certificate", t->id, "message", msg, "retry", retryable ? "yes" : "no",
		 NULL);
	job_fail(t->job, &e, retryable);
	tpin_free(t);
}

/* ---- 4. record ------------------------------------------------------------------------- */

static void on_recorded(const int *rows, const struct ra_err *err, void *data)
{
	struct tpin *t = data;

	(void)rows;
	if (err != NULL) { /* sent but not recorded: the re-run resends the same PIN */
		fail(t, 1, err->code, "", err->msg);
		return;
	}
	log_info("tpin.sent", "certificate", t->id, "sms_id", t->sms_id, NULL);
	finish(t, json_pack("{s:s}", "sms_id", t->sms_id));
}

/* ---- 3. SMS ---------------------------------------------------------------------------- */

static void on_sms(const struct httpc_resp *resp, const struct ra_err *err, void *data)
{
	struct tpin *t = data;
	json_t *j;
	const char *id;

	if (err != NULL) {
		fail(t, 1, err->code, "sms.url", err->msg);
		return;
	}
	j = json_loadb(resp->body, resp->len, 0, NULL);
	id = json_string_value(json_object_get(j, "id"));
	if (resp->status / 100 != 2 || id == NULL) {
		json_decref(j);
		fail(t, 1, RA_E_UNAVAILABLE, "sms.url", "the SMS gateway did not accept the message");
		return;
	}
	snprintf(t->sms_id, sizeof(t->sms_id), "%s", id);
	json_decref(j);
	{
		struct outbox ob = {0};
		int d = ob_stmt(&ob, sql_sent, 2, (const char *const[]){t->id, t->sms_id}, 0);
		ob_audit_each(&ob, d, "system", "cert.transport_pin_sent", "certificate",
			      "R11: TransportPIN delivered by SMS");
		ob_commit(&ob, t->app->db, on_recorded, t);
	}
}

static void send_sms(struct tpin *t)
{
	const char *url = cfg_str(t->app->cfg, "sms.url"), *token = cfg_str(t->app->cfg, "sms.token");
	char auth[300], *text = NULL, *body = NULL;
	const char *headers[] = {"Content-Type: application/json", auth, NULL};
	json_t *b;
	int rc = -1;

	if (url == NULL || token == NULL) {
		fail(t, 1, RA_E_CONFIG, "sms.url", "sms.url and sms.token must be set");
		return;
	}
	snprintf(auth, sizeof(auth), "Authorization: Bearer %s", token);
	if (asprintf(&text,
		     "Your TransportPIN for certificate %s: %s  Use it once to set your own ActivationPIN.",
		     t->id, t->pin) < 0)
		text = NULL;
	b = text ? json_pack("{s:s, s:s}", "to", t->phone, "text", text) : NULL;
	body = b ? json_dumps(b, JSON_COMPACT) : NULL;
	if (body != NULL)
		rc = httpc_request(t->app->httpc, "POST", url, headers, body, strlen(body), SMS_TIMEOUT_MS,
				   on_sms, t);
	/* the PIN and the gateway token are secrets: wipe every copy (httpc keeps its own) */
	if (text)
		OPENSSL_cleanse(text, strlen(text));
	if (body)
		OPENSSL_cleanse(body, strlen(body));
	if (b) { /* jansson's own copy of the text: wiped before json_decref frees it */
		char *copy = (char *)json_string_value(json_object_get(b, "text"));
		OPENSSL_cleanse(copy, strlen(copy));
	}
	OPENSSL_cleanse(auth, sizeof(auth));
	free(text);
	free(body);
	json_decref(b);
	if (rc != 0)
		fail(t, 1, RA_E_UNAVAILABLE, "sms.url", "cannot start the SMS request");
}

/* ---- 1, 2. PIN, hash, store ------------------------------------------------------------- */

static void on_stored(const int *rows, const struct ra_err *err, void *data);

static void work_hash(void *data)
{
	struct tpin *t = data;
	char aad[128];

	/* scrypt is deliberately slow: never on the loop thread */
	t->rc = secret_pin_hash(t->pin, t->hash, sizeof(t->hash));
	if (t->rc != 0) {
		ra_err_set(&t->err, t->rc, "", "cannot hash the TransportPIN");
		return;
	}
	snprintf(aad, sizeof(aad), TPIN_AAD_FMT, t->id);
	t->rc = vault_seal(t->app->cfg, aad, t->pin, strlen(t->pin), &t->sealed_hex, &t->err);
}

/* The hash and the pending delivery, the retention (R18), the order's issued state when this
 * was its last certificate, the R8 user-ID mail job, and their audit records. */
static void store(struct tpin *t, const char *years)
{
	struct outbox ob = {0};
	char pending[96];
	int c, o;

	ob_states(&wf_cert, 1u << WF_CERT_REQUESTED | 1u << WF_CERT_KEY_GENERATED | 1u << WF_CERT_FAILED,
		  pending, sizeof(pending));
	c = ob_stmt(
		&ob, sql_store, 4,
		(const char *const[]){t->id, wf_state_name(&wf_cert, WF_CERT_ISSUED), t->hash, t->sealed_hex},
		0);
	ob_stmt(&ob, sql_retain, 3, (const char *const[]){t->id, t->hash, years}, 0);
	o = ob_move_set(&ob, sql_order_issued, &wf_order, 1u << WF_ORDER_ISSUING, WF_ORDER_ISSUED, t->id, 2,
			(const char *const[]){pending, t->hash});
	ob_job_each(&ob, o, "user_id_mail", "order_id", "user_id_mail:");
	ob_audit_each(&ob, c, "system", "cert.transport_pin_set", "certificate",
		      "R11: random TransportPIN, hash stored");
	ob_audit_each(&ob, o, "system", "order.issued", "order", "every certificate of the order is issued");
	ob_commit(&ob, t->app->db, on_stored, t);
}

static void after_hash(void *data)
{
	struct tpin *t = data;
	char years[16];

	if (t->rc != 0) {
		fail(t, 1, t->err.code, t->err.field, t->err.msg);
		return;
	}
	snprintf(years, sizeof(years), "%lld", cfg_int(t->app->cfg, "retention.years_after_expiry"));
	store(t, years);
	OPENSSL_cleanse(t->hash, sizeof(t->hash));
}

static void on_stored(const int *rows, const struct ra_err *err, void *data)
{
	struct tpin *t = data;

	if (err != NULL) {
		fail(t, 1, err->code, "", err->msg);
		return;
	}
	if (rows[0] != 1) {
		/* another run stored its PIN first (that one is the PIN, this one is never shown), or
		 * the certificate was revoked meanwhile: the re-run sends the stored PIN or skips */
		fail(t, 1, RA_E_CONFLICT, "",
		     "a concurrent run stored the TransportPIN or the certificate left 'issued'");
		return;
	}
	send_sms(t);
}

static void on_loaded(PGresult *res, const struct ra_err *err, void *data)
{
	struct tpin *t = data;
	const char *sealed;
	char aad[128], *pin = NULL;
	size_t len = 0;
	struct ra_err e = {0};

	if (err != NULL) {
		fail(t, 1, err->code, "", err->msg);
		return;
	}
	if (PQntuples(res) != 1) {
		fail(t, 0, RA_E_NOTFOUND, "certificate_id", "no such certificate");
		return;
	}
	if (PQgetvalue(res, 0, 3)[0] == 't') {
		finish(t, json_pack("{s:s}", "already", "delivered"));
		return;
	}
	if (wf_state_parse(&wf_cert, PQgetvalue(res, 0, 0)) != WF_CERT_ISSUED) {
		/* revoked, failed or already activated: a TransportPIN has no use any more */
		finish(t, json_pack("{s:s}", "skipped", PQgetvalue(res, 0, 0)));
		return;
	}
	if (db_val(res, 0, 1) == NULL) {
		fail(t, 0, RA_E_NOTFOUND, "user_id", "the certificate has no user with a mobile number");
		return;
	}
	snprintf(t->phone, sizeof(t->phone), "%s", PQgetvalue(res, 0, 1));
	sealed = db_val(res, 0, 2);
	if (sealed != NULL) {
		/* a run stored the PIN but did not record the SMS: send the SAME PIN again */
		snprintf(aad, sizeof(aad), TPIN_AAD_FMT, t->id);
		if (vault_open(t->app->cfg, aad, sealed, &pin, &len, &e) == 0 && len >= sizeof(t->pin))
			/* opened fine but is no PIN of ours: a retry would open the same bytes */
			ra_err_set(&e, RA_E_INTERNAL, "tpin_sealed", "stored TransportPIN is %zu bytes long",
				   len);
		if (e.code != 0) {
			if (pin)
				vault_text_free(pin, len);
			fail(t, e.code == RA_E_CONFIG, e.code, e.field, e.msg);
			return;
		}
		memcpy(t->pin, pin, len + 1);
		vault_text_free(pin, len);
		send_sms(t);
		return;
	}
	if (secret_pin_generate(t->pin, sizeof(t->pin), TPIN_DIGITS) != 0) {
		fail(t, 1, RA_E_INTERNAL, "", "no random TransportPIN");
		return;
	}
	if (pool_run_background(t->app->loop, work_hash, after_hash, t) != 0)
		fail(t, 1, RA_E_INTERNAL, "", "cannot queue work");
}

void tpin_run(struct job *job)
{
	struct tpin *t = calloc(1, sizeof(*t));
	const char *id = json_string_value(json_object_get(job->payload, "certificate_id"));

	if (t == NULL)
		abort();
	t->job = job;
	t->app = job->app;
	if (id == NULL || strlen(id) >= sizeof(t->id)) {
		fail(t, 0, RA_E_INVALID, "certificate_id", "payload has no certificate_id");
		return;
	}
	snprintf(t->id, sizeof(t->id), "%s", id);
	{
		const char *p[] = {t->id};
		db_query(t->app->db, sql_load, 1, p, on_loaded, t);
	}
}
