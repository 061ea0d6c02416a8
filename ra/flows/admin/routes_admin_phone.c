/*
 * routes_admin_phone.c - the admin API of a change of a user's mobile number (R3, issue #17;
 * the wf_phone machine, workflows/wf_phone.h): start it, show it, approve its documented proof
 * (four eyes, R19) and cancel it.  The mobile number is the user's identity and where every
 * SMS goes, so a change is the SIM-swap attack: it completes only after its proof and after
 * the user confirmed a code sent to the NEW number (POST /v1/signing/phone-changes/confirm,
 * ra/flows/signing/phone_confirm.c); until then users.phone_e164, and so every SMS, stays the
 * old number.  The jobs it causes are in phone_jobs.c.
 */
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/rand.h>

#include "ra/base/config.h"
#include "ra/base/phone.h"
#include "ra/flows/admin/phone_jobs.h"
#include "ra/flows/admin/routes_admin_int.h"
#include "workflows/wf_phone.h"
#include "workflows/wf_user.h"

/* The user, locked; who else has the new number ($3), the user's open change and an open change
 * of anyone for the new number ($4: the open states), and the id the new change gets. */
static const char *sql_load_user =
	"SELECT (to_jsonb(u) || jsonb_build_object("
	" 'taken', EXISTS (SELECT 1 FROM users x WHERE x.phone_e164 = $3 AND x.id <> u.id),"
	" 'open_change', (SELECT p.id FROM phone_changes p WHERE p.user_id = u.id AND p.state = ANY($4::text[])),"
	" 'number_pending', EXISTS (SELECT 1 FROM phone_changes p WHERE p.new_e164 = $3 AND p.state = ANY($4::text[])),"
	" 'next_id', nextval('phone_changes_id_seq')"
	"))::text FROM users u WHERE u.public_id = $1 OR u.phone_e164 = $2 FOR UPDATE OF u";

static const char *sql_insert =
	"INSERT INTO phone_changes (id, user_id, old_e164, new_e164, proof, proof_ref, state, requested_by, reason,"
	" ident_tx) VALUES ($1::bigint, $2::bigint, $3, $4, $5, $6, $7, $8, $9, $10)";

/* A change as support sees it: never the code's hash, the user by user ID. */
#define PC_JSON                                                                                              \
	"(to_jsonb(p) - 'code_hash' - 'user_id' - 'id' || jsonb_build_object('phone_change_id', p.id::text," \
	" 'user_id', u.public_id, 'code_sent', p.code_sent_at IS NOT NULL))"

static const char *sql_show =
	"SELECT " PC_JSON
	"::text FROM phone_changes p JOIN users u ON u.id = p.user_id WHERE p.id = $1::bigint";

static const char *sql_load_pc =
	"SELECT " PC_JSON
	"::text FROM phone_changes p JOIN users u ON u.id = p.user_id WHERE p.id = $1::bigint"
	" FOR UPDATE OF p";

/* outbox (ra/db/outbox.h): $2 the new state, $3 the one decided from */
static const char *sql_approve =
	"UPDATE phone_changes SET state = $2, approved_by = $4, updated_at = now() WHERE id = $1::bigint AND state = $3";
static const char *sql_cancel =
	"UPDATE phone_changes SET state = $2, cancelled_by = $4, cancel_reason = $5, code_hash = NULL,"
	" updated_at = now() WHERE id = $1::bigint AND state = $3";

static const char *jstr(const json_t *o, const char *k)
{
	return json_string_value(json_object_get(o, k));
}

static const char *open_states(char *buf, size_t cap)
{
	return ob_states(&wf_phone, 1u << WF_PHONE_AWAITING_PROOF | 1u << WF_PHONE_AWAITING_CODE, buf, cap);
}

/* ---- start ----------------------------------------------------------------------------- */

struct start_in {
	char to[32]; /* E.164 */
	const char *proof, *document;
};

