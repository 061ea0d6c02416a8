/*
 * routes_admin_desk.c - the support desk's look-ups (issue #17): one search over everything a
 * caller may quote (mobile number in any notation, user ID, name, e-mail, shop order number,
 * RA order id, certificate id and serial), ranked and paged; and the queues a person works
 * through: open reviews (oldest first), orders by state and age, identifications.
 *
 * Ranking: an exact identifier (mobile, user ID, certificate id or serial, order number) is
 * 100, an e-mail 90, a name 50 + 40 x its trigram similarity to the text, so the closest
 * name comes first.  Ties are ordered by kind and id, so pages are deterministic.  The
 * cursor of a search is the position of the next page ("next": "20"): a search is a
 * snapshot a person pages through, not a queue.
 */
#include <stdlib.h>
#include <string.h>

#include "ra/base/names.h"
#include "ra/base/secret.h"
#include "ra/flows/admin/routes_admin_int.h"

#define SEARCH_MAX 200

/* $1 the text, $2 its E.164 form or NULL, $3 the LIKE pattern of its folded form or NULL,
 * $4 the folded form, $5 limit, $6 offset. */
static const char *sql_search =
	"WITH hits AS ("
	" SELECT 'user' AS kind, u.public_id AS id, 100::float8 AS rank, 'mobile' AS matched, u.id AS uid,"
	"  u.state AS state, NULL::text AS detail FROM users u WHERE u.phone_e164 = $2"
	" UNION ALL SELECT 'user', u.public_id, 100, 'user_id', u.id, u.state, NULL FROM users u"
	"  WHERE u.public_id = upper($1)"
	" UNION ALL SELECT 'user', u.public_id, 90, 'email', u.id, u.state, NULL FROM users u"
	"  WHERE lower(u.email) = lower($1)"
	" UNION ALL SELECT 'user', u.public_id, 50 + 40 * similarity(u.name_fold, $4), 'name', u.id, u.state, NULL"
	"  FROM users u WHERE $3::text IS NOT NULL AND u.name_fold LIKE $3"
	" UNION ALL SELECT 'order', o.id::text, 100, 'shop_order', o.user_id, o.state, o.shop_number FROM orders o"
	"  WHERE $1 ~ '^[0-9]{1,18}$' AND o.shop_order_id = $1::bigint"
	" UNION ALL SELECT 'order', o.id::text, 100, 'shop_number', o.user_id, o.state, o.shop_number FROM orders o"
	"  WHERE o.shop_number = $1 AND o.shop_number <> o.shop_order_id::text"
	" UNION ALL SELECT 'order', o.id::text, 80, 'order_id', o.user_id, o.state, o.shop_number FROM orders o"
	"  WHERE $1 ~ '^[0-9]{1,18}$' AND o.id = $1::bigint"
	" UNION ALL SELECT 'cert', c.id, 100, 'certificate_id', u.id, c.state, c.serial FROM certificates c"
	"  LEFT JOIN users u ON u.public_id = c.user_id WHERE c.id = $1"
	" UNION ALL SELECT 'cert', c.id, 100, 'serial', u.id, c.state, c.serial FROM certificates c"
	"  LEFT JOIN users u ON u.public_id = c.user_id WHERE upper(c.serial) = upper(replace($1, ':', ''))),"
	" best AS (SELECT DISTINCT ON (kind, id) * FROM hits ORDER BY kind, id, rank DESC),"
	" page AS (SELECT b.*, row_number() OVER (ORDER BY b.rank DESC, b.kind, b.id) AS n FROM"
	"  (SELECT * FROM best ORDER BY rank DESC, kind, id OFFSET $6::int LIMIT $5::int + 1) b)"
	" SELECT jsonb_build_object('results', coalesce(jsonb_agg(jsonb_build_object('kind', p.kind, 'id', p.id,"
	"   'matched', p.matched, 'rank', round(p.rank::numeric, 1), 'state', p.state, 'detail', p.detail,"
	"   'user_id', u.public_id, 'first_name', u.first_name, 'last_name', u.last_name,"
	"   'phone_e164', u.phone_e164, 'email', u.email) ORDER BY p.n) FILTER (WHERE p.n <= $5::int), '[]'::jsonb),"
	"  'next', CASE WHEN max(p.n) > $5::int THEN ($6::int + $5::int)::text END)::text"
	" FROM page p LEFT JOIN users u ON u.id = p.uid";

