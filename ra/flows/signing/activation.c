/*
 * activation.c - POST /v1/signing/activations (R11, R12, R20; R9 for the user's factor).
 *
 * Body {"user_id", "credential_id", "transport_pin"}.  Steps:
 *   1. read the certificate and its user (one statement, no lock);
 *   2. decide with the certificate and user machines (workflows/): a replayed or late
 *      activation (already active, revoked, expired, not issued), a locked or closed user and
 *      a blocked TransportPIN are refused here, before any try is counted: nothing changes;
 *   3. count the try, in its own transaction, conditioned on the count read in 1 (so parallel
 *      attempts at one certificate take turns, and never more than the configured number are
 *      checked) and audited;
 *   4. check the PIN against the stored scrypt hash on the thread pool (constant time);
 *   5. right PIN: ONE transaction makes the certificate active, deletes the TransportPIN hash
 *      (single use), gives the counted try back, moves a pending user to active_sms (the first
 *      activation) and writes the audit records with the signing service as actor, each
 *      statement conditioned on what 2 decided on.  Wrong PIN: audited; the try stays counted,
 *      and the last allowed one blocks the TransportPIN until support issues a new one (R11).
 * An attempt counts before its PIN is checked, as a smart card decrements its retry counter
 * before it verifies: a crash between 3 and 5 costs the user a try, it never grants one.
 */
#include "ra/flows/signing/activation.h"

#include <openssl/crypto.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ra/base/config.h"
#include "ra/base/log.h"
#include "ra/base/pool.h"
#include "ra/base/secret.h"
#include "ra/base/userid.h"
#include "ra/db/db.h"
#include "ra/db/outbox.h"
#include "ra/flows/signing/signing_req.h"
#include "workflows/wf_cert.h"
#include "workflows/wf_user.h"

static const char *sql_load =
	"SELECT c.class, c.state, c.transport_pin_hash, c.transport_pin_failures,"
	" c.transport_pin_blocked_at IS NOT NULL, c.not_after IS NOT NULL AND c.not_after <= now(), u.state"
	" FROM certificates c JOIN users u ON u.public_id = c.user_id WHERE c.id = $1 AND u.public_id = $2";

/* 3: the try, counted only if nobody counted one since 1 read the count (compare and set) */
static const char *sql_count =
	"UPDATE certificates SET transport_pin_failures = transport_pin_failures + 1"
	" WHERE id = $1 AND state = $2 AND transport_pin_hash = $3 AND transport_pin_failures = $4::int"
	" AND transport_pin_blocked_at IS NULL";

/* 5, right PIN: active, the hash gone, the counted try given back */
static const char *sql_activate =
	"UPDATE certificates SET state = $2, activated_at = now(), transport_pin_hash = NULL,"
	" transport_pin_failures = transport_pin_failures - 1"
	" WHERE id = $1 AND state = $3 AND transport_pin_hash = $4 AND transport_pin_failures = $5::int";
static const char *sql_user_move =
	"UPDATE users SET state = $2, updated_at = now() WHERE public_id = $1 AND state = $3";
/* the user is still as decided on (not locked or closed meanwhile), and stays so until commit */
static const char *sql_user_still = "SELECT 1 FROM users WHERE public_id = $1 AND state = $2 FOR UPDATE";

/* 5, wrong PIN and the last try: blocked until support issues a new TransportPIN (R11) */
static const char *sql_block =
	"UPDATE certificates SET transport_pin_blocked_at = now()"
	" WHERE id = $1 AND transport_pin_hash = $2 AND transport_pin_blocked_at IS NULL";

static const char *const members[] = {"user_id", "credential_id", "transport_pin", NULL};

struct act {
	struct sg_call *c;
	char cred[72];
	char user[USERID_MAX];
	char pin[SECRET_PIN_MAX_DIGITS + 1];
	char hash[SECRET_PIN_HASH_MAX];
	char cstate[32], ustate[32];
	int cls; /* enum wf_class */
	int failures; /* as read in 1 */
	int attempt; /* this try's number: failures + 1 */
	int max; /* signing.transport_pin_max_tries */
	int first; /* the user's first activation: pending -> active_sms */
	int next_cert, next_user;
	int cs; /* the certificate's state as read in 1 */
	struct wf_result rc, ru; /* 2: the certificate's step, the user's (first activation) */
	int verdict; /* 4: 1 right, 0 wrong, < 0 the stored hash is malformed */
};

