/*
 * routes_admin_cert.c - the admin API on certificates: show, list, revoke (R14), re-key
 * (R12, R15), modify (R4, R15, R17) and single factor (R10).  Every change is decided by the
 * certificate or user machine (R19 for the acting support user included) in the transaction
 * that writes it; see routes_admin_int.h.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "ra/base/config.h"
#include "ra/base/duration.h"
#include "ca-bridge/cab.h"
#include "ra/flows/cert/cert.h"
#include "ra/flows/admin/routes_admin_int.h"
#include "workflows/wf_cert.h"
#include "workflows/wf_user.h"

/* A certificate by id or serial (serials are stored in upper-case hex). */
#define CERT_WHERE " WHERE c.id = $1 OR c.serial = upper($1)"
#define CERT_JSON                                                                                 \
	"(to_jsonb(c) - 'pem' - 'transport_pin_hash' || jsonb_build_object('transport_pin_set', " \
	"c.transport_pin_hash IS NOT NULL))"

static const char *sql_show = "SELECT (" CERT_JSON
			      " || CASE WHEN $2 = '1' THEN jsonb_build_object('pem', c.pem)"
			      " ELSE '{}'::jsonb END)::text FROM certificates c" CERT_WHERE;

/* $1 limit, $2 after (certificate id), $3 user (ID), $4 its E.164 form, $5 state, $6 class.  A
 * user that does not exist is 404; without a user every certificate.  Ordered by id. */
static const char *sql_list =
	"WITH u AS (SELECT public_id FROM users WHERE $3::text IS NOT NULL AND (public_id = $3 OR phone_e164 = $4)),"
	" page AS (SELECT x.*, row_number() OVER (ORDER BY x.id) AS rn FROM ("
	"  SELECT c.* FROM certificates c WHERE ($3::text IS NULL OR c.user_id = (SELECT public_id FROM u))"
	"  AND ($5::text IS NULL OR c.state = $5) AND ($6::text IS NULL OR c.class = $6)"
	"  AND ($2::text IS NULL OR c.id > $2) ORDER BY c.id LIMIT $1::int + 1) x)"
	" SELECT CASE WHEN $3::text IS NULL OR EXISTS (SELECT 1 FROM u) THEN jsonb_build_object("
	"  'user_id', (SELECT public_id FROM u), 'certificates', coalesce(jsonb_agg((to_jsonb(c) - 'pem' - 'rn'"
	"  - 'transport_pin_hash' || jsonb_build_object('transport_pin_set', c.transport_pin_hash IS NOT NULL))"
	"  ORDER BY c.rn) FILTER (WHERE c.rn <= $1::int), '[]'::jsonb), 'next', (SELECT q.id FROM page q"
	"  WHERE q.rn = $1::int AND EXISTS (SELECT 1 FROM page z WHERE z.rn > $1::int)))::text END FROM page c";

static const char *sql_load = "SELECT " CERT_JSON "::text FROM certificates c" CERT_WHERE " FOR UPDATE";

/* Certificates still usable whose notAfter is within $1 (an interval), soonest first. */
/* issued, active, superseding: a certificate the user can still use */
#define CERT_USABLE (1u << WF_CERT_ISSUED | 1u << WF_CERT_ACTIVE | 1u << WF_CERT_SUPERSEDING)

static const char *sql_expiring =
	"SELECT jsonb_build_object('expiring_within', $1::text, 'certificates', coalesce((SELECT jsonb_agg(x.j"
	" ORDER BY x.not_after, x.id) FROM (SELECT " CERT_JSON
	" AS j, c.not_after, c.id FROM certificates c"
	"  WHERE c.state = ANY($2::text[]) AND c.not_after <= now() + $1::interval"
	"  ORDER BY c.not_after, c.id LIMIT 1000) x), '[]'::jsonb))::text";

/* Renewal agreed outside the shop: the term end moves to $2 (the end of the day given, UTC),
 * recorded in renewals with the term end it had; term_ended_at cleared, so the end-of-term
 * policy applies again at the new end.  $3 actor, $4 reason. */