/* The folded text as a LIKE pattern: %text%, with LIKE's own characters escaped. */
static char *like_pattern(const char *fold)
{
	size_t n = strlen(fold);
	char *out = malloc(2 * n + 3), *w = out;

	if (out == NULL)
		return NULL;
	*w++ = '%';
	for (const char *s = fold; *s; s++) {
		if (*s == '%' || *s == '_' || *s == '\\')
			*w++ = '\\';
		*w++ = *s;
	}
	*w++ = '%';
	*w = '\0';
	return out;
}

static void search(struct adm_req *ar)
{
	char text[SEARCH_MAX + 8], e164[32], limit[16], after[32];
	const char *q = adm_query(ar, "q", text, sizeof(text)), *off = NULL;
	char *fold = NULL, *like = NULL;
	struct ra_err e = {0};

	if (q == NULL || *q == '\0' || strlen(q) > SEARCH_MAX) {
		ra_err_set(&e, RA_E_RULE, "q", "q (the text to search for, 1 to %d characters) is required",
			   SEARCH_MAX);
		adm_fail(ar, &e);
		return;
	}
	if (adm_page(ar, limit, sizeof(limit), after, sizeof(after), &off, &e) != 0) {
		adm_fail(ar, &e);
		return;
	}
	if (off != NULL && (strspn(off, "0123456789") != strlen(off) || strlen(off) > 9)) {
		ra_err_set(&e, RA_E_RULE, "after", "after must be the \"next\" value of the previous page");
		adm_fail(ar, &e);
		return;
	}
	adm_phone(ar, q, e164, sizeof(e164));
	fold = name_fold_query(q);
	/* a name is searched from two characters on: one would match nearly everybody */
	if (fold != NULL && strlen(fold) >= 2)
		like = like_pattern(fold);
	{
		const char *p[6] = {q, e164[0] ? e164 : NULL, like, fold ? fold : "", limit, off ? off : "0"};
		adm_read(ar, sql_search, 6, p, "result");
	}
	free(like);
	free(fold);
}

/* ---- queues ---------------------------------------------------------------------------- */

#define ORDER_STATES \
	"awaiting_payment|received|ident_invited|ident_passed|in_review|ident_failed|issuing|issued|rejected|cancelled"
#define IDENT_OUTCOMES "passed|review|rejected|failed"

/* $1 limit, $2 after (review id). */
static const char *sql_reviews =
	"WITH page AS (SELECT x.*, row_number() OVER (ORDER BY x.opened_at, x.id) AS rn FROM ("
	"  SELECT r.id, r.order_id, r.reason, r.opened_by, r.opened_at, o.shop_order_id, o.state,"
	"   concat_ws(' ', o.first_name, o.last_name) AS name, u.public_id AS user_id"
	"  FROM reviews r JOIN orders o ON o.id = r.order_id LEFT JOIN users u ON u.id = o.user_id"
	"  WHERE r.decision IS NULL AND ($2::bigint IS NULL OR (r.opened_at, r.id) >"
	"   (SELECT opened_at, id FROM reviews WHERE id = $2::bigint))"
	"  ORDER BY r.opened_at, r.id LIMIT $1::int + 1) x)" PAGE_JSON(
		"reviews",
		"jsonb_build_object('review_id', p.id, 'order_id', p.order_id, 'shop_order_id', p.shop_order_id,"
		" 'reason', p.reason, 'opened_by', p.opened_by, 'opened_at', p.opened_at, 'state', p.state,"
		" 'name', p.name, 'user_id', p.user_id)",
		"id");

