/*
 * ca.c - CA bridge in the service: configuration, CRL and chain routes, issuance and
 * revocation jobs; see ca.h.  Blocking ca-bridge calls run through pool_run.
 */
#include "ra/db/db.h"
#include "ra/flows/cert/cert.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ca-bridge/cab.h"
#include "ra/net/http.h"
#include "ra/base/health.h"
#include "ra/jobs/jobs.h"
#include "ra/base/log.h"
#include "ra/base/metrics.h"
#include "ra/base/pool.h"
#include "ra/db/dbsync.h"
#include "ra/db/outbox.h"
#include "ra/flows/cert/crl_watch.h"
#include "ra/flows/cert/keyjobs.h"
#include "ra/flows/cert/order_issue.h"
#include "ra/flows/cert/tpin.h"
#include "ra/flows/cert/usermail.h"
#include "workflows/wf.h"
#include "workflows/wf_cert.h"

const char *const cert_sql_load = DB_PLAN_ONCE
	"SELECT id, class, state, subject::text, validity_years, key_alg, ident_id, serial, "
	"revocation_reason, extract(epoch FROM revoked_at)::bigint, "
	"key_storage, encode(key_blob, 'hex'), kek_label, kek_version, key_fingerprint, key_destroyed_at, "
	"replaces, replace_reason, "
	/* the version a new key is wrapped under (migration 0023; NULL: the token's highest) */
	"(SELECT max(version) FROM kek_versions WHERE label = $2) "
	"FROM certificates WHERE id = $1";

/* A wrapped key, stored before the certificate is requested from the CA (issue #15): a retried
 * job finds it here and never makes a second key.  R2: the unique fingerprint refuses a key
 * that serves another certificate.  requested -keygen_done-> key_generated (outbox: $1 id,
 * $2 the new state, $3 the old one). */
const char *const cert_sql_key_store = DB_PLAN_ONCE
	"UPDATE certificates SET state = $2, key_storage = 'wrapped', key_blob = decode($4, 'hex'), kek_label = $5,"
	"  kek_version = $6::int, key_fingerprint = $7"
	" WHERE id = $1 AND state = $3 AND key_blob IS NULL AND key_destroyed_at IS NULL"
	/* refused when a rotation committed after the job read its version (migration 0024) */
	"  AND kek_version_check($5, $8::int)";

/* Stores the issued certificate and revokes the one it replaces (R15: only now that the new
 * one exists), each with its audit record and follow-up job: one outbox unit (ra/db/outbox.h;
 * $2 the new state, $3 the states it may come from).  Each returns its row's id and its audit
 * record's details; the new certificate's record comes first in the chain (R15). */
static const char *sql_store = DB_PLAN_ONCE
	"UPDATE certificates SET state = $2, serial = $4, key_fingerprint = $5, pem = $6,"
	"  not_before = to_timestamp($7::bigint), not_after = to_timestamp($8::bigint), issued_at = now(),"
	"  key_storage = coalesce(key_storage, $9)"
	" WHERE id = $1 AND state = ANY($3::text[])"
	" RETURNING id, jsonb_build_object('serial', $4::text, 'key_fingerprint', $5::text, 'replaces', replaces)::text";

/* Only for a certificate that replaces one (the row says which at load: replaces is set when
 * the request is made and never changes): $1 the old one, $4 the reason the replacement gave,
 * $5 the new one.  A row by its key, planned once (the join of the new row to the old one it
 * was before was planned for its values at every issuance, and found nothing for most). */
static const char *sql_replaced = DB_PLAN_ONCE
	"UPDATE certificates SET state = $2, revoked_at = now(),"
	"  revocation_reason = coalesce($4, 'superseded'), replaced_by = $5"
	" WHERE id = $1 AND state = ANY($3::text[])"
	" RETURNING id, jsonb_build_object('serial', serial, 'replaced_by', $5::text)::text, revocation_reason";

/* A request the CA or the profile refused for good, or one out of attempts: the certificate
 * fails (wf cert: issue_failed), and the one it was to replace goes back to active
 * (replacement_failed, R15: the user keeps a working certificate).  Support hears of it
 * through the dead job and the audit records. */
static const char *sql_failed = DB_PLAN_ONCE
	"UPDATE certificates SET state = $2, failure = $4 WHERE id = $1 AND state = ANY($3::text[]) RETURNING id";

/* $1 the certificate the failed one was to replace, $4 the failed one */
static const char *sql_restored = DB_PLAN_ONCE
	"UPDATE certificates SET state = $2 WHERE id = $1 AND state = ANY($3::text[])"
	" RETURNING id, jsonb_build_object('replacement', $4::text)::text";

/* outbox (ra/db/outbox.h): $2 the new state, $3 the one decided from */
static const char *sql_revoke = DB_PLAN_ONCE
	"UPDATE certificates SET state = $2, revoked_at = now(), revocation_reason = $4 WHERE id = $1 AND state = $3";

