/*
 * routes_admin_int.h - shared by the admin API files (routes_admin*.c) only: the request
 * context, the route table entry, replies that name the refusing rule, and the runner that
 * does one support operation as one transaction.
 *
 * A route is a template with at most one {id} segment, a role and a handler.  The router
 * authenticates (admin_authorize), requires a "reason" in every POST body (R16: the audit
 * says why), and hands the handler a struct adm_req.  The handler ends it with exactly one
 * adm_reply / adm_fail (which free it).
 *
 * A change runs through adm_tx_run: BEGIN; the load statement (locks the rows, returns one
 * row whose first column is JSON text, none = 404); the plan function decides with the
 * workflows machines (wf_step) and plans the writes into ar->ob, one outbox unit
 * (ra/db/outbox.h: state change conditioned on the state decided from, audit record, jobs);
 * the unit and COMMIT.  A refusal rolls back: a refused operation leaves the
 * database as it was.  A POST body with "dry_run": true runs all of it, every rule and
 * every constraint, and then rolls back too: the reply says what would have changed.
 */
#ifndef RA_ROUTES_ADMIN_INT_H
#define RA_ROUTES_ADMIN_INT_H

#include <jansson.h>

#include "ra/db/outbox.h"
#include "ra/flows/admin/admin.h"
#include "ra/net/http.h"
#include "workflows/wf.h"

#define ADM_MAX_PARAMS 8

struct adm_stmt {
	const char *sql; /* static */
	int n;
	char *p[ADM_MAX_PARAMS];
};

struct adm_req {
	struct http_req *hr;
	struct admin_user who;
	char actor[80]; /* "support:<name>" (R16) */
	char id[160]; /* the {id} path segment, percent-decoded; "" without one */
	json_t *body; /* POST: the JSON object; GET: NULL */
	const char *reason; /* POST: body "reason", never empty */
	int dry_run; /* POST: body "dry_run": decide and write, then ROLLBACK */
	/* transaction runner */
	const struct adm_tx *tx;
	struct db_conn *conn;
	struct adm_stmt load;
	struct outbox ob; /* the plan's writes */
	json_t *reply;
	int status;
	struct ra_err err;
	int failed;
};

struct adm_route {
	const char *method;
	const char *path; /* "/v1/admin/certs/{id}/revoke" */
	const char *role; /* "support" or "admin" */
	const char *name;
	void (*fn)(struct adm_req *ar);
};

struct adm_tx {
	const char *what; /* "certificate": for "no such certificate" */
	/* row: the load statement's JSON; adds statements, sets ar->reply.  0 or an RA_E_* code. */
	int (*plan)(struct adm_req *ar, json_t *row, struct ra_err *e);
};

/* The route tables of the sibling files. */
extern const struct adm_route adm_routes_cert[];
extern const struct adm_route adm_routes_user[];
extern const struct adm_route adm_routes_misc[];
extern const struct adm_route adm_routes_desk[];
extern const struct adm_route adm_routes_bulk[];
extern const struct adm_route adm_routes_phone[]; /* routes_admin_phone.c */

/* GET /v1/admin/identifications/{order id} (routes_admin_ident.c): its own route, since it
 * answers with evidence opened under evidence.key and records the reading first. */
void adm_ident_routes(struct app *app);

/* Replies (and frees ar).  reply is stolen. */
void adm_reply(struct adm_req *ar, int status, json_t *reply);
void adm_fail(struct adm_req *ar, const struct ra_err *e);

/* A refusal by a domain rule: code RA_E_RULE (or RA_E_CONFLICT), e->field = the rule ("R14"),
 * the message starts with the rule.  Returns code. */
int adm_refuse(struct ra_err *e, int code, const char *rule, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));
/* wf_step with the error turned into a refusal that names the rule and says why in words. */
int adm_wf(const struct wf_machine *m, const char *state, int event, const struct wf_facts *f,
	   struct wf_result *r, const char *what, struct ra_err *e);
/* R19 outside the machines: refuses when user_id is the acting support user's own account. */
int adm_not_self(const struct adm_req *ar, const char *user_id, struct ra_err *e);

/* Runs a read: one statement whose first row's first column is JSON text, sent as the reply;
 * no row is 404 "no such <what>".  Params are copied. */
void adm_read(struct adm_req *ar, const char *sql, int n, const char *const *params, const char *what);
/* Runs a change: see the file comment.  The load statement's params are copied; load_sql
 * NULL: no load, plan gets an empty object. */
void adm_tx_run(struct adm_req *ar, const struct adm_tx *tx, const char *load_sql, int n,
		const char *const *params);
/* Adds one write to the plan's unit (ob_stmt, not conditioned; params copied; NULL is SQL
 * NULL).  RA_E_INTERNAL when full. */
int adm_stmt(struct adm_req *ar, const char *sql, int n, const char *const *params);

/* Query-string value (percent-decoded) into buf; NULL when absent. */
const char *adm_query(struct adm_req *ar, const char *key, char *buf, size_t cap);
/* Paged lists (issue #17): ?limit= (1..ADM_LIMIT_MAX, default ADM_LIMIT_DEFAULT) as text in
 * limit, ?after= (the cursor a previous page answered as "next", at most cap bytes) in after
 * or NULL.  On a bad value: RA_E_RULE naming the field (422), replied by the caller. */
#define ADM_LIMIT_DEFAULT 50
#define ADM_LIMIT_MAX 500
int adm_page(struct adm_req *ar, char *limit, size_t lcap, char *after, size_t acap, const char **after_out,
	     struct ra_err *e);
/* Paged list SQL.  Each list: the page's rows (limit + 1, to know whether more exist) in a fixed order, the
 * cursor is the id of the last row shown; the next page starts after that row's order key,
 * read from the row itself, so rows added meanwhile neither shift nor repeat a page. */
#define PAGE_JSON(list, item, cursor)                                              \
	" SELECT jsonb_build_object('" list "', coalesce(jsonb_agg(" item          \
	" ORDER BY p.rn) FILTER (WHERE p.rn <= $1::int),"                          \
	" '[]'::jsonb), 'next', (SELECT q." cursor                                 \
	"::text FROM page q WHERE q.rn = $1::int AND EXISTS (SELECT 1 FROM page z" \
	" WHERE z.rn > $1::int)))::text FROM page p"

/* A cursor that is an id (digits): RA_E_RULE naming "after" otherwise; NULL is fine. */
int adm_cursor_id(const char *after, struct ra_err *e);
/* A filter value that must be one of choices ("a|b|c"): NULL when absent, else the value;
 * *bad set (RA_E_RULE naming key, listing the choices) when it is another. */
const char *adm_choice(struct adm_req *ar, const char *key, const char *choices, char *buf, size_t cap,
		       struct ra_err *e, int *bad);
/* Body helpers: string member or NULL (empty strings are NULL); boolean member (0 if absent). */
const char *adm_str(const struct adm_req *ar, const char *key);
int adm_bool(const struct adm_req *ar, const char *key);
/* The E.164 form of in when it is a mobile number (default_country applies), else "". */
void adm_phone(const struct adm_req *ar, const char *in, char *e164, size_t cap);
/* Adds the audit record of the operation to the unit (actor = ar->actor); details is stolen. */
int adm_audit(struct adm_req *ar, const char *action, const char *type, const char *id, const char *reason,
	      json_t *details);
/* A fresh certificate id, "crt-" and 32 hex digits (the id is also the token key's CKA_ID). */
void adm_new_cert_id(char *out, size_t cap);

#endif
