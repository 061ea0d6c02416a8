/*
 * routes_admin_user.c - the admin API on users: show (factor, lock state, certificates, open
 * orders, an open phone change), unlock (R13), new TransportPIN (R11) and second factor (R9).  A support user never
 * acts on their own account (R19).  Users are named by user ID or mobile number (R3).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/rand.h>

#include "ra/base/config.h"
#include "ra/base/phone.h"
#include "ra/flows/admin/routes_admin_int.h"
#include "workflows/wf_cert.h"
#include "workflows/wf_order.h"
#include "workflows/wf_phone.h"
#include "workflows/wf_user.h"

#define USER_WHERE " WHERE u.public_id = $1 OR u.phone_e164 = $2"

static const char *sql_show =
	"SELECT (to_jsonb(u) - 'id' || jsonb_build_object("
	" 'user_id', u.public_id,"
	" 'factor', nullif(split_part(u.state, '_', 2), ''),"
	" 'locked', u.state LIKE 'locked%',"
	" 'certificates', coalesce((SELECT jsonb_agg(jsonb_build_object('id', c.id, 'class', c.class, 'state', c.state,"
	"   'serial', c.serial, 'organisation', c.subject->>'organization', 'function', c.subject->>'title',"
	"   'not_after', c.not_after, 'replaces', c.replaces, 'revocation_reason', c.revocation_reason,"
	"   'activated_at', c.activated_at, 'wrong_transport_pins', c.transport_pin_failures,"
	"   'transport_pin_blocked', c.transport_pin_blocked_at IS NOT NULL, 'term_end', c.term_end,"
	"   'term_ended_at', c.term_ended_at, 'reminders_sent', coalesce((SELECT jsonb_agg(jsonb_build_object("
	"    'kind', r.kind, 'offset_s', r.offset_s, 'due_at', r.due_at, 'sent_at', r.sent_at) ORDER BY r.sent_at)"
	"    FROM cert_reminders r WHERE r.certificate_id = c.id), '[]'::jsonb))"
	"   ORDER BY c.created_at, c.id) FROM certificates c WHERE c.user_id = u.public_id), '[]'::jsonb),"
	" 'open_orders', coalesce((SELECT jsonb_agg(jsonb_build_object('id', o.id, 'shop_order_id', o.shop_order_id,"
	"   'state', o.state, 'contract_number', o.contract_number, 'created_at', o.created_at) ORDER BY o.id)"
	"   FROM orders o WHERE o.user_id = u.id AND NOT o.state = ANY($3::text[])), '[]'::jsonb),"
	/* R3: an open change of the mobile number (docs/phone-change.md), or null */
	" 'phone_change', (SELECT jsonb_build_object('phone_change_id', p.id::text, 'state', p.state, 'new_e164',"
	"   p.new_e164, 'proof', p.proof, 'requested_by', p.requested_by, 'created_at', p.created_at)"
	"   FROM phone_changes p WHERE p.user_id = u.id AND p.state = ANY($4::text[]))"
	"))::text FROM users u" USER_WHERE;

/* issued: the certificates awaiting activation; pending: those whose TransportPIN is still
 * on its way (transport_pin_deliveries, tpin.c). */
static const char *sql_load =
	"SELECT (to_jsonb(u) || jsonb_build_object("
	" 'issued', coalesce((SELECT jsonb_agg(c.id ORDER BY c.id) FROM certificates c"
	"  WHERE c.user_id = u.public_id AND c.state = $3), '[]'::jsonb),"
	" 'pending', coalesce((SELECT jsonb_agg(c.id ORDER BY c.id) FROM certificates c"
	"  JOIN transport_pin_deliveries d ON d.certificate_id = c.id"
	"  WHERE c.user_id = u.public_id AND c.state = $3 AND d.sent_at IS NULL), '[]'::jsonb)"
	"))::text FROM users u" USER_WHERE " FOR UPDATE OF u";

/* outbox (ra/db/outbox.h): $2 the new state, $3 the one decided from */
static const char *sql_unlock =
	"UPDATE users SET state = $2, locked_at = NULL, updated_at = now() WHERE public_id = $1 AND state = $3";

static const char *sql_factor =
	"UPDATE users SET state = $2, app_registered = $4::bool, updated_at = now() WHERE public_id = $1 AND state = $3";

/* R11: the old PIN stops working now; the transport_pin job (tpin.c) makes, stores and sends
 * a new one once the delivered one is out of its way (it delivers once per certificate).  The
 * new PIN gets the full number of tries: the count of wrong ones and a block end here (R20). */