static const char *sql_renew =
	"WITH old AS (SELECT id, term_end FROM certificates WHERE id = $1),"
	" c AS (UPDATE certificates x SET term_end = ($2::date + 1)::timestamp AT TIME ZONE 'UTC', term_ended_at = NULL"
	"  FROM old WHERE x.id = old.id AND x.state = ANY($5::text[])"
	"  RETURNING x.id, x.term_end, old.term_end AS before)"
	" INSERT INTO renewals (source, key, certificate_id, old_term_end, new_term_end, actor, reason)"
	" SELECT 'support', gen_random_uuid()::text, c.id, c.before, c.term_end, $3, $4 FROM c";

static const char *sql_load_with_user =
	"SELECT jsonb_build_object('cert', " CERT_JSON
	", 'user', to_jsonb(u), 'user_has_qualified', EXISTS ("
	"  SELECT 1 FROM certificates q WHERE q.user_id = u.public_id AND q.class = 'qualified'"
	"  AND q.state = ANY($2::text[])))::text"
	" FROM certificates c JOIN users u ON u.public_id = c.user_id" CERT_WHERE " FOR UPDATE OF c, u";

/* For a replacement: the certificate plus the age in whole days of its user's verified
 * identification (R17; NULL when never verified), measured as intake measures reuse. */
static const char *sql_load_replace =
	"SELECT (" CERT_JSON
	" || jsonb_build_object('ident_age_days', (SELECT floor(extract(epoch FROM now()"
	" - u.ident_verified_at) / 86400)::int FROM users u WHERE u.public_id = c.user_id)))::text"
	" FROM certificates c" CERT_WHERE " FOR UPDATE OF c";

/* outbox (ra/db/outbox.h): $2 the new state, $3 the one decided from */
static const char *sql_supersede = "UPDATE certificates SET state = $2 WHERE id = $1 AND state = $3";

/* R15: the replacement carries the old one's identification, class, validity and key type,
 * but never its key (the new id is the new key's CKA_ID: R2); cert_issue revokes the old one
 * only once the new one is issued. */
static const char *sql_replacement =
	"INSERT INTO certificates (id, user_id, order_id, class, subject, validity_years, key_alg, ident_id,"
	" replaces, replace_reason)"
	" SELECT $2, user_id, order_id, class, coalesce($3::jsonb, subject), validity_years, key_alg, ident_id, id, $4"
	" FROM certificates WHERE id = $1";

static const char *sql_single =
	"UPDATE users SET state = $2, single_consent_ref = $4, single_consent_at = now(),"
	" app_registered = app_registered AND NOT $5::bool, updated_at = now() WHERE public_id = $1 AND state = $3";

static const char *jstr(const json_t *o, const char *k)
{
	return json_string_value(json_object_get(o, k));
}

static int class_of(const char *c)
{
	if (c == NULL)
		return WF_CLASS_NONE;
	if (strcmp(c, "qualified") == 0)
		return WF_CLASS_QUALIFIED;
	if (strcmp(c, "advanced") == 0)
		return WF_CLASS_ADVANCED;
	if (strcmp(c, "seal") == 0)
		return WF_CLASS_SEAL;
	return WF_CLASS_NONE;
}

static int subject_is_actor(const struct adm_req *ar, const json_t *cert)
{
	const char *uid = jstr(cert, "user_id");
	return ar->who.user_id[0] && uid && strcmp(uid, ar->who.user_id) == 0;
}

/* ---- reads ----------------------------------------------------------------------------- */

static void cert_show(struct adm_req *ar)
{
	char pem[8];
	const char *p[2] = {ar->id, "0"};

	if (adm_query(ar, "pem", pem, sizeof(pem)) && strcmp(pem, "1") == 0)
		p[1] = "1";
	adm_read(ar, sql_show, 2, p, "certificate");
}