/* The body of a start, checked: the new number parsed and normalised as intake does (R3). */
static int start_input(const struct adm_req *ar, struct start_in *in, struct ra_err *e)
{
	const char *to = adm_str(ar, "to"), *cc = cfg_str(ar->hr->app->cfg, "default_country");
	int rc;

	memset(in, 0, sizeof(*in));
	in->proof = adm_str(ar, "proof");
	in->document = adm_str(ar, "document");
	if (to == NULL)
		return ra_err_set(e, RA_E_INVALID, "to", "to (the new mobile number) is required");
	rc = phone_normalize(to, cc ? cc : "AT", in->to, sizeof(in->to), NULL);
	if (rc != 0)
		return ra_err_set(e, RA_E_INVALID, "to", "to is not a mobile number: %s", phone_strerror(rc));
	if (in->proof == NULL ||
	    (strcmp(in->proof, "video_ident") != 0 && strcmp(in->proof, "four_eyes") != 0))
		return ra_err_set(e, RA_E_INVALID, "proof", "proof must be video_ident or four_eyes");
	if (strcmp(in->proof, "four_eyes") == 0 && in->document == NULL)
		return ra_err_set(
			e, RA_E_INVALID, "document",
			"four_eyes needs document: the proof support holds and where it is filed, for the "
			"second support user to check");
	return 0;
}

static int refuse_number(const struct start_in *in, json_t *u, struct ra_err *e)
{
	const char *uid = jstr(u, "public_id");
	json_int_t open = json_integer_value(json_object_get(u, "open_change"));

	if (strcmp(jstr(u, "phone_e164"), in->to) == 0)
		return ra_err_set(e, RA_E_RULE, "to", "%s is already the mobile number of %s", in->to, uid);
	if (json_is_true(json_object_get(u, "taken")))
		return ra_err_set(e, RA_E_CONFLICT, "to",
				  "R3: %s is the mobile number of another user (one number, one user)",
				  in->to);
	if (json_is_true(json_object_get(u, "number_pending")))
		return ra_err_set(e, RA_E_CONFLICT, "to",
				  "R3: an open phone change of another user asks for %s already", in->to);
	if (open > 0)
		return ra_err_set(e, RA_E_CONFLICT, "state",
				  "user %s has an open phone change (%lld): one at a time, cancel it first",
				  uid, (long long)open);
	return 0;
}

static int new_tx(const char *id, char *tx, size_t cap, struct ra_err *e)
{
	unsigned char rnd[8];
	size_t n;

	if (RAND_bytes(rnd, sizeof(rnd)) != 1)
		return ra_err_set(e, RA_E_INTERNAL, "", "no randomness");
	/* the change's own transaction number at the ident provider (orders have theirs) */
	n = (size_t)snprintf(tx, cap, "RA-PC-%s-", id);
	for (size_t i = 0; i < sizeof(rnd) && n + 2 < cap; i++, n += 2)
		snprintf(tx + n, cap - n, "%02X", rnd[i]);
	return 0;
}