int cert_revoke_plan(struct outbox *ob, const char *id, int from, const struct wf_result *r,
		     const char *reason, const char *actor, const char *comment, const char *serial)
{
	char key[96];

	snprintf(key, sizeof(key), "ca_revoke:%s", id);
	if (ob_step(ob, sql_revoke, &wf_cert, from, r, id, 1, (const char *const[]){reason}) < 0)
		return RA_E_INTERNAL;
	ob_job(ob, &(struct ob_job){.kind = "ca_revoke",
				    .payload = json_pack("{s:s}", "certificate_id", id),
				    .key = key});
	ob_audit(ob, actor, "cert.revoked", "certificate", id, reason,
		 json_pack("{s:s?, s:s}", "serial", serial, "comment", comment));
	return 0;
}

static const char *sql_ca_revoked =
	DB_PLAN_ONCE "UPDATE certificates SET ca_revoked_at = now() WHERE id = $1 AND ca_revoked_at IS NULL";

/* ---- configuration ------------------------------------------------------------------ */

/* ca-bridge names its struct cab_config fields; errors name the RA's keys instead, so the
 * operator reads the key to fix (docs/ca-bridge.md "Configuration" lists the pairs). */
static const char *ra_key_for(const char *cab_field)
{
	static const struct {
		const char *cab, *ra;
	} keys[] = {
		{"ca.qcpds_url", "ca.pds_url"},
		{"ca.qcpds_lang", "ca.pds_lang"},
		{"ca.crl_validity_hours", "ca.crl_hours"},
		{"ca.advanced_ncp_plus", "ca.advanced_ncp"},
	};

	for (size_t i = 0; i < sizeof(keys) / sizeof(keys[0]); i++)
		if (strcmp(cab_field, keys[i].cab) == 0)
			return keys[i].ra;
	return cab_field[0] ? cab_field : "ca";
}

int cert_open_cab(const struct config *cfg, struct cab **out, struct ra_err *err)
{
	struct cab_config cc;
	struct cab_err ce = {0};

	cab_config_defaults(&cc);
	cc.backend = cfg_str(cfg, "ca.backend");
	cc.ca_dir = cfg_str(cfg, "ca.dir");
	cc.pkcs11_module = cfg_str(cfg, "pkcs11.module");
	cc.pkcs11_token = cfg_str(cfg, "pkcs11.token");
	cc.pkcs11_pin = cfg_str(cfg, "pkcs11.pin");
	cc.policy_oid = cfg_str(cfg, "ca.policy_oid");
	cc.qcpds_url = cfg_str(cfg, "ca.pds_url");
	cc.qcpds_lang = cfg_str(cfg, "ca.pds_lang");
	cc.key_alg = cfg_str(cfg, "ca.key_alg");
	cc.advanced_ncp_plus = !cfg_bool(cfg, "ca.advanced_ncp");
	cc.advanced_digital_signature = cfg_bool(cfg, "ca.advanced_digital_signature");
	cc.ca_subject = cfg_str(cfg, "ca.subject");
	cc.crl_url = cfg_str(cfg, "ca.crl_url");
	cc.crl_validity_hours = (int)cfg_int(cfg, "ca.crl_hours");
	cc.cmp_url = cfg_str(cfg, "cmp.url");
	cc.cmp_secret = cfg_str(cfg, "cmp.secret");
	cc.cmp_reference = cfg_str(cfg, "cmp.reference");
	cc.cmp_trusted = cfg_str(cfg, "cmp.trusted");
	cc.cmp_client_cert = cfg_str(cfg, "cmp.client_cert");
	cc.cmp_client_key = cfg_str(cfg, "cmp.client_key");
	cc.cmp_crl_url = cfg_str(cfg, "cmp.crl_url");
	cc.cmp_timeout_s = (int)cfg_int(cfg, "cmp.timeout_s");
	cc.key_storage = cfg_str(cfg, "pkcs11.key_storage");
	cc.kek_label = cfg_str(cfg, "pkcs11.kek_label");
	cc.pkcs11_sessions = (int)cfg_int(cfg, "pkcs11.sessions");
	*out = cab_open(&cc, &ce);
	if (*out == NULL && (ce.code == CAB_E_CA || ce.code == CAB_E_IO)) {
		/* Issue #19: the CA's record (or its directory) is damaged or unreadable.  That must
		 * not take intake and support down: serve without a CA, say so in /healthz and the
		 * metrics, and let issuance and revocation wait (their jobs are deferred, no
		 * attempt counted) until the record is repaired and ra restarted. */
		char why[300];

		snprintf(why, sizeof(why), "CA bridge: %s", ce.msg);
		log_error("ca.unhealthy", "error", why, NULL);
		health_set("ca", 0, why);
		ra_err_set(err, RA_E_UNAVAILABLE, ra_key_for(ce.field), "%s", why);
		return 1;
	}
	if (*out == NULL)
		return ra_err_set(err, RA_E_CONFIG, ra_key_for(ce.field), "CA bridge: %s", ce.msg);
	health_set("ca", 1, NULL);
	return 0;
}

static double g_sessions(void *data)
{
	struct cab_stats st;

	cab_stats(data, &st);
	return st.sessions;
}

static double g_sessions_used(void *data)
{
	struct cab_stats st;

	cab_stats(data, &st);
	return st.sessions_max_used;
}

static double g_searches(void *data)
{
	struct cab_stats st;

	cab_stats(data, &st);
	return (double)st.searches;
}