static const char *sql_pin_clear =
	"WITH d AS (DELETE FROM transport_pin_deliveries WHERE certificate_id = $1 AND sent_at IS NOT NULL)"
	" UPDATE certificates SET transport_pin_hash = NULL, transport_pin_failures = 0, transport_pin_blocked_at = NULL"
	" WHERE id = $1 AND state = $2";

static const char *jstr(const json_t *o, const char *k)
{
	return json_string_value(json_object_get(o, k));
}

void adm_phone(const struct adm_req *ar, const char *in, char *e164, size_t cap)
{
	const char *cc = cfg_str(ar->hr->app->cfg, "default_country");

	if (phone_normalize(in, cc ? cc : "AT", e164, cap, NULL) != 0)
		e164[0] = '\0';
}

static void user_params(struct adm_req *ar, char *e164, size_t cap, const char *p[2])
{
	adm_phone(ar, ar->id, e164, cap);
	p[0] = ar->id;
	p[1] = e164;
}

static void user_show(struct adm_req *ar)
{
	char e164[32];
	const char *p[4];
	char final[96], open[96];

	user_params(ar, e164, sizeof(e164), p);
	p[2] = ob_states(&wf_order,
			 1u << WF_ORDER_ISSUED | 1u << WF_ORDER_REJECTED | 1u << WF_ORDER_CANCELLED, final,
			 sizeof(final));
	p[3] = ob_states(&wf_phone, 1u << WF_PHONE_AWAITING_PROOF | 1u << WF_PHONE_AWAITING_CODE, open,
			 sizeof(open));
	adm_read(ar, sql_show, 4, p, "user");
}

/* ---- unlock (R13) ---------------------------------------------------------------------- */

static int plan_unlock(struct adm_req *ar, json_t *u, struct ra_err *e)
{
	const char *uid = jstr(u, "public_id"), *next;
	struct wf_facts f = {0};
	struct wf_result r;

	if (adm_not_self(ar, uid, e) != 0)
		return e->code;
	f.pin_reset_requested = adm_bool(ar, "reset_pin");
	if (adm_wf(&wf_user, jstr(u, "state"), WF_USER_UNLOCK, &f, &r, "user", e) != 0)
		return e->code;
	next = wf_state_name(&wf_user, r.next_state);
	if (ob_step(&ar->ob, sql_unlock, &wf_user, wf_state_parse(&wf_user, jstr(u, "state")), &r, uid, 0,
		    NULL) < 0 ||
	    adm_audit(ar, "user.unlocked", "user", uid, ar->reason,
		      json_pack("{s:s, s:s, s:b}", "from", jstr(u, "state"), "to", next,
				"activation_pin_kept", 1)) != 0) {
		*e = ar->err;
		return e->code;
	}
	ar->reply = json_pack("{s:s, s:s, s:b}", "user_id", uid, "state", next, "activation_pin_kept", 1);
	return 0;
}

/* ---- second factor (R9) ---------------------------------------------------------------- */

static int plan_factor(struct adm_req *ar, json_t *u, struct ra_err *e)
{
	const char *uid = jstr(u, "public_id"), *want = adm_str(ar, "factor"), *next;
	int dereg = adm_bool(ar, "deregister_app"), event, app_after;
	struct wf_facts f = {0};
	struct wf_result r;

	if (want && strcmp(want, "sms") == 0)
		event = WF_USER_FACTOR_SMS;
	else if (want && strcmp(want, "app") == 0)
		event = WF_USER_FACTOR_APP;
	else
		return ra_err_set(e, RA_E_INVALID, "factor", "factor must be 'sms' or 'app'");
	if (adm_not_self(ar, uid, e) != 0)
		return e->code;
	/* R9: SMS only once the app is de-registered; support confirms that with deregister_app */
	f.app_registered = json_is_true(json_object_get(u, "app_registered")) && !dereg;
	if (adm_wf(&wf_user, jstr(u, "state"), event, &f, &r, "user", e) != 0)
		return e->code;
	next = wf_state_name(&wf_user, r.next_state);
	app_after = event == WF_USER_FACTOR_APP; /* registering the app stops SMS, and back */
	if (ob_step(&ar->ob, sql_factor, &wf_user, wf_state_parse(&wf_user, jstr(u, "state")), &r, uid, 1,
		    (const char *const[]){app_after ? "true" : "false"}) < 0 ||
	    adm_audit(ar, app_after ? "user.factor_app" : "user.factor_sms", "user", uid, ar->reason,
		      json_pack("{s:s, s:s, s:b}", "from", jstr(u, "state"), "to", next, "app_deregistered",
				dereg)) != 0) {
		*e = ar->err;
		return e->code;
	}
	ar->reply = json_pack("{s:s, s:s, s:s}", "user_id", uid, "state", next, "factor", want);
	return 0;
}