static int plan_start(struct adm_req *ar, json_t *u, struct ra_err *e)
{
	const char *uid = jstr(u, "public_id"), *old = jstr(u, "phone_e164");
	char id[24], uidn[24], tx[64] = "";
	struct start_in in;
	int video;

	if (start_input(ar, &in, e) != 0 || adm_not_self(ar, uid, e) != 0)
		return e->code;
	if (wf_is_final(&wf_user, wf_state_parse(&wf_user, jstr(u, "state"))) == 1)
		return ra_err_set(e, RA_E_CONFLICT, "state", "user %s is %s: nothing changed", uid,
				  jstr(u, "state"));
	if (refuse_number(&in, u, e) != 0)
		return e->code;
	snprintf(id, sizeof(id), "%lld", (long long)json_integer_value(json_object_get(u, "next_id")));
	snprintf(uidn, sizeof(uidn), "%lld", (long long)json_integer_value(json_object_get(u, "id")));
	video = strcmp(in.proof, "video_ident") == 0;
	if (video && new_tx(id, tx, sizeof(tx), e) != 0)
		return e->code;
	if (adm_stmt(ar, sql_insert, 10,
		     (const char *const[]){id, uidn, old, in.to, in.proof, in.document,
					   wf_state_name(&wf_phone, WF_PHONE_AWAITING_PROOF), ar->actor,
					   ar->reason, video ? tx : NULL}) != 0) {
		*e = ar->err;
		return e->code;
	}
	if (video) {
		char key[64];
		snprintf(key, sizeof(key), "phone_ident:%s", id);
		ob_job(&ar->ob, &(struct ob_job){.kind = PHONE_JOB_IDENT,
						 .payload = json_pack("{s:s}", "phone_change_id", id),
						 .key = key});
	}
	if (adm_audit(ar, "phone_change.requested", "phone_change", id, ar->reason,
		      json_pack("{s:s, s:s, s:s, s:s, s:s?, s:s?}", "user_id", uid, "old_e164", old,
				"new_e164", in.to, "proof", in.proof, "document", in.document,
				"transactionnumber", video ? tx : NULL)) != 0 ||
	    adm_audit(ar, "user.phone_change_requested", "user", uid, ar->reason,
		      json_pack("{s:s, s:s}", "phone_change_id", id, "proof", in.proof)) != 0) {
		*e = ar->err;
		return e->code;
	}
	ar->reply = json_pack("{s:s, s:s, s:s, s:s, s:s, s:s}", "phone_change_id", id, "user_id", uid,
			      "old_e164", old, "new_e164", in.to, "proof", in.proof, "state",
			      wf_state_name(&wf_phone, WF_PHONE_AWAITING_PROOF));
	ar->status = 201;
	return 0;
}

static const struct adm_tx tx_start = {"user", plan_start};

static void pc_start(struct adm_req *ar)
{
	char e164[32], open[96];
	struct start_in in;
	struct ra_err e = {0};

	if (start_input(ar, &in, &e) != 0) { /* before anything is read: nothing changes */
		adm_fail(ar, &e);
		return;
	}
	adm_phone(ar, ar->id, e164, sizeof(e164));
	adm_tx_run(ar, &tx_start, sql_load_user, 4,
		   (const char *const[]){ar->id, e164, in.to, open_states(open, sizeof(open))});
}

/* ---- show, approve (four eyes, R19), cancel --------------------------------------------- */

/* A change id is digits; anything else names no change (404, as an unknown one). */
static int pc_id_ok(struct adm_req *ar)
{
	size_t n = strlen(ar->id);

	for (size_t i = 0; i < n; i++)
		if (!isdigit((unsigned char)ar->id[i]))
			n = 0;
	if (n == 0 || n > 18) {
		adm_fail(ar, &(struct ra_err){
				     .code = RA_E_NOTFOUND, .field = "id", .msg = "no such phone change"});
		return 0;
	}
	return 1;
}

static void pc_show(struct adm_req *ar)
{
	if (pc_id_ok(ar))
		adm_read(ar, sql_show, 1, (const char *const[]){ar->id}, "phone change");
}