static void cert_list(struct adm_req *ar)
{
	char user[64], e164[32] = "", limit[16], after[80], st[16], cl[16], within[32], iv[40];
	const char *off = NULL, *u = adm_query(ar, "user", user, sizeof(user)), *state, *klass = NULL;
	struct ra_err e = {0};
	int bad = 0;

	if (adm_query(ar, "expiring", within, sizeof(within)) != NULL) {
		char usable[96];
		const char *q[2] = {iv, ob_states(&wf_cert, CERT_USABLE, usable, sizeof(usable))};
		if (duration_interval(within, 0, iv, sizeof(iv)) != 0) {
			ra_err_set(&e, RA_E_INVALID, "expiring",
				   "?expiring= takes a duration such as 30d, 12h, 90min");
			adm_fail(ar, &e);
			return;
		}
		adm_read(ar, sql_expiring, 2, q, "certificate");
		return;
	}
	state = adm_choice(ar, "state",
			   "requested|key_generated|issued|active|superseding|revoked|expired|failed", st,
			   sizeof(st), &e, &bad);
	if (!bad)
		klass = adm_choice(ar, "class", "qualified|advanced|seal", cl, sizeof(cl), &e, &bad);
	if (bad || adm_page(ar, limit, sizeof(limit), after, sizeof(after), &off, &e) != 0) {
		adm_fail(ar, &e);
		return;
	}
	if (u)
		adm_phone(ar, u, e164, sizeof(e164));
	{
		const char *p[6] = {limit, off, u, e164, state, klass};
		adm_read(ar, sql_list, 6, p, "user");
	}
}

/* ---- revoke (R14) ---------------------------------------------------------------------- */

static int plan_revoke(struct adm_req *ar, json_t *c, struct ra_err *e)
{
	const char *state = jstr(c, "state"), *id = jstr(c, "id");
	const char *reason = ar->reason, *comment = adm_str(ar, "comment");
	struct wf_facts f = {0};
	struct wf_result r;

	if (comment == NULL)
		return ra_err_set(e, RA_E_INVALID, "comment", "a comment saying why is required");
	if (wf_state_parse(&wf_cert, state) == WF_CERT_REVOKED)
		return adm_refuse(e, RA_E_CONFLICT, "R14",
				  "certificate %s is already revoked (%s); revocation is final, "
				  "nothing changed",
				  id, jstr(c, "revocation_reason") ? jstr(c, "revocation_reason") : "?");
	f.actor_is_subject = subject_is_actor(ar, c);
	f.cert_class = class_of(jstr(c, "class"));
	f.revoke_reason = wf_reason_parse(reason);
	if (f.revoke_reason < 0)
		f.revoke_reason = -100; /* "none" is not a reason either */
	if (adm_wf(&wf_cert, state, WF_CERT_REVOKE, &f, &r, "certificate", e) != 0)
		return e->code;
	ar->reply = json_pack("{s:s, s:s?, s:s, s:s}", "certificate_id", id, "serial", jstr(c, "serial"),
			      "state", wf_state_name(&wf_cert, r.next_state), "reason", reason);
	if (cert_revoke_plan(&ar->ob, id, wf_state_parse(&wf_cert, state), &r, reason, ar->actor, comment,
			     jstr(c, "serial")) != 0)
		return ra_err_set(e, RA_E_INTERNAL, "", "too many statements in one operation");
	return 0;
}

static const struct adm_tx tx_revoke = {"certificate", plan_revoke};

static void cert_revoke(struct adm_req *ar)
{
	const char *p[1] = {ar->id};
	adm_tx_run(ar, &tx_revoke, sql_load, 1, p);
}

/* ---- renewal outside the shop (docs/lifecycle.md) ------------------------------------------ */

/* YYYY-MM-DD, a real date (PostgreSQL parses it again; this names the field). */
static int date_ok(const char *s)
{
	struct tm tm = {0};
	const char *end;

	if (s == NULL || strlen(s) != 10)
		return 0;
	end = strptime(s, "%Y-%m-%d", &tm);
	return end != NULL && *end == '\0' && tm.tm_year > 100;
}