/* Start-up only, before the loop runs (blocking, like opening the token): the token's current
 * KEK version is recorded as the one new keys are wrapped under when the database has none for
 * the label (a KEK made before migration 0023, or this first start's own).  A rotation records
 * its version itself (`ra kek rotate`); a version the table has already is left alone, so a
 * rotation's record stays the switch-over point.  If this fails, keys are wrapped under the
 * token's highest version, found at each key generation, as before. */
static void kek_version_record(struct app *app, int version)
{
	char v[16];
	const char *p[2] = {cfg_str(app->cfg, "pkcs11.kek_label"), v};
	PGconn *c = db_connect_sync(cfg_str(app->cfg, "database_url"), 10000);
	PGresult *r = NULL;

	snprintf(v, sizeof(v), "%d", version);
	if (PQstatus(c) == CONNECTION_OK)
		r = PQexecParams(
			c,
			"INSERT INTO kek_versions (label, version) SELECT $1, $2::int WHERE NOT EXISTS"
			" (SELECT 1 FROM kek_versions WHERE label = $1) ON CONFLICT DO NOTHING",
			2, NULL, p, NULL, NULL, 0);
	if (r == NULL || PQresultStatus(r) != PGRES_COMMAND_OK)
		log_warn("kek.version_not_recorded", "error", r ? PQresultErrorMessage(r) : PQerrorMessage(c),
			 NULL);
	PQclear(r);
	PQfinish(c);
}

/* Start-up only, before the loop runs: opening the token may block here.  Wrapped storage
 * needs a KEK: the first start makes version 1 (pkcs11.kek_create), else it must exist. */
static int open_cab(struct app *app, struct ra_err *err)
{
	struct cab_err ce = {0};
	char v[16];
	int version = 0, rc;

	rc = cert_open_cab(app->cfg, &app->cab, err);
	if (rc != 0)
		return rc == 1 ? 0 : -1; /* 1: serving without a CA (unhealthy, see above) */
	metrics_gauge("ra_pkcs11_sessions", "Logged-in token sessions in the pool (pkcs11.sessions).", "",
		      g_sessions, app->cab);
	metrics_gauge("ra_pkcs11_sessions_max_used", "The most token sessions in use at once since start.",
		      "", g_sessions_used, app->cab);
	metrics_counter_fn(
		"ra_pkcs11_searches_total",
		"Token object searches (C_FindObjectsInit) since start; kept KEK handles save them.", "",
		g_searches, app->cab);
	if (!cab_wraps(app->cab))
		return 0;
	rc = cab_kek(app->cab, cfg_bool(app->cfg, "pkcs11.kek_create") ? CAB_KEK_CREATE : CAB_KEK_CURRENT,
		     &version, &ce);
	if (rc < 0) {
		cab_close(app->cab);
		app->cab = NULL;
		return ra_err_set(err, RA_E_CONFIG, "pkcs11.kek_label", "CA bridge: %s", ce.msg);
	}
	snprintf(v, sizeof(v), "%d", version);
	log_info(rc == 0 && cfg_bool(app->cfg, "pkcs11.kek_create") ? "kek.created" : "kek.current", "label",
		 cfg_str(app->cfg, "pkcs11.kek_label"), "version", v, NULL);
	kek_version_record(app, version);
	return 0;
}

/* ---- CRL and chain routes ------------------------------------------------------------ */

struct fetch {
	struct http_req *hr;
	struct cab *cab;
	int want_crl;
	unsigned char *der;
	char *pem;
	size_t len;
	struct cab_err err;
	int rc;
};

static void fetch_work(void *data)
{
	struct fetch *f = data;

	if (f->want_crl)
		f->rc = cab_crl(f->cab, &f->der, &f->len, &f->err);
	else
		f->rc = cab_chain_pem(f->cab, &f->pem, &f->err);
}

static void fetch_after(void *data)
{
	struct fetch *f = data;

	if (f->rc != 0)
		http_reply_errorf(f->hr, RA_E_UNAVAILABLE, "", "CA: %s", f->err.msg);
	else if (f->want_crl)
		http_reply_text(f->hr, 200, "application/pkix-crl", (const char *)f->der, f->len);
	else
		http_reply_text(f->hr, 200, "application/pem-certificate-chain", f->pem, strlen(f->pem));
	free(f->der);
	free(f->pem);
	free(f);
}

static void fetch(struct http_req *hr, int crl)
{
	struct fetch *f;
	const char *why;

	if (hr->app->cab == NULL) {
		if (!health_ok("ca", &why))
			http_reply_errorf(hr, RA_E_UNAVAILABLE, "", "the CA is unhealthy: %s", why);
		else
			http_reply_errorf(hr, RA_E_UNAVAILABLE, "", "the CA is not configured (pkcs11.pin)");
		return;
	}
	f = calloc(1, sizeof(*f));
	if (f == NULL) {
		http_reply_errorf(hr, RA_E_NOMEM, "", "out of memory");
		return;
	}
	f->hr = hr;
	f->cab = hr->app->cab;
	f->want_crl = crl;
	if (pool_run(hr->app->loop, fetch_work, fetch_after, f) != 0) {
		free(f);
		http_reply_errorf(hr, RA_E_INTERNAL, "", "cannot queue work");
	}
}

static void route_crl(struct http_req *hr)
{
	fetch(hr, 1);
}

