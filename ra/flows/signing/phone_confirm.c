/*
 * phone_confirm.c - POST /v1/signing/phone-changes/confirm; see phone_confirm.h.
 *
 * Body {"user_id", "code"}.  Steps, as the TransportPIN's activation takes them (activation.c):
 *   1. read the user's open phone change;
 *   2. refuse before anything is counted when it waits for its proof, or its code is not sent;
 *   3. count the try, conditioned on the count read in 1 (parallel tries take turns);
 *   4. check the code against the stored scrypt hash on the thread pool (constant time);
 *   5. right: ONE transaction completes the change (the counted try given back), moves the
 *      user's number from the old to the new one (conditioned on the old one: nothing else
 *      moved it), enqueues the notice to the old number and writes the audit records; wrong:
 *      audited, and the last allowed try cancels the change (code_blocked).
 * A try counts before its code is checked: a crash between 3 and 5 costs the user a try, it
 * never grants one.
 */
#include "ra/flows/signing/phone_confirm.h"

#include <openssl/crypto.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ra/base/config.h"
#include "ra/base/pool.h"
#include "ra/base/secret.h"
#include "ra/base/userid.h"
#include "ra/db/db.h"
#include "ra/db/outbox.h"
#include "ra/flows/signing/signing_req.h"
#include "workflows/wf_phone.h"

static const char *sql_load =
	"SELECT p.id::text, p.state, p.code_hash, p.code_failures, p.code_sent_at IS NOT NULL, p.old_e164, p.new_e164"
	" FROM phone_changes p JOIN users u ON u.id = p.user_id WHERE u.public_id = $1 AND p.state = ANY($2::text[])"
	" ORDER BY p.id DESC LIMIT 1";

static const char *sql_count =
	"UPDATE phone_changes SET code_failures = code_failures + 1"
	" WHERE id = $1::bigint AND state = $2 AND code_hash = $3 AND code_failures = $4::int";

/* outbox: $2 the new state, $3 the one decided from; $4 the hash the decision was made on */
static const char *sql_complete =
	"UPDATE phone_changes SET state = $2, completed_at = now(), updated_at = now(), code_hash = NULL,"
	" code_failures = code_failures - 1 WHERE id = $1::bigint AND state = $3 AND code_hash = $4";
static const char *sql_move_number =
	"UPDATE users SET phone_e164 = p.new_e164 FROM phone_changes p"
	" WHERE p.id = $1::bigint AND users.id = p.user_id AND users.phone_e164 = p.old_e164";
static const char *sql_wrong =
	"UPDATE phone_changes SET state = $2, updated_at = now() WHERE id = $1::bigint AND state = $3 AND code_hash = $4";
static const char *sql_blocked =
	"UPDATE phone_changes SET state = $2, updated_at = now(), code_hash = NULL, cancelled_by = 'system',"
	" cancel_reason = 'too many wrong codes' WHERE id = $1::bigint AND state = $3 AND code_hash = $4";

static const char *const members[] = {"user_id", "code", NULL};

struct conf {
	struct sg_call *c;
	char user[USERID_MAX];
	char id[24];
	char code[SECRET_PIN_MAX_DIGITS + 1];
	char hash[SECRET_PIN_HASH_MAX];
	char old_e164[24], new_e164[24];
	char failures[16];
	int attempt, max, verdict;
};

static void conf_free(struct conf *k)
{
	OPENSSL_cleanse(k->code, sizeof(k->code));
	OPENSSL_cleanse(k->hash, sizeof(k->hash));
	free(k);
}

static void fail(struct conf *k, int code, const char *field, const char *reason, const char *rule,
		 json_t *extra, const char *fmt, ...) __attribute__((format(printf, 7, 8)));
static void fail(struct conf *k, int code, const char *field, const char *reason, const char *rule,
		 json_t *extra, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	sg_failv(k->c, code, field, reason, rule, extra, fmt, ap);
	va_end(ap);
	conf_free(k);
}

static void fail_err(struct conf *k, const struct ra_err *err)
{
	sg_fail(k->c, err, NULL, NULL, NULL);
	conf_free(k);
}

/* ---- 5. the outcome ---------------------------------------------------------------------- */

static void on_completed(const int *rows, const struct ra_err *err, void *data)
{
	struct conf *k = data;

	(void)rows;
	if (err != NULL && err->code == RA_E_CONFLICT) {
		fail(k, RA_E_CONFLICT, "code", "conflict", "R3", NULL,
		     "R3: the change or the user's number moved meanwhile, or the new number belongs to another user "
		     "by now: nothing changed, support decides");
		return;
	}
	if (err != NULL) {
		fail_err(k, err);
		return;
	}
	sg_reply(k->c, 200,
		 json_pack("{s:s, s:s, s:s, s:s}", "user_id", k->user, "phone_change_id", k->id, "state",
			   wf_state_name(&wf_phone, WF_PHONE_COMPLETED), "phone_e164", k->new_e164));
	conf_free(k);
}