/* $1 limit, $2 after (order id), $3 state, $4 since. */
static const char *sql_orders =
	"WITH page AS (SELECT x.*, row_number() OVER (ORDER BY x.created_at, x.id) AS rn FROM ("
	"  SELECT o.*, u.public_id AS user_public_id FROM orders o LEFT JOIN users u ON u.id = o.user_id"
	"  WHERE ($3::text IS NULL OR o.state = $3) AND ($4::timestamptz IS NULL OR o.created_at >= $4::timestamptz)"
	"  AND ($2::bigint IS NULL OR (o.created_at, o.id) > (SELECT created_at, id FROM orders WHERE id = $2::bigint))"
	"  ORDER BY o.created_at, o.id LIMIT $1::int + 1) x)" PAGE_JSON(
		"orders",
		"jsonb_build_object('id', p.id, 'shop_order_id', p.shop_order_id, 'shop_number', p.shop_number,"
		" 'state', p.state, 'user_public_id', p.user_public_id, 'first_name', p.first_name, 'last_name',"
		" p.last_name, 'email', p.email, 'contract_number', p.contract_number, 'created_at', p.created_at,"
		" 'updated_at', p.updated_at)",
		"id");

/* $1 limit, $2 after (identification id), $3 outcome, $4 order id.  No evidence: reading
 * that is GET /v1/admin/identifications/{order id}, audited. */
static const char *sql_idents =
	"WITH page AS (SELECT x.*, row_number() OVER (ORDER BY x.id) AS rn FROM ("
	"  SELECT i.id, i.order_id, i.tx, i.attempt, i.provider, i.result, i.reason, i.outcome, i.name_match,"
	"   i.first_name, i.last_name, i.decided_at, i.decided_by FROM identifications i"
	"  WHERE ($3::text IS NULL OR i.outcome = $3) AND ($4::bigint IS NULL OR i.order_id = $4::bigint)"
	"  AND ($2::bigint IS NULL OR i.id > $2::bigint) ORDER BY i.id LIMIT $1::int + 1) x)" PAGE_JSON(
		"identifications", "(to_jsonb(p) - 'rn')", "id");

/* ?since=: a date or a date and time (ISO 8601), so a typo is refused rather than cast. */
static int since_ok(const char *since, struct ra_err *e)
{
	size_t n = since ? strlen(since) : 0;

	if (since == NULL)
		return 0;
	if (n < 10 || n > 32 || strspn(since, "0123456789") != 4 || since[4] != '-' ||
	    strspn(since + 5, "0123456789") != 2 || since[7] != '-' || strspn(since + 8, "0123456789") != 2 ||
	    (n > 10 && since[10] != 'T' && since[10] != ' ') ||
	    strspn(since + 10, "0123456789T :.+-Z") != n - 10)
		return ra_err_set(e, RA_E_RULE, "since",
				  "since must be a date (2026-11-30) or date and time (2026-11-30T08:00Z)");
	return 0;
}

static void review_list(struct adm_req *ar)
{
	char limit[16], after[32];
	const char *off = NULL;
	struct ra_err e = {0};

	if (adm_page(ar, limit, sizeof(limit), after, sizeof(after), &off, &e) != 0 ||
	    adm_cursor_id(off, &e) != 0) {
		adm_fail(ar, &e);
		return;
	}
	{
		const char *p[2] = {limit, off};
		adm_read(ar, sql_reviews, 2, p, "review");
	}
}

static void order_list(struct adm_req *ar)
{
	char limit[16], after[32], st[32], since[40];
	const char *off = NULL, *state, *when;
	struct ra_err e = {0};
	int bad = 0;

	state = adm_choice(ar, "state", ORDER_STATES, st, sizeof(st), &e, &bad);
	when = adm_query(ar, "since", since, sizeof(since));
	if (bad || adm_page(ar, limit, sizeof(limit), after, sizeof(after), &off, &e) != 0 ||
	    adm_cursor_id(off, &e) != 0 || since_ok(when, &e) != 0) {
		adm_fail(ar, &e);
		return;
	}
	{
		const char *p[4] = {limit, off, state, when};
		adm_read(ar, sql_orders, 4, p, "order");
	}
}