static void route_chain(struct http_req *hr)
{
	fetch(hr, 0);
}

/* ---- cert_issue ---------------------------------------------------------------------- */

struct issue {
	struct job *job;
	struct cab *cab;
	char id[72];
	char replaces[72]; /* the certificate this one replaces ("" when none) */
	char replace_reason[40];
	int has_reason;
	enum cab_class cls;
	enum cab_alg alg;
	int validity;
	json_t *subject;
	struct cab_key key;
	struct cab_cert cert;
	struct cab_err err;
	int rc;
	int stage; /* 0 keygen failed, 1 issue failed, 2 ok, 3 a new wrapped key to store */
	/* the wrapped key stored beside the certificate (cab_wraps, issue #15) */
	int have_blob;
	unsigned char *blob;
	size_t blob_len;
	char kek_label[64];
	int kek_version;
	int done_op; /* the job's done UPDATE in the store's unit (job_done_in) */
	int first; /* the job's first attempt: no earlier one can have left a key under this id */
	int kek_want; /* the KEK version a new key is wrapped under (kek_versions; 0: the token's highest) */
	int kek_missing; /* kek_want, when the token did not have it (issue_after logs it) */
	int remade; /* the key was made again because a rotation committed meanwhile */
};

static int job_cert_id(struct job *job, char *out, size_t cap)
{
	const char *id = json_string_value(json_object_get(job->payload, "certificate_id"));
	struct ra_err e;

	if (id == NULL || strlen(id) >= cap) {
		ra_err_set(&e, RA_E_INVALID, "certificate_id", "job payload has no certificate_id");
		job_fail(job, &e, 0);
		return -1;
	}
	snprintf(out, cap, "%s", id);
	return 0;
}

static const char *jstr(const json_t *o, const char *k)
{
	const char *v = json_string_value(json_object_get(o, k));
	return (v && *v) ? v : NULL;
}

static void issue_free(struct issue *is)
{
	json_decref(is->subject);
	free(is->blob);
	cab_key_free(&is->key);
	cab_cert_free(&is->cert);
	free(is);
}

void cert_subject_of(const json_t *subject, struct cab_subject *out)
{
	out->country = jstr(subject, "country");
	out->given_name = jstr(subject, "given_name");
	out->surname = jstr(subject, "surname");
	out->serial_number = jstr(subject, "serial_number");
	out->common_name = jstr(subject, "common_name");
	out->organization = jstr(subject, "organization");
	out->organization_identifier = jstr(subject, "organization_identifier");
	out->title = jstr(subject, "title");
}

static void issue_work(void *data)
{
	struct issue *is = data;
	struct cab_request req;

	struct cab_wrapped w = {is->blob, is->blob_len, is->kek_label, is->kek_version};

	memset(&req, 0, sizeof(req));
	cert_subject_of(is->subject, &req.subject);
	if (!is->have_blob) {
		/* a fresh wrapped key signs its CSR right away (first_sig): no unwrap for it later.
		 * The key's id is the certificate's, and only this job makes its key: on its first
		 * attempt no token pair (token storage) nor half-made one (a crash) can carry the
		 * id, so the token is not searched for one (cab.h).  Attempts count claims; only a
		 * deferral before any key work gives one back (load_for_job). */
		is->rc = is->first
				 ? cab_keygen_csr_first(is->cab, is->id, is->alg, &req.subject, is->kek_want,
							&is->key, &is->err)
				 : cab_keygen_csr(is->cab, is->id, is->alg, &req.subject, &is->key, &is->err);
		if (is->rc == CAB_E_KEK && is->first && is->kek_want > 0) {
			/* the database names a version this token does not have (restored, re-made):
			 * the key is made under the token's highest, in this same attempt, and said */
			is->kek_missing = is->kek_want;
			is->rc = cab_keygen_csr_first(is->cab, is->id, is->alg, &req.subject, 0, &is->key,
						      &is->err);
		}
		if (is->rc != 0) {
			is->stage = 0;
			return;
		}
		if (is->key.blob != NULL) {
			is->stage = 3; /* stored first, then the certificate (a retry reuses it) */
			return;
		}
	}
	req.request_id = is->id;
	req.cls = is->cls;
	req.validity_years = is->validity;
	req.key_id = is->id;
	req.wrapped = is->have_blob ? &w : NULL;
	/* the signature made at keygen, in this same job: a retried job has none and signs the CSR
	 * from the stored blob */
	req.first_sig = is->key.first_sig;
	req.first_sig_len = is->key.first_sig_len;
	is->rc = cab_issue(is->cab, &req, &is->cert, &is->err);
	is->stage = is->rc == 0 ? 2 : 1;
}

static void on_stored(const int *rows, const struct ra_err *err, void *data)
{
	struct issue *is = data;
	struct job *job = is->job;

	if (err && err->code == RA_E_CONFLICT && strcmp(err->field, "state") == 0) {
		/* issued by an earlier run (or no longer requested): nothing to store */
		job_done(job, json_pack("{s:s, s:s, s:b}", "serial", is->cert.serial_hex, "key_fingerprint",
					is->key.sha256_hex, "stored", 0));
	} else if (err) {
		/* R2: the unique key fingerprint refuses a key that already serves a certificate */
		int r2 = err->code == RA_E_CONFLICT && strstr(err->field, "key_fingerprint") != NULL;
		struct ra_err e;
		ra_err_set(&e, err->code, err->field, "%s%s",
			   r2 ? "R2: key already bound to a certificate: " : "", err->msg);
		job_fail(job, &e, !r2);
	} else {
		/* the job's done committed with the certificate (job_done_in in store) */
		log_info("cert.issued", "certificate", is->id, "serial", is->cert.serial_hex, NULL);
		job_done_committed(job, rows[is->done_op]);
	}
	issue_free(is);
}