static int plan_renew(struct adm_req *ar, json_t *c, struct ra_err *e)
{
	const char *state = jstr(c, "state"), *id = jstr(c, "id"), *until = adm_str(ar, "until");
	const char *term_end = jstr(c, "term_end");
	const char *p[5];
	char usable[96];
	int rc;

	if (!date_ok(until))
		return ra_err_set(e, RA_E_INVALID, "until",
				  "until must be a date YYYY-MM-DD (the last day of the term)");
	if (strcmp(state, "issued") != 0 && strcmp(state, "active") != 0 && strcmp(state, "superseding") != 0)
		return ra_err_set(e, RA_E_CONFLICT, "state",
				  "certificate %s is %s: only a usable certificate is renewed", id, state);
	if (term_end != NULL && strncmp(until, term_end, 10) < 0)
		return ra_err_set(e, RA_E_CONFLICT, "until",
				  "until %s is before the current term end %.10s: a renewal "
				  "extends the term",
				  until, term_end);
	p[0] = id;
	p[1] = until;
	p[2] = ar->actor;
	p[3] = ar->reason;
	p[4] = ob_states(&wf_cert, CERT_USABLE, usable, sizeof(usable));
	rc = adm_stmt(ar, sql_renew, 5, p);
	if (rc == 0)
		rc = adm_audit(ar, "cert.renewed", "certificate", id, ar->reason,
			       json_pack("{s:s, s:s?, s:s}", "source", "support", "term_end_before", term_end,
					 "until", until));
	ar->reply = json_pack("{s:s, s:s?, s:s}", "certificate_id", id, "term_end_before", term_end, "until",
			      until);
	return rc;
}

static const struct adm_tx tx_renew = {"certificate", plan_renew};

static void cert_renew(struct adm_req *ar)
{
	const char *p[1] = {ar->id};
	adm_tx_run(ar, &tx_renew, sql_load, 1, p);
}

/* ---- re-key and modification (R12, R15) ----------------------------------------------- */

/* The replacement's subject (modify), built once the workflow allowed the step, so that its rules
 * (the state, R19, R17, R4) answer before the request's details; NULL and e filled when refused. */
typedef json_t *(*new_subject_fn)(struct adm_req *ar, const json_t *c, struct ra_err *e);

/* new_subject NULL: the replacement keeps the old certificate's subject (re-key). */
static int replace(struct adm_req *ar, json_t *c, int event, new_subject_fn new_subject, const char *why,
		   struct ra_err *e)
{
	json_t *subject = NULL;
	const char *id = jstr(c, "id");
	struct wf_facts f = {0};
	struct wf_result r;
	char nid[40], *subj = NULL, key[64];
	const char *p[4];
	int rc = 0;

	f.actor_is_subject = subject_is_actor(ar, c);
	f.cert_class = f.key_class = class_of(jstr(c, "class"));
	f.replacement_same_key = 0; /* the replacement's key is generated under its own new id */
	/* R17: the replacement carries the old identification, so it must still be recent enough */
	f.has_prior_ident = json_is_integer(json_object_get(c, "ident_age_days"));
	f.ident_age_days =
		f.has_prior_ident ? (int)json_integer_value(json_object_get(c, "ident_age_days")) : -1;
	f.ident_reuse_max_days = (int)cfg_int(ar->hr->app->cfg, "ident.reuse_days");
	rc = adm_wf(&wf_cert, jstr(c, "state"), event, &f, &r, "certificate", e);
	if (rc != 0)
		return rc;
	if (new_subject != NULL && (subject = new_subject(ar, c, e)) == NULL)
		return e->code;
	adm_new_cert_id(nid, sizeof(nid));
	if (subject)
		subj = json_dumps(subject, JSON_COMPACT);
	p[0] = id;
	p[1] = nid;
	p[2] = subj;
	p[3] = why;
	snprintf(key, sizeof(key), "cert_issue:%s", nid);
	if (ob_step(&ar->ob, sql_supersede, &wf_cert, wf_state_parse(&wf_cert, jstr(c, "state")), &r, id, 0,
		    NULL) < 0)
		rc = ra_err_set(&ar->err, RA_E_INTERNAL, "", "too many statements in one operation");
	if (rc == 0)
		rc = adm_stmt(ar, sql_replacement, 4, p);
	if (rc == 0)
		ob_job(&ar->ob, &(struct ob_job){.kind = "cert_issue",
						 .payload = json_pack("{s:s}", "certificate_id", nid),
						 .key = key});
	if (rc == 0)
		rc = adm_audit(ar, event == WF_CERT_REKEY ? "cert.rekey" : "cert.modify", "certificate", id,
			       ar->reason,
			       json_pack("{s:s, s:s, s:O?}", "replacement", nid, "revoke_when_issued", why,
					 "subject", subject));
	free(subj);
	json_decref(subject);
	if (rc) {
		*e = ar->err;
		return rc;
	}
	ar->reply = json_pack("{s:s, s:s, s:s, s:s}", "certificate_id", id, "state",
			      wf_state_name(&wf_cert, r.next_state), "replacement_id", nid, "old_revoked_as",
			      why);
	ar->status = 202; /* issuance runs as a job; the old one is revoked when it is done */
	return 0;
}

