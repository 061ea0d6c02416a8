/*
 * events.c - POST /v1/signing/events; see events.h.  Read the user and any earlier delivery of
 * the event id (one statement), decide with the user machine, then one transaction: the event
 * row (its primary key is the idempotency key), the user's new state conditioned on the state
 * decided on, the audit record.  A concurrent change or delivery rolls that back, and the
 * event is read and decided again (a few times at most).
 */
#include "ra/flows/signing/events.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ra/base/log.h"
#include "ra/base/userid.h"
#include "ra/db/db.h"
#include "ra/db/outbox.h"
#include "ra/flows/signing/signing_req.h"
#include "workflows/wf_user.h"

#define EV_RETRIES 3
#define EV_COMMENT_MAX 200

static const char *sql_load =
	"SELECT u.state, u.app_registered,"
	" (SELECT jsonb_build_object('user_id', e.user_id, 'type', e.type, 'from', e.from_state, 'to', e.to_state,"
	"   'at', e.at)::text FROM signing_events e WHERE e.source = $2 AND e.event_id = $3)"
	" FROM (SELECT $1::text AS id) k LEFT JOIN users u ON u.public_id = k.id";

static const char *sql_event =
	"INSERT INTO signing_events (source, event_id, user_id, type, from_state, to_state)"
	" VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT (source, event_id) DO NOTHING";

/* $4: the app registration after the event; $5: whether the event locks (R13: when) */
static const char *sql_user =
	"UPDATE users SET state = $2, app_registered = $4::bool,"
	" locked_at = CASE WHEN $5::bool THEN now() ELSE locked_at END, updated_at = now()"
	" WHERE public_id = $1 AND state = $3";

static const char *const members[] = {"event_id", "user_id", "type", "comment", NULL};

/* The event types: the user machine's event, the audit action and why. */
static const struct ev_type {
	const char *name;
	int event;
	const char *action;
	const char *why;
} types[] = {
	{"locked", WF_USER_LOCK, "user.locked",
	 "R13: locked by the signing service (wrong ActivationPINs or TANs); support unlocks, the PIN is kept"},
	{"app_registered", WF_USER_FACTOR_APP, "user.factor_app",
	 "R9: the authenticator app is registered at the signing service; SMS stops"},
	{"app_deregistered", WF_USER_FACTOR_SMS, "user.factor_sms",
	 "R9: the authenticator app is de-registered at the signing service; back to SMS"},
};

struct ev {
	struct sg_call *c;
	const struct ev_type *type;
	char event_id[104];
	char user[USERID_MAX];
	char from[32], to[32]; /* the user's state before and after */
	const char *comment;
	int tries;
};

static void ev_free(struct ev *v)
{
	free(v);
}

static void fail(struct ev *v, int code, const char *field, const char *reason, const char *rule,
		 const char *fmt, ...) __attribute__((format(printf, 6, 7)));

static void fail(struct ev *v, int code, const char *field, const char *reason, const char *rule,
		 const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	sg_failv(v->c, code, field, reason, rule, NULL, fmt, ap);
	va_end(ap);
	ev_free(v);
}

/* from and to may point into v: the reply is built before v is freed */
static void answer(struct ev *v, const char *from, const char *to, int duplicate)
{
	json_t *o = json_pack("{s:s, s:s, s:s, s:s, s:s, s:b}", "event_id", v->event_id, "user_id", v->user,
			      "type", v->type->name, "from", from, "state", to, "duplicate", duplicate);

	sg_reply(v->c, 200, o);
	ev_free(v);
}

static void load(struct ev *v);

static void on_committed(const int *rows, const struct ra_err *err, void *data)
{
	struct ev *v = data;

	(void)rows;
	if (err && err->code == RA_E_CONFLICT && ++v->tries < EV_RETRIES) {
		load(v); /* a concurrent delivery or change: decide again on what is there now */
		return;
	}
	if (err) {
		sg_fail(v->c, err, err->code == RA_E_CONFLICT ? "changed_meanwhile" : NULL, NULL, NULL);
		ev_free(v);
		return;
	}
	log_info("signing.event", "rid", v->c->hr->rid, "actor", v->c->actor, "event", v->type->name,
		 "event_id", v->event_id, "user", v->user, "from", v->from, "to", v->to, NULL);
	answer(v, v->from, v->to, 0);
}

/* A delivery seen before: the same event answers as it did, another one under its id is refused. */
static void repeated(struct ev *v, const char *seen)
{
	json_t *j = json_loads(seen, 0, NULL);
	const char *user = json_string_value(json_object_get(j, "user_id"));
	const char *type = json_string_value(json_object_get(j, "type"));

	if (user && type && strcmp(user, v->user) == 0 && strcmp(type, v->type->name) == 0) {
		const char *f = json_string_value(json_object_get(j, "from")),
			   *t = json_string_value(json_object_get(j, "to"));
		char from[32], to[32];
		snprintf(from, sizeof(from), "%s", f ? f : "");
		snprintf(to, sizeof(to), "%s", t ? t : "");
		json_decref(j);
		answer(v, from, to, 1);
		return;
	}
	json_decref(j);
	fail(v, RA_E_CONFLICT, "event_id", "event_id_reused", NULL,
	     "event %s was delivered before for another user or type: nothing changed", v->event_id);
}