static void on_failed_recorded(const int *rows, const struct ra_err *err, void *data)
{
	struct issue *is = data;
	struct ra_err e;

	(void)rows;
	(void)err; /* if this write failed, the job's retry records it */
	ra_err_set(&e, RA_E_RULE, is->err.field, "%s", is->err.msg);
	job_fail(is->job, &e, 0);
	issue_free(is);
}

#define PENDING_ISSUE (1u << WF_CERT_REQUESTED | 1u << WF_CERT_KEY_GENERATED)

/* requested/key_generated -> issued; superseding -> revoked for the one it replaces (R15) */
static void store(struct issue *is, const char *nb, const char *na)
{
	struct outbox ob = {0};
	int c, old;

	c = ob_move_any(&ob, sql_store, &wf_cert, PENDING_ISSUE, WF_CERT_ISSUED, is->id, 6,
			(const char *const[]){is->cert.serial_hex, is->key.sha256_hex, is->cert.pem, nb, na,
					      is->have_blob ? "wrapped" : "token"});
	old = is->replaces[0] == '\0'
		      ? -1
		      : ob_move_set(
				&ob, sql_replaced, &wf_cert, 1u << WF_CERT_SUPERSEDING, WF_CERT_REVOKED,
				is->replaces, 2,
				(const char *const[]){is->has_reason ? is->replace_reason : NULL, is->id});
	/* the job ends in the same commit as the certificate it stored: one commit fewer each */
	is->done_op = job_done_in(is->job, &ob,
				  json_pack("{s:s, s:s, s:b}", "serial", is->cert.serial_hex,
					    "key_fingerprint", is->key.sha256_hex, "stored", 1));
	ob_job_each(&ob, c, "transport_pin", "certificate_id", "transport_pin:");
	if (old >= 0)
		ob_job_each(&ob, old, "ca_revoke", "certificate_id", "ca_revoke:");
	ob_audit_each(&ob, c, "system", "cert.issued", "certificate", NULL);
	if (old >= 0)
		ob_audit_each(&ob, old, "system", "cert.revoked", "certificate", NULL);
	ob_commit(&ob, is->job->app->db, on_stored, is);
}

/* requested/key_generated -> failed; superseding -> active again for the one it would have
 * replaced (R15) */
static void record_failed(struct issue *is, const char *msg)
{
	struct outbox ob = {0};
	int c, old;

	c = ob_move_any(&ob, sql_failed, &wf_cert, PENDING_ISSUE, WF_CERT_FAILED, is->id, 1,
			(const char *const[]){msg});
	old = is->replaces[0] == '\0'
		      ? -1
		      : ob_move_set(&ob, sql_restored, &wf_cert, 1u << WF_CERT_SUPERSEDING, WF_CERT_ACTIVE,
				    is->replaces, 1, (const char *const[]){is->id});
	ob_audit_each(&ob, c, "system", "cert.failed", "certificate", msg);
	if (old >= 0)
		ob_audit_each(&ob, old, "system", "cert.replacement_failed", "certificate", msg);
	ob_commit(&ob, is->job->app->db, on_failed_recorded, is);
}

static void issue_after(void *data);

static void on_key_stored(const int *rows, const struct ra_err *err, void *data)
{
	struct issue *is = data;
	struct ra_err e;

	(void)rows;
	if (err && err->code == RA_E_RULE && strcmp(err->field, "kek_version_current") == 0 && !is->remade) {
		/* a rotation committed after this job read its KEK version, and its re-wrap may have
		 * passed this id already (migration 0024): the key, never stored, is made again under
		 * the token's highest version (the rotation made it before its commit), once */
		log_info("kek.rotated_meanwhile", "certificate", is->id, "message", err->msg, NULL);
		is->remade = 1;
		is->kek_want = 0;
		cab_key_free(&is->key);
		if (pool_run(is->job->app->loop, issue_work, issue_after, is) != 0) {
			ra_err_set(&e, RA_E_INTERNAL, "", "cannot queue work");
			job_fail(is->job, &e, 1);
			issue_free(is);
		}
		return;
	}
	if (err) {
		/* R2: a key that already serves another certificate is refused for good; a row that
		 * moved on (another worker stored its key first: RA_E_CONFLICT) is retried and the
		 * retry finds that key */
		int r2 = strstr(err->field, "key_fingerprint") != NULL ||
			 strstr(err->msg, "key_fingerprint") != NULL;

		ra_err_set(&e, err->code, err->field, "%s%s",
			   r2 ? "R2: key already bound to a certificate: " : "", err->msg);
		job_fail(is->job, &e, !r2);
		issue_free(is);
		return;
	}
	/* from here on the stored blob is the key: the CSR is signed from it */
	is->have_blob = 1;
	is->blob = is->key.blob;
	is->blob_len = is->key.blob_len;
	is->key.blob = NULL;
	snprintf(is->kek_label, sizeof(is->kek_label), "%s", is->key.kek_label);
	is->kek_version = is->key.kek_version;
	if (pool_run(is->job->app->loop, issue_work, issue_after, is) != 0) {
		ra_err_set(&e, RA_E_INTERNAL, "", "cannot queue work");
		job_fail(is->job, &e, 1);
		issue_free(is);
	}
}