static void act_free(struct act *a)
{
	OPENSSL_cleanse(a->pin, sizeof(a->pin));
	OPENSSL_cleanse(a->hash, sizeof(a->hash));
	free(a);
}

static void fail(struct act *a, int code, const char *field, const char *reason, const char *rule,
		 json_t *extra, const char *fmt, ...) __attribute__((format(printf, 7, 8)));

static void fail(struct act *a, int code, const char *field, const char *reason, const char *rule,
		 json_t *extra, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	sg_failv(a->c, code, field, reason, rule, extra, fmt, ap);
	va_end(ap);
	act_free(a);
}

static void fail_err(struct act *a, const struct ra_err *err)
{
	sg_fail(a->c, err, NULL, NULL, NULL);
	act_free(a);
}

static int class_of(const char *c)
{
	if (strcmp(c, "qualified") == 0)
		return WF_CLASS_QUALIFIED;
	if (strcmp(c, "advanced") == 0)
		return WF_CLASS_ADVANCED;
	if (strcmp(c, "seal") == 0)
		return WF_CLASS_SEAL;
	return WF_CLASS_NONE;
}

/* The factor a user in state s approves signatures with (the factor is part of the state). */
static int factor_of(int s)
{
	switch (s) {
	case WF_USER_ACTIVE_SMS:
	case WF_USER_LOCKED_SMS:
		return WF_FACTOR_SMS;
	case WF_USER_ACTIVE_APP:
	case WF_USER_LOCKED_APP:
		return WF_FACTOR_APP;
	default:
		return WF_FACTOR_NONE;
	}
}

/* ---- 5. the outcome -------------------------------------------------------------------- */

static void on_activated(const int *rows, const struct ra_err *err, void *data)
{
	struct act *a = data;
	json_t *o;

	(void)rows;
	if (err && err->code == RA_E_CONFLICT) {
		/* revoked, or a new TransportPIN issued, while the PIN was checked: the try stays
		 * counted (it is audited), nothing else changed */
		fail(a, RA_E_CONFLICT, "credential_id", "changed_meanwhile", NULL, NULL,
		     "credential %s changed while its TransportPIN was checked: nothing activated", a->cred);
		return;
	}
	if (err) {
		fail_err(a, err);
		return;
	}
	log_info("signing.activated", "rid", a->c->hr->rid, "actor", a->c->actor, "certificate", a->cred,
		 "user", a->user, "first", a->first ? "yes" : "no", NULL);
	o = json_pack("{s:s, s:s, s:s, s:s, s:b}", "credential_id", a->cred, "user_id", a->user, "state",
		      wf_state_name(&wf_cert, a->next_cert), "user_state",
		      wf_state_name(&wf_user, a->next_user), "first_activation", a->first);
	sg_reply(a->c, 200, o);
	act_free(a);
}

static void activate(struct act *a)
{
	struct outbox ob = {0};
	char n[16];
	const char *next = wf_state_name(&wf_cert, a->next_cert),
		   *unext = wf_state_name(&wf_user, a->next_user);

	snprintf(n, sizeof(n), "%d", a->attempt);
	ob_step(&ob, sql_activate, &wf_cert, a->cs, &a->rc, a->cred, 2, (const char *const[]){a->hash, n});
	if (a->first) {
		ob_step(&ob, sql_user_move, &wf_user, WF_USER_PENDING, &a->ru, a->user, 0, NULL);
		/* R9, R20: the first activation puts the user on SMS, the number every user has */
		ob_audit(&ob, a->c->actor, "user.activated", "user", a->user,
			 "R20: first activation; SMS-TAN is the second factor (R9)",
			 json_pack("{s:s, s:s, s:s}", "from", a->ustate, "to", unext, "credential_id",
				   a->cred));
	} else {
		ob_stmt(&ob, sql_user_still, 2, (const char *const[]){a->user, a->ustate}, 1);
	}
	ob_audit(&ob, a->c->actor, "cert.activated", "certificate", a->cred,
		 "R20: activated with the TransportPIN; it is single use and its hash is deleted (R11)",
		 json_pack("{s:s, s:s, s:i, s:b}", "from", a->cstate, "to", next, "wrong_transport_pins",
			   a->attempt - 1, "activation_pin_at_ra", 0));
	ob_commit(&ob, a->c->hr->app->db, on_activated, a);
}