static void apply(struct ev *v, int from, int app_registered)
{
	struct wf_facts f = {0};
	struct wf_result r;
	struct outbox ob = {0};
	const char *to;
	int rc, app_after = app_registered;

	/* R9: the de-registration is the signing service's word that the app is gone */
	f.app_registered = v->type->event == WF_USER_FACTOR_SMS ? 0 : app_registered;
	rc = wf_step(&wf_user, from, v->type->event, &f, &r);
	if (rc == WF_E_GUARD) {
		fail(v, RA_E_RULE, "type", "refused", r.rule,
		     "%s: user %s in state %s: %s refused, nothing changed", r.rule, v->user, v->from,
		     v->type->name);
		return;
	}
	if (rc != 0) {
		fail(v, RA_E_CONFLICT, "type", rc == WF_E_FINAL ? "user_closed" : "not_allowed", NULL,
		     "user %s in state %s does not allow %s: nothing changed", v->user, v->from,
		     v->type->name);
		return;
	}
	to = wf_state_name(&wf_user, r.next_state);
	snprintf(v->to, sizeof(v->to), "%s", to);
	if (v->type->event == WF_USER_FACTOR_APP)
		app_after = 1;
	else if (v->type->event == WF_USER_FACTOR_SMS)
		app_after = 0;
	ob_stmt(&ob, sql_event, 6,
		(const char *const[]){v->c->who.name, v->event_id, v->user, v->type->name, v->from, to}, 1);
	ob_step(&ob, sql_user, &wf_user, from, &r, v->user, 2,
		(const char *const[]){app_after ? "true" : "false",
				      v->type->event == WF_USER_LOCK ? "true" : "false"});
	ob_audit(&ob, v->c->actor, v->type->action, "user", v->user, v->type->why,
		 json_pack("{s:s, s:s, s:s, s:s, s:s?}", "event_id", v->event_id, "event", v->type->name,
			   "from", v->from, "to", to, "comment", v->comment));
	ob_commit(&ob, v->c->hr->app->db, on_committed, v);
}

static void on_loaded(PGresult *res, const struct ra_err *err, void *data)
{
	struct ev *v = data;
	int from;

	if (err) {
		sg_fail(v->c, err, NULL, NULL, NULL);
		ev_free(v);
		return;
	}
	if (db_val(res, 0, 2) != NULL) {
		repeated(v, PQgetvalue(res, 0, 2));
		return;
	}
	if (db_val(res, 0, 0) == NULL) {
		fail(v, RA_E_NOTFOUND, "user_id", "unknown_user", NULL, "no such user: %s", v->user);
		return;
	}
	snprintf(v->from, sizeof(v->from), "%s", PQgetvalue(res, 0, 0));
	from = wf_state_parse(&wf_user, v->from);
	if (from < 0) {
		fail(v, RA_E_INTERNAL, "user_id", "internal", NULL, "user %s has an unknown state", v->user);
		return;
	}
	apply(v, from, PQgetvalue(res, 0, 1)[0] == 't');
}

static void load(struct ev *v)
{
	const char *p[] = {v->user, v->c->who.name, v->event_id};

	db_query(v->c->hr->app->db, sql_load, 3, p, on_loaded, v);
}

static void event(struct sg_call *c)
{
	struct ev *v = calloc(1, sizeof(*v));
	const char *id, *user, *type;
	struct ra_err e = {0};

	if (v == NULL)
		abort();
	v->c = c;
	if (sg_only_members(c->body, members, &e) != 0) {
		fail(v, RA_E_INVALID, e.field, "invalid", NULL, "%s", e.msg);
		return;
	}
	id = sg_plain(c->body, "event_id", 100);
	user = json_string_value(json_object_get(c->body, "user_id"));
	type = json_string_value(json_object_get(c->body, "type"));
	v->comment = json_string_value(json_object_get(c->body, "comment"));
	if (id == NULL) {
		fail(v, RA_E_INVALID, "event_id", "invalid", NULL,
		     "event_id must be 1 to 100 of [A-Za-z0-9._:-]");
		return;
	}
	if (user == NULL || !userid_valid(user)) {
		fail(v, RA_E_INVALID, "user_id", "invalid", NULL,
		     "user_id must be a user ID (XXXX-XXXX-XXXX-XXXX)");
		return;
	}
	for (size_t i = 0; type && i < sizeof(types) / sizeof(types[0]); i++)
		if (strcmp(types[i].name, type) == 0)
			v->type = &types[i];
	if (v->type == NULL) {
		fail(v, RA_E_INVALID, "type", "invalid", NULL,
		     "type must be locked, app_registered or app_deregistered");
		return;
	}
	if (json_object_get(c->body, "comment") &&
	    (v->comment == NULL || strlen(v->comment) > EV_COMMENT_MAX)) {
		fail(v, RA_E_INVALID, "comment", "invalid", NULL, "comment must be text of at most %d bytes",
		     EV_COMMENT_MAX);
		return;
	}
	snprintf(v->event_id, sizeof(v->event_id), "%s", id);
	snprintf(v->user, sizeof(v->user), "%s", user);
	load(v);
}

void events_route(struct http_req *hr)
{
	sg_start(hr, 0, event);
}