static int plan_rekey(struct adm_req *ar, json_t *c, struct ra_err *e)
{
	return replace(ar, c, WF_CERT_REKEY, NULL, "superseded", e);
}

static const struct adm_tx tx_rekey = {"certificate", plan_rekey};

static void cert_rekey(struct adm_req *ar)
{
	const char *p[1] = {ar->id};
	adm_tx_run(ar, &tx_rekey, sql_load_replace, 1, p);
}

/* 1 and e filled (naming the request's field) when the CA's profile would refuse subject:
 * refused here, nothing changes, instead of a replacement the CA fails later (R15). */
static int profile_refuses(const json_t *subject, const char *cls, struct ra_err *e)
{
	static const char *const fields[][2] = {{"subject.organization", "organisation"},
						{"subject.organization_identifier", "organisation_id"},
						{"subject.title", "function"}};
	struct cab_subject cs;
	struct cab_err ce = {0};
	enum cab_class c;
	const char *field;

	cert_subject_of(subject, &cs);
	if (cab_class_parse(cls, &c, &ce) == 0 && cab_subject_check(&cs, c, &ce) == 0)
		return 0;
	if (ce.code != CAB_E_PROFILE && ce.code != CAB_E_INVALID) {
		ra_err_set(e, RA_E_INTERNAL, "", "cannot check the subject against the profile: %s", ce.msg);
		return 1;
	}
	field = ce.field;
	for (size_t i = 0; i < sizeof(fields) / sizeof(fields[0]); i++)
		if (strcmp(ce.field, fields[i][0]) == 0)
			field = fields[i][1];
	ra_err_set(e, RA_E_INVALID, field, "the CA's certificate profile refuses it: %s", ce.msg);
	return 1;
}

/* The subject with the requested organisation/function; NULL and e filled when refused. */
static json_t *modified_subject(struct adm_req *ar, const json_t *old, const char *cls, struct ra_err *e)
{
	static const char *const names[] = {"given_name",  "surname",       "name",
					    "common_name", "serial_number", "country"};
	const char *org = adm_str(ar, "organisation"), *org_id = adm_str(ar, "organisation_id");
	const char *fn = adm_str(ar, "function");
	int none = adm_bool(ar, "no_organisation");
	json_t *s;

	for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++)
		if (json_object_get(ar->body, names[i])) {
			adm_refuse(e, RA_E_RULE, "R17",
				   "a change of name needs a fresh identification; order a new "
				   "certificate instead (changed names are always verified again)");
			return NULL;
		}
	if (none && (org || org_id || fn)) {
		ra_err_set(e, RA_E_INVALID, "no_organisation",
			   "no_organisation excludes organisation and function");
		return NULL;
	}
	s = json_deep_copy(old);
	if (none || org) {
		json_object_del(s, "organization");
		json_object_del(s, "organization_identifier"); /* it names the old organisation */
	}
	if (none)
		json_object_del(s, "title");
	if (org)
		json_object_set_new(s, "organization", json_string(org));
	if (org_id)
		json_object_set_new(s, "organization_identifier", json_string(org_id));
	if (fn)
		json_object_set_new(s, "title", json_string(fn));
	if ((json_object_get(s, "organization") == NULL) != (json_object_get(s, "title") == NULL)) {
		adm_refuse(e, RA_E_RULE, "R4",
			   "a certificate carries exactly one organisation and one function, or "
			   "neither (--organisation with --function, or --no-organisation)");
		json_decref(s);
		return NULL;
	}
	if (json_equal(s, old)) {
		ra_err_set(e, RA_E_INVALID, "organisation",
			   "nothing to change: the certificate already says this");
		json_decref(s);
		return NULL;
	}
	if (profile_refuses(s, cls, e)) {
		json_decref(s);
		return NULL;
	}
	return s;
}