/* ---- new TransportPIN (R11) ------------------------------------------------------------ */

static int plan_pin(struct adm_req *ar, json_t *u, struct ra_err *e)
{
	const char *uid = jstr(u, "public_id");
	json_t *issued = json_object_get(u, "issued"), *pending = json_object_get(u, "pending"), *v;
	struct wf_result r;
	unsigned char rnd[8];
	char nonce[17];
	size_t i;

	if (adm_not_self(ar, uid, e) != 0)
		return e->code;
	if (json_array_size(issued) == 0)
		return adm_refuse(
			e, RA_E_CONFLICT, "R11",
			"no certificate of %s awaits activation: a TransportPIN is "
			"only of use before the ActivationPIN is set (lost ActivationPIN: re-key, R12)",
			uid);
	if (json_array_size(pending) > 0)
		return adm_refuse(e, RA_E_CONFLICT, "R11",
				  "the TransportPIN of %s is still being delivered; a second one "
				  "would race it: wait for the SMS (ractl jobs list) and ask again",
				  json_string_value(json_array_get(pending, 0)));
	if (RAND_bytes(rnd, sizeof(rnd)) != 1)
		return ra_err_set(e, RA_E_INTERNAL, "", "no randomness");
	for (i = 0; i < sizeof(rnd); i++)
		snprintf(nonce + 2 * i, 3, "%02x", rnd[i]);
	json_array_foreach (issued, i, v) {
		const char *cid = json_string_value(v),
			   *issued_name = wf_state_name(&wf_cert, WF_CERT_ISSUED);
		char key[160];
		if (adm_wf(&wf_cert, issued_name, WF_CERT_TRANSPORT_PIN_REISSUE, NULL, &r, "certificate",
			   e) != 0)
			return e->code;
		snprintf(key, sizeof(key), "transport_pin:%s:reissue:%s", cid, nonce);
		if (adm_stmt(ar, sql_pin_clear, 2, (const char *const[]){cid, issued_name}) != 0) {
			*e = ar->err;
			return e->code;
		}
		ob_job(&ar->ob, &(struct ob_job){.kind = "transport_pin",
						 .payload = json_pack("{s:s, s:b}", "certificate_id", cid,
								      "reissue", 1),
						 .key = key});
	}
	if (adm_audit(ar, "user.transport_pin_reissued", "user", uid, ar->reason,
		      json_pack("{s:O}", "certificates", issued)) != 0) {
		*e = ar->err;
		return e->code;
	}
	ar->reply = json_pack("{s:s, s:O}", "user_id", uid, "certificates", issued);
	ar->status = 202; /* the SMS goes out as a job */
	return 0;
}

static const struct adm_tx tx_unlock = {"user", plan_unlock};
static const struct adm_tx tx_factor = {"user", plan_factor};
static const struct adm_tx tx_pin = {"user", plan_pin};

static void run(struct adm_req *ar, const struct adm_tx *tx)
{
	char e164[32];
	const char *p[3];

	user_params(ar, e164, sizeof(e164), p);
	p[2] = wf_state_name(&wf_cert, WF_CERT_ISSUED);
	adm_tx_run(ar, tx, sql_load, 3, p);
}

static void user_unlock(struct adm_req *ar)
{
	run(ar, &tx_unlock);
}

static void user_factor(struct adm_req *ar)
{
	run(ar, &tx_factor);
}

static void user_pin(struct adm_req *ar)
{
	run(ar, &tx_pin);
}

const struct adm_route adm_routes_user[] = {
	{"GET", "/v1/admin/users/{id}", "support", "admin_user_show", user_show},
	{"POST", "/v1/admin/users/{id}/unlock", "support", "admin_user_unlock", user_unlock},
	{"POST", "/v1/admin/users/{id}/transport-pin", "support", "admin_user_transport_pin", user_pin},
	{"POST", "/v1/admin/users/{id}/factor", "support", "admin_user_factor", user_factor},
	{NULL, NULL, NULL, NULL, NULL},
};