static void complete(struct conf *k)
{
	struct outbox ob = {0};
	struct wf_result r;
	char key[64];

	if (wf_step(&wf_phone, WF_PHONE_AWAITING_CODE, WF_PHONE_CONFIRM, NULL, &r) != 0) {
		fail(k, RA_E_INTERNAL, "state", "internal", NULL, NULL, "the phone machine refuses confirm");
		return;
	}
	ob_step(&ob, sql_complete, &wf_phone, WF_PHONE_AWAITING_CODE, &r, k->id, 1,
		(const char *const[]){k->hash});
	/* the certificates name the user by user ID: they stay the user's (R3) */
	ob_stmt(&ob, sql_move_number, 1, (const char *const[]){k->id}, 1);
	snprintf(key, sizeof(key), "phone_notice:%s", k->id);
	ob_job(&ob, &(struct ob_job){
			    .kind = "phone_sms",
			    .payload = json_pack("{s:s, s:s}", "phone_change_id", k->id, "what", "notice"),
			    .key = key});
	ob_audit(&ob, k->c->actor, "phone_change.completed", "phone_change", k->id,
		 "R3: the user confirmed the new number with the code sent to it",
		 json_pack("{s:s, s:s, s:s, s:i}", "user_id", k->user, "old_e164", k->old_e164, "new_e164",
			   k->new_e164, "attempt", k->attempt));
	ob_audit(&ob, k->c->actor, "user.phone_changed", "user", k->user, "R3: phone change completed",
		 json_pack("{s:s, s:s, s:s}", "phone_change_id", k->id, "old_e164", k->old_e164, "new_e164",
			   k->new_e164));
	ob_commit(&ob, k->c->hr->app->db, on_completed, k);
}

static void on_wrong_recorded(const int *rows, const struct ra_err *err, void *data)
{
	struct conf *k = data;
	int left = k->max - k->attempt;

	(void)rows;
	if (err) {
		fail_err(k, err);
		return;
	}
	if (left <= 0) {
		fail(k, RA_E_RULE, "code", "wrong_code", "R3",
		     json_pack("{s:i, s:s}", "tries_left", 0, "state", "cancelled"),
		     "R3: wrong code; that was the last of %d tries: the phone change is cancelled, support starts a "
		     "new one",
		     k->max);
		return;
	}
	fail(k, RA_E_RULE, "code", "wrong_code", "R3", json_pack("{s:i}", "tries_left", left),
	     "R3: wrong code; %d of %d tries left", left, k->max);
}

static void record_wrong(struct conf *k)
{
	struct outbox ob = {0};
	int blocked = k->attempt >= k->max, event = blocked ? WF_PHONE_CODE_BLOCKED : WF_PHONE_CODE_WRONG;
	struct wf_result r;

	if (wf_step(&wf_phone, WF_PHONE_AWAITING_CODE, event, NULL, &r) != 0) {
		fail(k, RA_E_INTERNAL, "state", "internal", NULL, NULL,
		     "the phone machine refuses a wrong code");
		return;
	}
	ob_step(&ob, blocked ? sql_blocked : sql_wrong, &wf_phone, WF_PHONE_AWAITING_CODE, &r, k->id, 1,
		(const char *const[]){k->hash});
	ob_audit(&ob, k->c->actor, blocked ? "phone_change.code_blocked" : "phone_change.code_wrong",
		 "phone_change", k->id,
		 blocked ? "R3: the last allowed wrong code: the phone change is cancelled"
			 : "R3: wrong confirmation code for the new number",
		 json_pack("{s:s, s:i, s:i}", "user_id", k->user, "attempt", k->attempt, "max", k->max));
	ob_commit(&ob, k->c->hr->app->db, on_wrong_recorded, k);
}

/* ---- 4. the code, on the thread pool ------------------------------------------------------ */

static void work_verify(void *data)
{
	struct conf *k = data;

	/* scrypt is deliberately slow; secret_pin_verify compares in constant time */
	k->verdict = secret_pin_verify(k->code, k->hash);
	OPENSSL_cleanse(k->code, sizeof(k->code));
}

static void after_verify(void *data)
{
	struct conf *k = data;

	if (k->verdict == 1)
		complete(k);
	else if (k->verdict == 0)
		record_wrong(k);
	else
		fail(k, RA_E_INTERNAL, "code_hash", "internal", NULL, NULL,
		     "the stored code hash is malformed");
}

/* ---- 3. count the try --------------------------------------------------------------------- */

static void on_counted(const int *rows, const struct ra_err *err, void *data)
{
	struct conf *k = data;

	if (err != NULL && err->code == RA_E_CONFLICT) {
		fail(k, RA_E_CONFLICT, "code", "busy", NULL, NULL,
		     "another try at this code is being checked, or the change moved on: try again");
		return;
	}
	if (err != NULL) {
		fail_err(k, err);
		return;
	}
	(void)rows;
	if (pool_run(k->c->hr->app->loop, work_verify, after_verify, k) != 0)
		fail(k, RA_E_INTERNAL, "", "internal", NULL, NULL, "cannot queue work");
}