static void on_wrong_recorded(const int *rows, const struct ra_err *err, void *data)
{
	struct act *a = data;
	int left = a->max - a->attempt;

	(void)rows;
	if (err) {
		fail_err(a, err);
		return;
	}
	if (left <= 0) {
		fail(a, RA_E_RULE, "transport_pin", "wrong_transport_pin", "R20",
		     json_pack("{s:i}", "tries_left", 0),
		     "R20: wrong TransportPIN; that was the last of %d tries: the TransportPIN is blocked and "
		     "support issues a new one (R11)",
		     a->max);
		return;
	}
	fail(a, RA_E_RULE, "transport_pin", "wrong_transport_pin", "R20",
	     json_pack("{s:i}", "tries_left", left), "R20: wrong TransportPIN; %d of %d tries left", left,
	     a->max);
}

static void record_wrong(struct act *a)
{
	struct outbox ob = {0};
	int blocked = a->attempt >= a->max;

	ob_audit(&ob, a->c->actor, "cert.transport_pin_wrong", "certificate", a->cred,
		 "R20: wrong TransportPIN at activation",
		 json_pack("{s:i, s:i}", "attempt", a->attempt, "max", a->max));
	if (blocked) {
		/* not need_rows: a TransportPIN reissued meanwhile has a fresh count, nothing to block */
		ob_stmt(&ob, sql_block, 2, (const char *const[]){a->cred, a->hash}, 0);
		ob_audit(&ob, a->c->actor, "cert.transport_pin_blocked", "certificate", a->cred,
			 "R11: TransportPIN blocked after the last wrong try; support issues a new one",
			 json_pack("{s:i}", "wrong_transport_pins", a->attempt));
	}
	ob_commit(&ob, a->c->hr->app->db, on_wrong_recorded, a);
}

/* ---- 4. the PIN, on the thread pool ----------------------------------------------------- */

static void work_verify(void *data)
{
	struct act *a = data;

	/* scrypt is deliberately slow; secret_pin_verify compares in constant time */
	a->verdict = secret_pin_verify(a->pin, a->hash);
	OPENSSL_cleanse(a->pin, sizeof(a->pin));
}

static void after_verify(void *data)
{
	struct act *a = data;

	if (a->verdict == 1)
		activate(a);
	else if (a->verdict == 0)
		record_wrong(a);
	else
		fail(a, RA_E_INTERNAL, "transport_pin_hash", "internal", NULL, NULL,
		     "the stored TransportPIN hash of %s is malformed; support issues a new TransportPIN",
		     a->cred);
}

/* ---- 3. count the try ------------------------------------------------------------------ */

static void on_counted(const int *rows, const struct ra_err *err, void *data)
{
	struct act *a = data;

	(void)rows;
	if (err && err->code == RA_E_CONFLICT) {
		fail(a, RA_E_CONFLICT, "credential_id", "attempt_in_progress", NULL, NULL,
		     "another activation attempt of %s was counted meanwhile: nothing changed, try again",
		     a->cred);
		return;
	}
	if (err) {
		fail_err(a, err);
		return;
	}
	if (pool_run(a->c->hr->app->loop, work_verify, after_verify, a) != 0)
		fail(a, RA_E_INTERNAL, "", "internal", NULL, NULL, "cannot queue work");
}

static void count_try(struct act *a)
{
	struct outbox ob = {0};
	char n[16];

	snprintf(n, sizeof(n), "%d", a->failures);
	ob_stmt(&ob, sql_count, 4, (const char *const[]){a->cred, a->cstate, a->hash, n}, 1);
	ob_audit(&ob, a->c->actor, "cert.activation_attempt", "certificate", a->cred,
		 "R20: a TransportPIN try, counted before it is checked",
		 json_pack("{s:i, s:i}", "attempt", a->attempt, "max", a->max));
	ob_commit(&ob, a->c->hr->app->db, on_counted, a);
}

/* ---- 2. decide ------------------------------------------------------------------------- */

