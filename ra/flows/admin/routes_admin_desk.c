/*
 * routes_admin_desk.c - the support desk's look-ups (issue #17): one search over everything a
 * caller may quote (mobile number in any notation, user ID, name, e-mail, shop order number,
 * RA order id, certificate id and serial), ranked and paged.
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

const struct adm_route adm_routes_desk[] = {
	{"GET", "/v1/admin/search", "support", "admin_search", search},
	{NULL, NULL, NULL, NULL, NULL},
};