static void ident_list(struct adm_req *ar)
{
	char limit[16], after[32], oc[16], order[32];
	const char *off = NULL, *outcome, *oid;
	struct ra_err e = {0};
	int bad = 0;

	outcome = adm_choice(ar, "outcome", IDENT_OUTCOMES, oc, sizeof(oc), &e, &bad);
	oid = adm_query(ar, "order", order, sizeof(order));
	if (!bad && oid && (strspn(oid, "0123456789") != strlen(oid) || strlen(oid) > 18 || !*oid)) {
		ra_err_set(&e, RA_E_RULE, "order", "order must be an RA order id");
		bad = 1;
	}
	if (bad || adm_page(ar, limit, sizeof(limit), after, sizeof(after), &off, &e) != 0 ||
	    adm_cursor_id(off, &e) != 0) {
		adm_fail(ar, &e);
		return;
	}
	{
		const char *p[4] = {limit, off, outcome, oid};
		adm_read(ar, sql_idents, 4, p, "identification");
	}
}

/* ---- API tokens (role admin) ------------------------------------------------------------ */

/* Never the hash.  expired: past its expiry (refused by admin_authorize like a revoked one). */
#define TOKEN_JSON                                                                                                  \
	"jsonb_build_object('id', t.id::text, 'name', t.name, 'role', t.role, 'user_id', s.user_id, 'created_at',"  \
	" t.created_at, 'expires_at', t.expires_at, 'revoked_at', t.revoked_at, 'active', t.revoked_at IS NULL AND" \
	" (t.expires_at IS NULL OR t.expires_at > now()))"

static const char *sql_tokens =
	"WITH page AS (SELECT x.*, row_number() OVER (ORDER BY x.id) AS rn FROM ("
	"  SELECT t.id, t.name, t.role, t.created_at, t.expires_at, t.revoked_at, s.user_id FROM support_tokens t"
	"  LEFT JOIN support_staff s ON s.name = t.name WHERE ($2::bigint IS NULL OR t.id > $2::bigint)"
	"  AND ($3::text IS NULL OR t.name = $3) ORDER BY t.id LIMIT $1::int + 1) x)" PAGE_JSON(
		"tokens",
		"jsonb_build_object('id', p.id::text, 'name', p.name, 'role', p.role, 'user_id', p.user_id, 'created_at',"
		" p.created_at, 'expires_at', p.expires_at, 'revoked_at', p.revoked_at, 'active', p.revoked_at IS NULL"
		" AND (p.expires_at IS NULL OR p.expires_at > now()))",
		"id");
static const char *sql_token_load =
	"SELECT " TOKEN_JSON
	"::text FROM support_tokens t LEFT JOIN support_staff s ON s.name = t.name"
	" WHERE t.id::text = $1 FOR UPDATE OF t";
static const char *sql_token_revoke =
	"UPDATE support_tokens SET revoked_at = now() WHERE id = $1::bigint AND revoked_at IS NULL";
/* The successor keeps name and role (and so the R19 link, kept per name in support_staff). */
static const char *sql_token_insert =
	"INSERT INTO support_tokens (name, role, token_hash, expires_at)"
	" SELECT name, role, $2, CASE WHEN $3::int > 0 THEN now() + make_interval(days => $3::int) END"
	" FROM support_tokens WHERE id = $1::bigint";

static void token_list(struct adm_req *ar)
{
	char limit[16], after[32], name[80];
	const char *off = NULL, *who = adm_query(ar, "name", name, sizeof(name));
	struct ra_err e = {0};

	if (adm_page(ar, limit, sizeof(limit), after, sizeof(after), &off, &e) != 0 ||
	    adm_cursor_id(off, &e) != 0) {
		adm_fail(ar, &e);
		return;
	}
	{
		const char *p[3] = {limit, off, who};
		adm_read(ar, sql_tokens, 3, p, "token");
	}
}

static const char *tstr(const json_t *o, const char *k)
{
	return json_string_value(json_object_get(o, k));
}