static void store_key(struct issue *is)
{
	char *hex = malloc(2 * is->key.blob_len + 1), ver[16], made_for[16];
	struct outbox ob = {0};

	if (hex == NULL)
		abort();
	for (size_t i = 0; i < is->key.blob_len; i++)
		snprintf(hex + 2 * i, 3, "%02x", is->key.blob[i]);
	snprintf(ver, sizeof(ver), "%d", is->key.kek_version);
	/* the version the key was made for: the one the job read, or the one it is wrapped under
	 * when that is higher (a retry wraps under the token's highest) */
	snprintf(made_for, sizeof(made_for), "%d",
		 is->kek_want > is->key.kek_version ? is->kek_want : is->key.kek_version);
	ob_move(&ob, cert_sql_key_store, &wf_cert, WF_CERT_REQUESTED, WF_CERT_KEY_GENERATED, is->id, 5,
		(const char *const[]){hex, is->key.kek_label, ver, is->key.sha256_hex, made_for});
	ob_audit(&ob, "system", "cert.key_generated", "certificate", is->id, NULL,
		 json_pack("{s:s, s:s, s:s, s:i}", "storage", "wrapped", "key_fingerprint",
			   is->key.sha256_hex, "kek_label", is->key.kek_label, "kek_version",
			   is->key.kek_version));
	ob_commit(&ob, is->job->app->db, on_key_stored, is);
	free(hex);
}

static void issue_after(void *data)
{
	struct issue *is = data;
	char nb[24], na[24];

	if (is->rc != 0) {
		/* CAB_E_REJECTED: the CA (over CMP) said no; its reason becomes the certificate's.
		 * A transient failure on the job's last attempt ends the certificate too, so the
		 * certificate it replaces does not stay superseding (R15). */
		int permanent = is->rc == CAB_E_PROFILE || is->rc == CAB_E_INVALID ||
				is->rc == CAB_E_CONFLICT || is->rc == CAB_E_REJECTED ||
				is->rc == CAB_E_DESTROYED || is->job->attempt >= is->job->max_attempts;
		char msg[340];

		log_warn("cert.issue_failed", "certificate", is->id, "error", cab_strerror(is->rc), "message",
			 is->err.msg, NULL);
		if (permanent) {
			snprintf(msg, sizeof(msg), "%s%s%s", is->err.field, is->err.field[0] ? ": " : "",
				 is->err.msg);
			record_failed(is, msg);
			return;
		}
		{
			struct ra_err e;
			ra_err_set(&e, RA_E_UNAVAILABLE, is->err.field, "CA bridge: %s", is->err.msg);
			job_fail(is->job, &e, 1);
		}
		issue_free(is);
		return;
	}
	if (is->kek_missing > 0) {
		char v[16];

		snprintf(v, sizeof(v), "%d", is->kek_missing);
		log_warn("kek.version_missing", "certificate", is->id, "kek_version", v, "message",
			 "kek_versions names a KEK version the token does not have; the key was wrapped"
			 " under the token's highest",
			 NULL);
		is->kek_missing = 0;
	}
	if (is->key.remnants > 0) {
		char n[16];

		snprintf(n, sizeof(n), "%d", is->key.remnants);
		/* issue #19: a crash inside key generation left a half-made pair; keygen destroyed it */
		log_warn("cert.key_remnant_destroyed", "certificate", is->id, "objects", n, NULL);
		is->key.remnants = 0;
	}
	if (is->rc == 0 && is->stage == 3) {
		store_key(is);
		return;
	}
	snprintf(nb, sizeof(nb), "%lld", (long long)is->cert.not_before);
	snprintf(na, sizeof(na), "%lld", (long long)is->cert.not_after);
	store(is, nb, na);
}

/* R1/R2/R7 through the certificate machine: requested -keygen_done-> key_generated
 * -ca_issued-> issued.  The facts come from the row; the key is fresh by construction (its
 * CKA_ID is this certificate's id) and the database's unique fingerprint backs R2. */
static int check_rules(const char *state, enum cab_class cls, const char *ident_id, struct ra_err *e)
{
	struct wf_facts f = {0};
	struct wf_result r;
	int s = wf_state_parse(&wf_cert, state), rc;

	f.cert_class = cls == CAB_CLASS_QUALIFIED  ? WF_CLASS_QUALIFIED
		       : cls == CAB_CLASS_ADVANCED ? WF_CLASS_ADVANCED
						   : WF_CLASS_SEAL;
	f.key_class = f.cert_class;
	f.ident_passed = ident_id != NULL;
	if (s == WF_CERT_REQUESTED) {
		rc = wf_step(&wf_cert, s, WF_CERT_KEYGEN_DONE, &f, &r);
		if (rc != 0)
			return ra_err_set(e, RA_E_RULE, r.rule ? r.rule : "", "%s", wf_strerror(rc));
		s = r.next_state;
	}
	rc = wf_step(&wf_cert, s, WF_CERT_CA_ISSUED, &f, &r);
	if (rc != 0)
		return ra_err_set(e, RA_E_RULE, r.rule ? r.rule : "", "%s%s", r.rule ? r.rule : "",
				  rc == WF_E_GUARD ? ": no passed identification for this certificate"
						   : wf_strerror(rc));
	return 0;
}