static json_t *modify_subject(struct adm_req *ar, const json_t *c, struct ra_err *e)
{
	return modified_subject(ar, json_object_get(c, "subject"), jstr(c, "class"), e);
}

static int plan_modify(struct adm_req *ar, json_t *c, struct ra_err *e)
{
	return replace(ar, c, WF_CERT_MODIFY, modify_subject, "affiliationChanged", e);
}

static const struct adm_tx tx_modify = {"certificate", plan_modify};

static void cert_modify(struct adm_req *ar)
{
	const char *p[1] = {ar->id};
	adm_tx_run(ar, &tx_modify, sql_load_replace, 1, p);
}

/* ---- single factor (R10) --------------------------------------------------------------- */

static int plan_single(struct adm_req *ar, json_t *row, struct ra_err *e)
{
	json_t *c = json_object_get(row, "cert"), *u = json_object_get(row, "user");
	const char *uid = jstr(u, "public_id"), *consent = adm_str(ar, "consent_ref");
	int dereg = adm_bool(ar, "deregister_app");
	struct wf_facts f = {0};
	struct wf_result r;
	const char *next;
	int rc = 0;

	if (adm_not_self(ar, uid, e) != 0)
		return e->code;
	f.cert_class = class_of(jstr(c, "class"));
	f.has_consent_ref = consent != NULL;
	f.user_has_qualified = json_is_true(json_object_get(row, "user_has_qualified"));
	f.app_registered = json_is_true(json_object_get(u, "app_registered")) && !dereg;
	if (adm_wf(&wf_user, jstr(u, "state"), WF_USER_FACTOR_SINGLE, &f, &r, "user", e) != 0)
		return e->code;
	next = wf_state_name(&wf_user, r.next_state);
	if (ob_step(&ar->ob, sql_single, &wf_user, wf_state_parse(&wf_user, jstr(u, "state")), &r, uid, 2,
		    (const char *const[]){consent, dereg ? "true" : "false"}) < 0)
		rc = ra_err_set(&ar->err, RA_E_INTERNAL, "", "too many statements in one operation");
	if (rc == 0)
		rc = adm_audit(ar, "user.factor_single", "user", uid, ar->reason,
			       json_pack("{s:s, s:s, s:s, s:s, s:b}", "certificate_id", jstr(c, "id"),
					 "consent_ref", consent, "from", jstr(u, "state"), "to", next,
					 "app_deregistered", dereg));
	if (rc) {
		*e = ar->err;
		return rc;
	}
	ar->reply = json_pack("{s:s, s:s, s:s}", "user_id", uid, "state", next, "consent_ref", consent);
	return 0;
}

static const struct adm_tx tx_single = {"certificate", plan_single};

static void cert_single(struct adm_req *ar)
{
	char live[128];
	const char *p[2] = {ar->id, ob_states(&wf_cert,
					      1u << WF_CERT_REQUESTED | 1u << WF_CERT_KEY_GENERATED |
						      1u << WF_CERT_ISSUED | 1u << WF_CERT_ACTIVE |
						      1u << WF_CERT_SUPERSEDING,
					      live, sizeof(live))};
	adm_tx_run(ar, &tx_single, sql_load_with_user, 2, p);
}

const struct adm_route adm_routes_cert[] = {
	{"GET", "/v1/admin/certs", "support", "admin_cert_list", cert_list},
	{"GET", "/v1/admin/certs/{id}", "support", "admin_cert_show", cert_show},
	{"POST", "/v1/admin/certs/{id}/revoke", "support", "admin_cert_revoke", cert_revoke},
	{"POST", "/v1/admin/certs/{id}/rekey", "support", "admin_cert_rekey", cert_rekey},
	{"POST", "/v1/admin/certs/{id}/modify", "support", "admin_cert_modify", cert_modify},
	{"POST", "/v1/admin/certs/{id}/renew", "support", "admin_cert_renew", cert_renew},
	{"POST", "/v1/admin/certs/{id}/single-factor", "support", "admin_cert_single_factor", cert_single},
	{NULL, NULL, NULL, NULL, NULL},
};