static int plan_token_revoke(struct adm_req *ar, json_t *t, struct ra_err *e)
{
	const char *id = tstr(t, "id");
	const char *p[1] = {id};

	if (!json_is_null(json_object_get(t, "revoked_at")))
		return ra_err_set(e, RA_E_CONFLICT, "id", "token %s is already revoked: nothing changed", id);
	if (adm_stmt(ar, sql_token_revoke, 1, p) != 0 ||
	    adm_audit(ar, "token.revoked", "token", id, ar->reason,
		      json_pack("{s:O, s:O}", "name", json_object_get(t, "name"), "role",
				json_object_get(t, "role"))) != 0) {
		*e = ar->err;
		return e->code;
	}
	ar->reply = json_deep_copy(t);
	json_object_set_new(ar->reply, "active", json_false());
	json_object_set_new(ar->reply, "state", json_string("revoked"));
	return 0;
}

/* rotate: a new token with the same name and role, the old one revoked, one transaction.  The
 * new token is in the answer once (only its hash is stored); a dry run shows none. */
static int plan_token_rotate(struct adm_req *ar, json_t *t, struct ra_err *e)
{
	const char *id = tstr(t, "id");
	json_t *days_j = json_object_get(ar->body, "expires_in_days");
	json_int_t days = json_integer_value(days_j);
	char token[SECRET_TOKEN_MAX], hash[SECRET_HASH_HEX_MAX], d[16];
	const char *pi[3] = {id, hash, d};
	int rc;

	if (days_j && (!json_is_integer(days_j) || days < 1 || days > 3650))
		return ra_err_set(e, RA_E_RULE, "expires_in_days",
				  "expires_in_days must be a number from 1 to 3650");
	if (!json_is_null(json_object_get(t, "revoked_at")))
		return ra_err_set(e, RA_E_CONFLICT, "id",
				  "token %s is revoked: a revoked token is not rotated", id);
	if (secret_random_token(token, sizeof(token)) != 0 ||
	    secret_token_hash(token, hash, sizeof(hash)) != 0)
		return ra_err_set(e, RA_E_INTERNAL, "", "cannot make a random token");
	snprintf(d, sizeof(d), "%lld", (long long)days);
	rc = adm_stmt(ar, sql_token_insert, 3, pi);
	if (rc == 0)
		rc = adm_stmt(ar, sql_token_revoke, 1, pi);
	if (rc == 0)
		rc = adm_audit(ar, "token.rotated", "token", id, ar->reason,
			       json_pack("{s:O, s:O, s:I}", "name", json_object_get(t, "name"), "role",
					 json_object_get(t, "role"), "expires_in_days", days));
	if (rc != 0) {
		OPENSSL_cleanse(token, sizeof(token));
		*e = ar->err;
		return e->code;
	}
	ar->reply = json_pack("{s:s, s:O, s:O, s:s}", "replaced_id", id, "name", json_object_get(t, "name"),
			      "role", json_object_get(t, "role"), "state", "rotated");
	if (days > 0)
		json_object_set_new(ar->reply, "expires_in_days", json_integer(days));
	if (!ar->dry_run)
		json_object_set_new(ar->reply, "token", json_string(token));
	OPENSSL_cleanse(token, sizeof(token));
	return 0;
}

static const struct adm_tx tx_token_revoke = {"token", plan_token_revoke};
static const struct adm_tx tx_token_rotate = {"token", plan_token_rotate};

static void token_revoke(struct adm_req *ar)
{
	const char *p[1] = {ar->id};
	adm_tx_run(ar, &tx_token_revoke, sql_token_load, 1, p);
}

static void token_rotate(struct adm_req *ar)
{
	const char *p[1] = {ar->id};
	adm_tx_run(ar, &tx_token_rotate, sql_token_load, 1, p);
}

const struct adm_route adm_routes_desk[] = {
	{"GET", "/v1/admin/tokens", "admin", "admin_token_list", token_list},
	{"POST", "/v1/admin/tokens/{id}/revoke", "admin", "admin_token_revoke", token_revoke},
	{"POST", "/v1/admin/tokens/{id}/rotate", "admin", "admin_token_rotate", token_rotate},
	{"GET", "/v1/admin/search", "support", "admin_search", search},
	{"GET", "/v1/admin/reviews", "support", "admin_review_list", review_list},
	{"GET", "/v1/admin/orders", "support", "admin_order_list", order_list},
	{"GET", "/v1/admin/identifications", "support", "admin_ident_list", ident_list},
	{NULL, NULL, NULL, NULL, NULL},
};