/* ---- 1, 2. read and decide ---------------------------------------------------------------- */

static void on_loaded(PGresult *res, const struct ra_err *err, void *data)
{
	struct conf *k = data;
	struct outbox ob = {0};
	int state;

	if (err != NULL) {
		fail_err(k, err);
		return;
	}
	if (PQntuples(res) != 1) {
		fail(k, RA_E_NOTFOUND, "user_id", "no_phone_change", NULL, NULL,
		     "no phone change of %s waits for a code", k->user);
		return;
	}
	snprintf(k->id, sizeof(k->id), "%s", PQgetvalue(res, 0, 0));
	state = wf_state_parse(&wf_phone, PQgetvalue(res, 0, 1));
	if (state != WF_PHONE_AWAITING_CODE) {
		fail(k, RA_E_CONFLICT, "code", "awaiting_proof", "R3", NULL,
		     "R3: phone change %s waits for its proof (four eyes or video identification); no code was sent",
		     k->id);
		return;
	}
	if (PQgetvalue(res, 0, 4)[0] != 't' || db_val(res, 0, 2) == NULL) {
		fail(k, RA_E_CONFLICT, "code", "code_not_sent", NULL, NULL,
		     "the code of phone change %s is still on its way: wait for the SMS", k->id);
		return;
	}
	if (strlen(PQgetvalue(res, 0, 2)) >= sizeof(k->hash)) {
		fail(k, RA_E_INTERNAL, "code_hash", "internal", NULL, NULL,
		     "the stored code hash is malformed");
		return;
	}
	snprintf(k->hash, sizeof(k->hash), "%s", PQgetvalue(res, 0, 2));
	snprintf(k->failures, sizeof(k->failures), "%s", PQgetvalue(res, 0, 3));
	snprintf(k->old_e164, sizeof(k->old_e164), "%s", PQgetvalue(res, 0, 5));
	snprintf(k->new_e164, sizeof(k->new_e164), "%s", PQgetvalue(res, 0, 6));
	k->attempt = atoi(k->failures) + 1;
	if (k->attempt > k->max) { /* a lowered bound: the change is over its tries */
		k->attempt = k->max;
		record_wrong(k);
		return;
	}
	ob_stmt(&ob, sql_count, 4,
		(const char *const[]){k->id, wf_state_name(&wf_phone, WF_PHONE_AWAITING_CODE), k->hash,
				      k->failures},
		1);
	ob_commit(&ob, k->c->hr->app->db, on_counted, k);
}

static int digits(const char *s)
{
	size_t n;

	for (n = 0; s[n]; n++)
		if (s[n] < '0' || s[n] > '9')
			return 0;
	return n >= SECRET_PIN_MIN_DIGITS && n <= SECRET_PIN_MAX_DIGITS;
}

static void confirm(struct sg_call *c)
{
	struct conf *k = calloc(1, sizeof(*k));
	const char *user, *code;
	struct ra_err e = {0};
	char open[96];

	if (k == NULL)
		abort();
	k->c = c;
	k->max = (int)cfg_int(c->hr->app->cfg, "signing.phone_code_max_tries");
	/* the code is a secret: our copy first, then jansson's and the raw body's are wiped */
	code = json_string_value(json_object_get(c->body, "code"));
	if (code != NULL) {
		if (strlen(code) < sizeof(k->code))
			memcpy(k->code, code, strlen(code) + 1);
		OPENSSL_cleanse((char *)code, strlen(code));
	}
	if (c->hr->body)
		OPENSSL_cleanse((char *)c->hr->body, c->hr->body_len);
	if (sg_only_members(c->body, members, &e) != 0) {
		fail(k, RA_E_INVALID, e.field, "invalid", NULL, NULL, "%s", e.msg);
		return;
	}
	user = json_string_value(json_object_get(c->body, "user_id"));
	if (user == NULL || !userid_valid(user)) {
		fail(k, RA_E_INVALID, "user_id", "invalid", NULL, NULL,
		     "user_id must be a user ID (XXXX-XXXX-XXXX-XXXX)");
		return;
	}
	if (!digits(k->code)) {
		fail(k, RA_E_INVALID, "code", "invalid", NULL, NULL, "code must be the digits of the SMS");
		return;
	}
	snprintf(k->user, sizeof(k->user), "%s", user);
	ob_states(&wf_phone, 1u << WF_PHONE_AWAITING_PROOF | 1u << WF_PHONE_AWAITING_CODE, open,
		  sizeof(open));
	db_query(c->hr->app->db, sql_load, 2, (const char *const[]){k->user, open}, on_loaded, k);
}

void phone_confirm_route(struct http_req *hr)
{
	sg_start(hr, 0, confirm);
}