static void on_loaded(PGresult *res, const struct ra_err *err, void *data)
{
	struct job *job = data;
	struct issue *is = NULL;
	const char *state;
	struct ra_err e;
	struct cab_err ce;

	if (err) {
		job_fail(job, err, 1);
		return;
	}
	if (PQntuples(res) != 1) {
		ra_err_set(&e, RA_E_NOTFOUND, "certificate_id", "no such certificate");
		job_fail(job, &e, 0);
		return;
	}
	state = PQgetvalue(res, 0, 2);
	if (wf_state_parse(&wf_cert, state) < 0 ||
	    !(PENDING_ISSUE & (1u << wf_state_parse(&wf_cert, state)))) {
		/* issued before (a retried job): the effect exists, nothing more to do */
		job_done(job, json_pack("{s:s}", "already", state));
		return;
	}
	is = calloc(1, sizeof(*is));
	if (is == NULL)
		abort();
	is->job = job;
	is->cab = job->app->cab;
	is->first = job->attempt == 1;
	is->kek_want = PQgetisnull(res, 0, 18) ? 0 : atoi(PQgetvalue(res, 0, 18));
	snprintf(is->id, sizeof(is->id), "%s", PQgetvalue(res, 0, 0));
	if (cab_class_parse(PQgetvalue(res, 0, 1), &is->cls, &ce) != 0 ||
	    cab_alg_parse(PQgetvalue(res, 0, 5), &is->alg) != 0) {
		ra_err_set(&e, RA_E_INVALID, "class",
			   "certificate row has an unknown class or key algorithm");
		goto refuse;
	}
	if (check_rules(state, is->cls, db_val(res, 0, 6), &e) != 0)
		goto refuse;
	is->validity = atoi(PQgetvalue(res, 0, 4));
	snprintf(is->replaces, sizeof(is->replaces), "%s", PQgetvalue(res, 0, 16));
	is->has_reason = !PQgetisnull(res, 0, 17);
	snprintf(is->replace_reason, sizeof(is->replace_reason), "%s", PQgetvalue(res, 0, 17));
	if (!PQgetisnull(res, 0, 15)) {
		ra_err_set(&e, RA_E_RULE, "key", "the certificate's key was destroyed");
		goto refuse;
	}
	if (!PQgetisnull(res, 0, 11)) {
		/* a wrapped key stored by an earlier attempt: the certificate is made with it */
		const char *hex = PQgetvalue(res, 0, 11);
		size_t n = strlen(hex) / 2;

		is->blob = malloc(n ? n : 1);
		if (is->blob == NULL)
			abort();
		for (size_t i = 0; i < n; i++) {
			unsigned int b;
			sscanf(hex + 2 * i, "%2x", &b);
			is->blob[i] = (unsigned char)b;
		}
		is->blob_len = n;
		is->have_blob = 1;
		snprintf(is->kek_label, sizeof(is->kek_label), "%s", PQgetvalue(res, 0, 12));
		is->kek_version = atoi(PQgetvalue(res, 0, 13));
		snprintf(is->key.sha256_hex, sizeof(is->key.sha256_hex), "%s", PQgetvalue(res, 0, 14));
	}
	is->subject = json_loads(PQgetvalue(res, 0, 3), 0, NULL);
	if (pool_run(job->app->loop, issue_work, issue_after, is) != 0) {
		ra_err_set(&e, RA_E_INTERNAL, "", "cannot queue work");
		job_fail(job, &e, 1);
		issue_free(is);
	}
	return;
refuse:
	log_warn("cert.issue_refused", "certificate", is->id, "rule", e.field, "message", e.msg, NULL);
	job_fail(job, &e, 0);
	issue_free(is);
}

/* Both CA jobs start alike: the certificate's row, once the CA is there (else retry). */
static void load_for_job(struct job *job, db_result_cb next)
{
	char id[72];
	const char *p[2] = {id, cfg_str(job->app->cfg, "pkcs11.kek_label")};
	struct ra_err e;
	const char *why;

	if (job_cert_id(job, id, sizeof(id)) != 0)
		return;
	if (job->app->cab == NULL && !health_ok("ca", &why)) {
		/* RA_E_BUSY: the job waits for the CA without using up its attempts */
		ra_err_set(&e, RA_E_BUSY, "ca.dir", "the CA is unhealthy: %s", why);
		job_fail(job, &e, 1);
		return;
	}
	if (job->app->cab == NULL) {
		ra_err_set(&e, RA_E_UNAVAILABLE, "pkcs11.pin", "the CA is not configured");
		job_fail(job, &e, 1);
		return;
	}
	db_query(job->app->db, cert_sql_load, 2, p, next, job);
}

static void job_cert_issue(struct job *job)
{
	load_for_job(job, on_loaded);
}