static int plan_approve(struct adm_req *ar, json_t *p, struct ra_err *e)
{
	const char *id = jstr(p, "phone_change_id"), *state = jstr(p, "state"), *uid = jstr(p, "user_id");
	struct wf_facts f = {0};
	struct wf_result r;
	char key[64];

	if (strcmp(jstr(p, "proof"), "four_eyes") != 0 &&
	    wf_state_parse(&wf_phone, state) == WF_PHONE_AWAITING_PROOF)
		return ra_err_set(
			e, RA_E_CONFLICT, "proof",
			"phone change %s rests on a video identification: its result is the proof, no "
			"support user approves it",
			id);
	/* R19: neither the subject nor the one who opened the change approves its proof */
	f.actor_is_subject = ar->who.user_id[0] && strcmp(ar->who.user_id, uid) == 0;
	f.actor_opened_review = strcmp(jstr(p, "requested_by"), ar->actor) == 0;
	if (adm_wf(&wf_phone, state, WF_PHONE_APPROVE, &f, &r, "phone change", e) != 0)
		return e->code;
	snprintf(key, sizeof(key), "phone_code:%s", id);
	if (ob_step(&ar->ob, sql_approve, &wf_phone, WF_PHONE_AWAITING_PROOF, &r, id, 1,
		    (const char *const[]){ar->actor}) < 0) {
		*e = ar->err;
		return e->code;
	}
	/* WF_ACT_SEND_PHONE_CODE: the code to the NEW number, by the durable phone_sms job */
	ob_job(&ar->ob,
	       &(struct ob_job){.kind = PHONE_JOB_SMS,
				.payload = json_pack("{s:s, s:s}", "phone_change_id", id, "what", "code"),
				.key = key});
	if (adm_audit(ar, "phone_change.approved", "phone_change", id, ar->reason,
		      json_pack("{s:s, s:s, s:s?, s:s}", "user_id", uid, "requested_by",
				jstr(p, "requested_by"), "document", jstr(p, "proof_ref"), "next",
				wf_state_name(&wf_phone, r.next_state))) != 0) {
		*e = ar->err;
		return e->code;
	}
	ar->reply = json_pack("{s:s, s:s, s:s, s:s}", "phone_change_id", id, "user_id", uid, "state",
			      wf_state_name(&wf_phone, r.next_state), "approved_by", ar->actor);
	ar->status = 202; /* the code goes out by SMS as a job */
	return 0;
}

static int plan_cancel(struct adm_req *ar, json_t *p, struct ra_err *e)
{
	const char *id = jstr(p, "phone_change_id"), *state = jstr(p, "state"), *uid = jstr(p, "user_id");
	struct wf_result r;

	if (adm_not_self(ar, uid, e) != 0 ||
	    adm_wf(&wf_phone, state, WF_PHONE_CANCEL, NULL, &r, "phone change", e) != 0)
		return e->code;
	if (ob_step(&ar->ob, sql_cancel, &wf_phone, wf_state_parse(&wf_phone, state), &r, id, 2,
		    (const char *const[]){ar->actor, ar->reason}) < 0 ||
	    adm_audit(ar, "phone_change.cancelled", "phone_change", id, ar->reason,
		      json_pack("{s:s, s:s, s:s}", "user_id", uid, "from", state, "new_e164",
				jstr(p, "new_e164"))) != 0) {
		*e = ar->err;
		return e->code;
	}
	ar->reply = json_pack("{s:s, s:s, s:s, s:s}", "phone_change_id", id, "user_id", uid, "state",
			      wf_state_name(&wf_phone, r.next_state), "phone_e164", jstr(p, "old_e164"));
	return 0;
}

static const struct adm_tx tx_approve = {"phone change", plan_approve};
static const struct adm_tx tx_cancel = {"phone change", plan_cancel};

static void pc_approve(struct adm_req *ar)
{
	if (pc_id_ok(ar))
		adm_tx_run(ar, &tx_approve, sql_load_pc, 1, (const char *const[]){ar->id});
}

static void pc_cancel(struct adm_req *ar)
{
	if (pc_id_ok(ar))
		adm_tx_run(ar, &tx_cancel, sql_load_pc, 1, (const char *const[]){ar->id});
}

const struct adm_route adm_routes_phone[] = {
	{"POST", "/v1/admin/users/{id}/phone-change", "support", "admin_phone_change_start", pc_start},
	{"GET", "/v1/admin/phone-changes/{id}", "support", "admin_phone_change_show", pc_show},
	{"POST", "/v1/admin/phone-changes/{id}/approve", "support", "admin_phone_change_approve", pc_approve},
	{"POST", "/v1/admin/phone-changes/{id}/cancel", "support", "admin_phone_change_cancel", pc_cancel},
	{NULL, NULL, NULL, NULL, NULL},
};