/* The certificate machine's refusal of `activate`, in words; a final or wrong state. */
static void refuse_cert(struct act *a, int cs, int rc, const struct wf_result *r)
{
	if (rc == WF_E_GUARD) {
		fail(a, RA_E_RULE, "credential_id", "second_factor_required", r->rule, NULL,
		     "%s: a qualified certificate needs a second factor (SMS or app); the user has single factor",
		     r->rule);
	} else if (cs == WF_CERT_ACTIVE || cs == WF_CERT_SUPERSEDING) {
		fail(a, RA_E_CONFLICT, "credential_id", "already_active", "R11", NULL,
		     "credential %s is activated already: a TransportPIN is single use, nothing changed",
		     a->cred);
	} else if (rc == WF_E_FINAL) {
		fail(a, RA_E_CONFLICT, "credential_id", a->cstate, NULL, NULL,
		     "credential %s is %s: it can never be activated, nothing changed", a->cred, a->cstate);
	} else {
		fail(a, RA_E_CONFLICT, "credential_id", "not_issued", NULL, NULL,
		     "credential %s is %s, not issued yet: nothing changed", a->cred, a->cstate);
	}
}

static int decide_user(struct act *a, int *factor)
{
	int us = wf_state_parse(&wf_user, a->ustate), rc;
	struct wf_result r;

	if (us < 0) {
		fail(a, RA_E_INTERNAL, "user_id", "internal", NULL, NULL, "user %s has an unknown state",
		     a->user);
		return -1;
	}
	if (us == WF_USER_LOCKED_SMS || us == WF_USER_LOCKED_APP || us == WF_USER_LOCKED_SINGLE) {
		fail(a, RA_E_CONFLICT, "user_id", "user_locked", "R13", NULL,
		     "R13: user %s is locked; support unlocks them first (ractl user unlock): nothing changed",
		     a->user);
		return -1;
	}
	if (wf_is_final(&wf_user, us) == 1) {
		fail(a, RA_E_CONFLICT, "user_id", "user_closed", NULL, NULL,
		     "user %s is closed: nothing changed", a->user);
		return -1;
	}
	a->next_user = us;
	if (us == WF_USER_PENDING) {
		rc = wf_step(&wf_user, us, WF_USER_ACTIVATE, NULL, &r);
		if (rc != 0) {
			fail(a, RA_E_INTERNAL, "user_id", "internal", NULL, NULL, "user machine: %s",
			     wf_strerror(rc));
			return -1;
		}
		a->next_user = r.next_state;
		a->ru = r;
		a->first = 1;
	}
	*factor = factor_of(a->next_user);
	return 0;
}

static void decide(struct act *a, int blocked, int expired)
{
	struct wf_facts f = {0};
	struct wf_result r;
	int cs = wf_state_parse(&wf_cert, a->cstate), rc;

	if (cs < 0) {
		fail(a, RA_E_INTERNAL, "credential_id", "internal", NULL, NULL,
		     "credential %s has an unknown state", a->cred);
		return;
	}
	if (expired && wf_is_final(&wf_cert, cs) != 1) {
		fail(a, RA_E_CONFLICT, "credential_id", "expired", NULL, NULL,
		     "credential %s is past its validity: it can never be activated, nothing changed",
		     a->cred);
		return;
	}
	if (decide_user(a, &f.second_factor) != 0)
		return;
	f.cert_class = a->cls;
	rc = wf_step(&wf_cert, cs, WF_CERT_ACTIVATE, &f, &r);
	if (rc != 0) {
		refuse_cert(a, cs, rc, &r);
		return;
	}
	a->next_cert = r.next_state;
	a->cs = cs;
	a->rc = r;
	if (a->hash[0] == '\0') {
		fail(a, RA_E_CONFLICT, "transport_pin", "no_transport_pin", "R11", NULL,
		     "R11: credential %s has no TransportPIN yet (its SMS is on the way, or support is issuing a new "
		     "one): nothing changed",
		     a->cred);
		return;
	}
	if (blocked || a->failures >= a->max) {
		fail(a, RA_E_CONFLICT, "transport_pin", "transport_pin_blocked", "R11",
		     json_pack("{s:i}", "tries_left", 0),
		     "R11: the TransportPIN of %s is blocked after %d wrong tries; support issues a new one "
		     "(ractl user transport-pin): nothing changed",
		     a->cred, a->failures);
		return;
	}
	a->attempt = a->failures + 1;
	count_try(a);
}

/* ---- 1. read --------------------------------------------------------------------------- */