/* ---- ca_revoke ----------------------------------------------------------------------- */

struct revoke {
	struct job *job;
	struct cab *cab;
	char id[72];
	char serial[64];
	enum cab_reason reason;
	time_t when;
	struct cab_err err;
	int rc;
};

static void revoke_work(void *data)
{
	struct revoke *rv = data;

	rv->rc = cab_revoke(rv->cab, rv->serial, rv->reason, rv->when, &rv->err);
	if (rv->rc == CAB_E_ALREADY_REVOKED)
		rv->rc = 0; /* a retried job: the CA has it already (R14: final, nothing changes) */
}

static void on_ca_revoked(PGresult *res, const struct ra_err *err, void *data)
{
	struct revoke *rv = data;

	(void)res;
	if (err)
		job_fail(rv->job, err, 1);
	else
		job_done(rv->job, json_pack("{s:s}", "serial", rv->serial));
	free(rv);
}

static void revoke_after(void *data)
{
	struct revoke *rv = data;
	const char *p[1] = {rv->id};
	struct ra_err e;

	if (rv->rc != 0) {
		ra_err_set(&e, rv->rc == CAB_E_NOTFOUND ? RA_E_NOTFOUND : RA_E_UNAVAILABLE, "serial",
			   "CA: %s", rv->err.msg);
		job_fail(rv->job, &e, rv->rc != CAB_E_NOTFOUND && rv->rc != CAB_E_REJECTED);
		free(rv);
		return;
	}
	log_info("cert.ca_revoked", "certificate", rv->id, "serial", rv->serial, NULL);
	db_query(rv->job->app->db, sql_ca_revoked, 1, p, on_ca_revoked, rv);
}

static void on_revoke_loaded(PGresult *res, const struct ra_err *err, void *data)
{
	struct job *job = data;
	struct revoke *rv;
	struct ra_err e;

	if (err) {
		job_fail(job, err, 1);
		return;
	}
	if (PQntuples(res) != 1 || wf_state_parse(&wf_cert, PQgetvalue(res, 0, 2)) != WF_CERT_REVOKED ||
	    PQgetisnull(res, 0, 7)) {
		ra_err_set(&e, RA_E_CONFLICT, "certificate_id", "certificate is not revoked in the database");
		job_fail(job, &e, 0);
		return;
	}
	rv = calloc(1, sizeof(*rv));
	if (rv == NULL)
		abort();
	rv->job = job;
	rv->cab = job->app->cab;
	snprintf(rv->id, sizeof(rv->id), "%s", PQgetvalue(res, 0, 0));
	snprintf(rv->serial, sizeof(rv->serial), "%s", PQgetvalue(res, 0, 7));
	if (cab_reason_parse(PQgetvalue(res, 0, 8), &rv->reason) != 0)
		rv->reason = CAB_REASON_UNSPECIFIED;
	rv->when = (time_t)strtoll(PQgetvalue(res, 0, 9), NULL, 10);
	if (pool_run(job->app->loop, revoke_work, revoke_after, rv) != 0) {
		ra_err_set(&e, RA_E_INTERNAL, "", "cannot queue work");
		job_fail(job, &e, 1);
		free(rv);
	}
}

static void job_ca_revoke(struct job *job)
{
	load_for_job(job, on_revoke_loaded);
}

/* ---- module -------------------------------------------------------------------------- */

const struct job_kind cert_job_kinds[] = {
	{"cert_issue", job_cert_issue, 10, NULL},
	{"ca_revoke", job_ca_revoke, 20, NULL},
	{"order_issue", order_issue_run, ORDER_ISSUE_MAX_ATTEMPTS, NULL},
	{"transport_pin", tpin_run, TPIN_MAX_ATTEMPTS, NULL},
	{"user_id_mail", usermail_run, USERMAIL_MAX_ATTEMPTS, NULL},
	{"key_destroy", key_destroy_run, KEY_DESTROY_MAX_ATTEMPTS, NULL},
	{"kek_rewrap", kek_rewrap_run, KEK_REWRAP_MAX_ATTEMPTS, NULL},
	{NULL, NULL, 0, NULL},
};

int cert_init(struct app *app, struct ra_err *err)
{
	/* lanes (docs/jobs.md): revocation and issuance never wait behind notifications (R14) */
	jobs_lane(app->jobs, "ca_revoke", JOBS_LANE_REVOKE);
	jobs_lane(app->jobs, "cert_issue", JOBS_LANE_ISSUE);
	jobs_lane(app->jobs, "order_issue", JOBS_LANE_ISSUE);
	http_route(app->http, "GET", "/v1/ca/crl", 0, "ca_crl", route_crl, NULL);
	http_route(app->http, "GET", "/v1/ca/chain", 0, "ca_chain", route_chain, NULL);
	keys_policy_apply(app); /* before any job: the database destroys keys by it */
	if (usermail_init(app->cfg, err) != 0)
		return -1;
	if (cfg_str(app->cfg, "pkcs11.pin") == NULL) {
		log_warn("ca.disabled", "reason", "pkcs11.pin not set: no keys, no issuance, no CRL", NULL);
		return 0;
	}
	if (open_cab(app, err) != 0)
		return -1;
	return crl_watch_start(app, err);
}