static void on_loaded(PGresult *res, const struct ra_err *err, void *data)
{
	struct act *a = data;
	const char *hash;

	if (err) {
		fail_err(a, err);
		return;
	}
	if (PQntuples(res) != 1) {
		fail(a, RA_E_NOTFOUND, "credential_id", "unknown_credential", NULL, NULL,
		     "user %s has no credential %s", a->user, a->cred);
		return;
	}
	a->cls = class_of(PQgetvalue(res, 0, 0));
	snprintf(a->cstate, sizeof(a->cstate), "%s", PQgetvalue(res, 0, 1));
	hash = db_val(res, 0, 2);
	if (hash && strlen(hash) >= sizeof(a->hash)) {
		fail(a, RA_E_INTERNAL, "transport_pin_hash", "internal", NULL, NULL,
		     "stored TransportPIN hash too long");
		return;
	}
	snprintf(a->hash, sizeof(a->hash), "%s", hash ? hash : "");
	a->failures = atoi(PQgetvalue(res, 0, 3));
	snprintf(a->ustate, sizeof(a->ustate), "%s", PQgetvalue(res, 0, 6));
	decide(a, PQgetvalue(res, 0, 4)[0] == 't', PQgetvalue(res, 0, 5)[0] == 't');
}

/* ---- the request ----------------------------------------------------------------------- */

static int digits(const char *s)
{
	size_t n;

	for (n = 0; s[n]; n++)
		if (s[n] < '0' || s[n] > '9')
			return 0;
	return n >= SECRET_PIN_MIN_DIGITS && n <= SECRET_PIN_MAX_DIGITS;
}

/* The PIN is a secret: our copy is taken first, and jansson's and the raw body's copies (plain
 * malloc'd memory of this request) are wiped at once, whatever the answer will be. */
static void take_pin(struct act *a)
{
	struct sg_call *c = a->c;
	const char *pin = json_string_value(json_object_get(c->body, "transport_pin"));

	if (pin != NULL) {
		if (strlen(pin) < sizeof(a->pin))
			memcpy(a->pin, pin, strlen(pin) + 1);
		OPENSSL_cleanse((char *)pin, strlen(pin));
	}
	if (c->hr->body)
		OPENSSL_cleanse((char *)c->hr->body, c->hr->body_len);
}

static void activation(struct sg_call *c)
{
	struct act *a = calloc(1, sizeof(*a));
	const char *user, *cred;
	struct ra_err e = {0};

	if (a == NULL)
		abort();
	a->c = c;
	a->max = (int)cfg_int(c->hr->app->cfg, "signing.transport_pin_max_tries");
	take_pin(a);
	/* R12: the ActivationPIN is the signing service's alone; it must not even pass through */
	if (json_object_get(c->body, "activation_pin") || json_object_get(c->body, "activationPIN")) {
		fail(a, RA_E_INVALID, "activation_pin", "activation_pin_refused", "R12", NULL,
		     "R12: the ActivationPIN never reaches the RA; send only user_id, credential_id and transport_pin");
		return;
	}
	if (sg_only_members(c->body, members, &e) != 0) {
		fail(a, RA_E_INVALID, e.field, "invalid", NULL, NULL, "%s", e.msg);
		return;
	}
	user = json_string_value(json_object_get(c->body, "user_id"));
	cred = sg_plain(c->body, "credential_id", 64);
	if (user == NULL || !userid_valid(user)) {
		fail(a, RA_E_INVALID, "user_id", "invalid", NULL, NULL,
		     "user_id must be a user ID (XXXX-XXXX-XXXX-XXXX)");
		return;
	}
	if (cred == NULL) {
		fail(a, RA_E_INVALID, "credential_id", "invalid", NULL, NULL,
		     "credential_id must be a credential ID");
		return;
	}
	if (!digits(a->pin)) {
		fail(a, RA_E_INVALID, "transport_pin", "invalid", NULL, NULL,
		     "transport_pin must be %d to %d digits", SECRET_PIN_MIN_DIGITS, SECRET_PIN_MAX_DIGITS);
		return;
	}
	snprintf(a->user, sizeof(a->user), "%s", user);
	snprintf(a->cred, sizeof(a->cred), "%s", cred);
	{
		const char *p[] = {a->cred, a->user};
		db_query(c->hr->app->db, sql_load, 2, p, on_loaded, a);
	}
}

void activation_route(struct http_req *hr)
{
	sg_start(hr, 0, activation);
}
