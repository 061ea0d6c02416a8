/*
 * test_intake.c - order intake against a real PostgreSQL, the real `ra serve`, and the real
 * test peers (ident provider, SMTP sink): WooCommerce deliveries signed as WooCommerce signs
 * them, repeats and concurrency (one order), refusals that change nothing (R16 audit of the
 * business ones), users by mobile number (R3), contracts and quota (R6), reuse of an earlier
 * identification (R17), and the ident_invite job with the SMTP server going away and back.
 */
#include <criterion/criterion.h>
#include <jansson.h>
#include <libpq-fe.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <dirent.h>
#include <unistd.h>

#include "tests/lib/rt.h"
#include "tests/lib/ts_peers.h"

/* generated-secret strength (32 bytes of entropy): config_check refuses weaker ones */
#define SECRET "test-woo-5f1c0e9a7b3d2c4e6f8a9b0c1d2e3f4a5b6c7d8e"
#define API_KEY "test-api-key"
#define COMPANY "trustra"
#define PRODUCTS                                                                                               \
	"RA_PRODUCTS={\"QES-5Y\": {\"class\": \"qualified\", \"validity_years\": 5, \"contract_months\": 12}," \
	" \"AES-10Y\": {\"class\": \"advanced\"}}"

/* ---- peers (tests/lib/peers.sh) ------------------------------------------------------- */

static char peer_dir[512];

static int peer_start(const char *name, const char *const *extra)
{
	if (peer_dir[0] == '\0') {
		char *d = rt_tmpdir();
		snprintf(peer_dir, sizeof(peer_dir), "%s", d);
		free(d);
	}
	return ts_peer_start(peer_dir, name, extra);
}

static void peer_stop(const char *name)
{
	ts_peer_stop(peer_dir, name);
}

static void peers_fini(void)
{
	if (peer_dir[0])
		ts_peer_stop_all(peer_dir);
}

TestSuite(intake, .fini = peers_fini, .timeout = 120);

/* ---- deliveries ------------------------------------------------------------------------- */

static char *fixture(const char *name)
{
	char path[512];
	const char *root = getenv("RA_TEST_ROOT");
	char *s;

	snprintf(path, sizeof(path), "%s/tests/fixtures/%s", root ? root : ".", name);
	s = rt_read_file(path, NULL);
	cr_assert_not_null(s, "fixture %s", path);
	return s;
}

/* base64(HMAC-SHA256(body, secret)), as WooCommerce computes X-WC-Webhook-Signature. */
static void sign(const char *secret, const char *body, size_t len, char *out)
{
	unsigned char mac[32];
	unsigned int n = sizeof(mac);

	HMAC(EVP_sha256(), secret, (int)strlen(secret), (const unsigned char *)body, len, mac, &n);
	EVP_EncodeBlock((unsigned char *)out, mac, (int)n);
}

struct post {
	const char *base;
	const char *body;
	size_t len;
	const char *secret; /* NULL: no signature header */
	long status;
	char *answer;
};

static long post_raw(struct post *p)
{
	char url[128], sig[128], hsig[160];
	const char *h[] = {
		"Content-Type: application/json", "X-WC-Webhook-Topic: order.updated",
		"X-WC-Webhook-Resource: order",   "User-Agent: WooCommerce/8.9.1 Hookshot (WordPress/6.5)",
		p->secret ? hsig : NULL,          NULL};
	struct rt_resp r;

	snprintf(url, sizeof(url), "%s/v1/shop/woocommerce", p->base);
	if (p->secret) {
		sign(p->secret, p->body, p->len, sig);
		snprintf(hsig, sizeof(hsig), "X-WC-Webhook-Signature: %s", sig);
	}
	cr_assert_eq(rt_http("POST", url, h, p->body, p->len, &r), 0);
	p->status = r.status;
	p->answer = r.body;
	return r.status;
}

/* Posts body signed with the right secret; returns the status, answer to *answer if wanted. */
static long deliver(const struct rt_ra *ra, const char *body, char **answer)
{
	struct post p = {.base = ra->base, .body = body, .len = strlen(body), .secret = SECRET};

	post_raw(&p);
	if (answer)
		*answer = p.answer;
	else
		free(p.answer);
	return p.status;
}

/* The fixture with changes: id, status, phone, contract (NULL: keep), first SKU. */
static char *order_json(const char *fx, long id, const char *status, const char *phone, const char *contract,
			const char *sku)
{
	char *text = fixture(fx);
	json_t *o = json_loads(text, 0, NULL);
	char *out;

	cr_assert_not_null(o);
	free(text);
	if (id)
		json_object_set_new(o, "id", json_integer(id));
	if (status)
		json_object_set_new(o, "status", json_string(status));
	if (phone)
		json_object_set_new(json_object_get(o, "billing"), "phone", json_string(phone));
	if (contract)
		json_object_set_new(
			o, "meta_data",
			json_pack("[{s:i, s:s, s:s}]", "id", 1, "key", "contract_number", "value", contract));
	if (sku)
		json_object_set_new(json_array_get(json_object_get(o, "line_items"), 0), "sku",
				    json_string(sku));
	out = json_dumps(o, JSON_COMPACT);
	json_decref(o);
	return out;
}

/* ---- database ----------------------------------------------------------------------------- */

static long count(const char *db, const char *sql)
{
	char *v = rt_sql(db, sql);
	long n = v ? atol(v) : -1;

	free(v);
	return n;
}

/* Everything intake may write, as one digest: any inserted, changed or deleted row shows.
 * Of a job only what intake writes: the runner retries the (unconfigured) invitation meanwhile. */
static char *digest(const char *db)
{
	return rt_sql(
		db,
		"SELECT md5(coalesce(string_agg(t, '|' ORDER BY t), '')) FROM ("
		" SELECT 'o' || row_to_json(x)::text t FROM orders x UNION ALL"
		" SELECT 'i' || row_to_json(x)::text FROM order_items x UNION ALL"
		" SELECT 'c' || row_to_json(x)::text FROM cert_requests x UNION ALL"
		" SELECT 'u' || row_to_json(x)::text FROM users x UNION ALL"
		" SELECT 'k' || row_to_json(x)::text FROM contracts x UNION ALL"
		" SELECT 'j' || json_build_array(id, kind, payload, idempotency_key)::text FROM jobs) s");
}

static void start_ra(struct rt_ra *ra, const char *db, const char *const *extra)
{
	/* a qualified product needs the PDS URL at start-up (fail fast), even with no CA running */
	const char *env[24] = {"RA_SHOP_WOOCOMMERCE_SECRET=" SECRET,
			       PRODUCTS,
			       "RA_DEFAULT_COUNTRY=AT",
			       "RA_JOBS_BACKOFF_MS=200",
			       "RA_JOBS_BACKOFF_MAX_MS=1000",
			       "RA_JOBS_POLL_MS=200",
			       "RA_LOG_LEVEL=debug",
			       "RA_CA_PDS_URL=https://pki.example.test/pds_en.pdf"};
	int n = 8;

	for (; extra && *extra && n < 23; extra++)
		env[n++] = *extra;
	env[n] = NULL;
	cr_assert_eq(rt_ra_start(ra, db, env), 0);
}

static char *contract_create(const char *db, const char *org, const char *quota)
{
	char dbenv[1024], *out = NULL, *nl;
	const char *env[] = {dbenv, NULL};

	snprintf(dbenv, sizeof(dbenv), "RA_DATABASE_URL=%s", db);
	cr_assert_eq(rt_ra_cmd(env, &out, "contract", "create", "--org", org, "--org-id", "FN-123456a",
			       "--quota", quota, "--actor", "alice", NULL),
		     0, "%s", out ? out : "");
	if ((nl = strchr(out, '\n')) != NULL)
		*nl = '\0';
	return out;
}

/* Closes a contract through the admin API, as `ractl contract close` does. */
static void contract_close(const struct rt_ra *ra, const char *db, const char *num)
{
	char url[256], auth[256], *tok = rt_token(db, "ada", "admin");
	const char *h[] = {auth, "Content-Type: application/json", NULL};
	const char *body = "{\"reason\": \"the contract ended\"}";
	struct rt_resp r;

	snprintf(url, sizeof(url), "%s/v1/admin/contracts/%s/close", ra->base, num);
	snprintf(auth, sizeof(auth), "Authorization: Bearer %s", tok);
	cr_assert_eq(rt_http("POST", url, h, body, strlen(body), &r), 0);
	cr_assert_eq(r.status, 200, "contract close: %ld %s", r.status, r.body ? r.body : "");
	rt_resp_free(&r);
	free(tok);
}

/* Concurrent deliveries: no Criterion asserts off the main thread, results checked after. */
struct shot {
	const char *base;
	const char *body;
	long status;
	char *answer;
};

static void *shoot(void *arg)
{
	struct shot *s = arg;
	char url[128], sig[128], hsig[160];
	const char *h[] = {"Content-Type: application/json", "X-WC-Webhook-Topic: order.updated", hsig, NULL};
	struct rt_resp r;

	snprintf(url, sizeof(url), "%s/v1/shop/woocommerce", s->base);
	sign(SECRET, s->body, strlen(s->body), sig);
	snprintf(hsig, sizeof(hsig), "X-WC-Webhook-Signature: %s", sig);
	s->status = rt_http("POST", url, h, s->body, strlen(s->body), &r) == 0 ? r.status : -1;
	s->answer = r.body;
	return NULL;
}

static void shoot_all(struct shot *s, int n)
{
	pthread_t t[32];

	cr_assert_leq(n, 32);
	for (int i = 0; i < n; i++)
		cr_assert_eq(pthread_create(&t[i], NULL, shoot, &s[i]), 0);
	for (int i = 0; i < n; i++)
		pthread_join(t[i], NULL);
}

/* ---- tests ---------------------------------------------------------------------------------- */

Test(intake, r16_valid_delivery_makes_one_order_committed_before_the_200)
{
	char *db = rt_db_new(), *body = fixture("woocommerce-order-paid.json"), *ans = NULL, *v;
	struct rt_ra ra;

	start_ra(&ra, db, NULL);
	cr_assert_eq(deliver(&ra, body, &ans), 200, "%s", ans);
	cr_expect(strstr(ans, "\"result\":\"created\"") != NULL, "%s", ans);
	/* The 200 came after COMMIT, so everything is visible to another connection right away. */
	cr_expect_eq(
		count(db, "SELECT count(*) FROM orders WHERE shop_order_id = 4711 AND state = 'received'"),
		1);
	cr_expect_eq(count(db,
			   "SELECT count(*) FROM order_items WHERE line_item_id = 881 AND sku = 'QES-5Y'"
			   " AND class = 'qualified' AND validity_years = 5 AND contract_months = 12"),
		     1);
	cr_expect_eq(count(db, "SELECT count(*) FROM cert_requests WHERE class = 'qualified'"), 1);
	v = rt_sql(db, "SELECT phone_e164 FROM users");
	cr_expect_str_eq(v, "+436641234567", "R3: stored in E.164");
	free(v);
	cr_expect_eq(
		count(db, "SELECT count(*) FROM users WHERE public_id ~ '^[0-9A-Z]{4}(-[0-9A-Z]{4}){3}$'"),
		1);
	cr_expect_eq(count(db,
			   "SELECT count(*) FROM jobs WHERE kind = 'ident_invite'"
			   " AND payload->>'order_id' = (SELECT id::text FROM orders)"),
		     1, "outbox: the invitation job commits with the order");
	cr_expect_eq(count(db,
			   "SELECT count(*) FROM audit_log WHERE action = 'order.received' AND actor ="
			   " 'shop:woocommerce' AND object_id = (SELECT id::text FROM orders)"),
		     1, "R16");
	cr_expect_eq(count(db, "SELECT count(*) FROM audit_log WHERE action = 'user.created'"), 1, "R16");
	free(ans);
	rt_ra_stop(&ra, SIGTERM);
	free(body);
	free(db);
}

Test(intake, twenty_concurrent_repeats_and_later_updates_make_one_order)
{
	char *db = rt_db_new(), *body = fixture("woocommerce-order-paid.json");
	char *completed = order_json("woocommerce-order-paid.json", 0, "completed", NULL, NULL, NULL);
	struct shot s[20];
	struct rt_ra ra;

	start_ra(&ra, db, NULL);
	for (int i = 0; i < 20; i++)
		s[i] = (struct shot){.base = ra.base, .body = body};
	shoot_all(s, 20);
	for (int i = 0; i < 20; i++) {
		cr_expect_eq(s[i].status, 200, "delivery %d: %ld %s", i, s[i].status, s[i].answer);
		free(s[i].answer);
	}
	/* order.updated fires again (completed, then a stale processing): still one of each. */
	cr_expect_eq(deliver(&ra, completed, NULL), 200);
	cr_expect_eq(deliver(&ra, body, NULL), 200);
	cr_expect_eq(count(db, "SELECT count(*) FROM orders"), 1);
	cr_expect_eq(count(db, "SELECT count(*) FROM order_items"), 1);
	cr_expect_eq(count(db, "SELECT count(*) FROM cert_requests"), 1);
	cr_expect_eq(count(db, "SELECT count(*) FROM users"), 1);
	cr_expect_eq(count(db, "SELECT count(*) FROM jobs WHERE kind = 'ident_invite'"), 1);
	cr_expect_eq(count(db, "SELECT count(*) FROM audit_log WHERE action = 'order.received'"), 1);
	rt_ra_stop(&ra, SIGTERM);
	free(completed);
	free(body);
	free(db);
}

static void expect_error(const char *ans, const char *error, const char *field)
{
	json_t *j = json_loads(ans, 0, NULL);

	cr_assert_not_null(j, "error body is JSON: %s", ans);
	cr_expect_str_eq(json_string_value(json_object_get(j, "error")), error, "%s", ans);
	cr_expect_not_null(json_string_value(json_object_get(j, "message")), "%s", ans);
	cr_expect_str_eq(json_string_value(json_object_get(j, "field")), field, "%s", ans);
	json_decref(j);
}

Test(intake, r16_refused_deliveries_change_nothing)
{
	char *db = rt_db_new(), *body = fixture("woocommerce-order-paid.json"), *before, *after, *ans = NULL;
	char *cancel = order_json("woocommerce-order-paid.json", 0, "cancelled", NULL, NULL, NULL);
	char *nophone = order_json("woocommerce-order-paid.json", 4800, NULL, NULL, NULL, NULL);
	char *sku = order_json("woocommerce-order-paid.json", 4801, NULL, NULL, NULL, "NO-SUCH-SKU");
	char *landline = order_json("woocommerce-order-paid.json", 4802, NULL, "+43 1 58801 0", NULL, NULL);
	struct post p = {0};
	struct rt_ra ra;
	json_t *o;

	o = json_loads(nophone, 0, NULL);
	json_object_del(json_object_get(o, "billing"), "phone");
	free(nophone);
	nophone = json_dumps(o, JSON_COMPACT);
	json_decref(o);

	start_ra(&ra, db, NULL);
	cr_assert_eq(deliver(&ra, body, NULL), 200);
	before = digest(db);

	/* A cancellation with a wrong signature: 401, and the order stays. */
	p = (struct post){.base = ra.base, .body = cancel, .len = strlen(cancel), .secret = "wrong-secret"};
	cr_expect_eq(post_raw(&p), 401);
	expect_error(p.answer, "unauthorized", "X-WC-Webhook-Signature");
	free(p.answer);
	p = (struct post){.base = ra.base, .body = cancel, .len = strlen(cancel), .secret = NULL};
	cr_expect_eq(post_raw(&p), 401, "unsigned");
	free(p.answer);
	/* Signed over the whole body, received truncated: the signature no longer matches. */
	p = (struct post){.base = ra.base, .body = cancel, .len = strlen(cancel), .secret = SECRET};
	{
		char sig[128], hsig[160], url[128];
		const char *h[] = {"Content-Type: application/json", "X-WC-Webhook-Topic: order.updated",
				   hsig, NULL};
		struct rt_resp r;

		sign(SECRET, cancel, strlen(cancel), sig);
		snprintf(hsig, sizeof(hsig), "X-WC-Webhook-Signature: %s", sig);
		snprintf(url, sizeof(url), "%s/v1/shop/woocommerce", ra.base);
		cr_assert_eq(rt_http("POST", url, h, cancel, strlen(cancel) / 2, &r), 0);
		cr_expect_eq(r.status, 401, "truncated in transit: %s", r.body);
		rt_resp_free(&r);
	}
	/* Truncated and signed as it is: 400, not JSON. */
	p = (struct post){.base = ra.base, .body = cancel, .len = strlen(cancel) / 2, .secret = SECRET};
	cr_expect_eq(post_raw(&p), 400, "%s", p.answer);
	expect_error(p.answer, "invalid", "body");
	free(p.answer);

	cr_expect_eq(deliver(&ra, nophone, &ans), 400, "%s", ans);
	expect_error(ans, "invalid", "billing.phone");
	free(ans);
	cr_expect_eq(deliver(&ra, sku, &ans), 422, "%s", ans);
	expect_error(ans, "rule", "line_items[0].sku");
	cr_expect(strstr(ans, "NO-SUCH-SKU") != NULL, "the SKU is named: %s", ans);
	free(ans);
	cr_expect_eq(deliver(&ra, landline, &ans), 422, "R3: a landline is refused: %s", ans);
	expect_error(ans, "rule", "billing.phone");
	free(ans);
	cr_expect_eq(deliver(&ra, sku, NULL), 422, "a repeat is refused the same way");

	after = digest(db);
	cr_expect_str_eq(after, before, "refused deliveries changed the order tables");
	/* ... but the business refusals are kept for support, audited once each (R16). */
	cr_expect_eq(count(db,
			   "SELECT deliveries FROM intake_rejections WHERE shop_order_id = 4801"
			   " AND reason = 'unknown_sku' AND message LIKE '%NO-SUCH-SKU%'"),
		     2);
	cr_expect_eq(count(db,
			   "SELECT count(*) FROM intake_rejections WHERE shop_order_id = 4802"
			   " AND reason = 'phone_not_mobile'"),
		     1);
	cr_expect_eq(count(db, "SELECT count(*) FROM audit_log WHERE action = 'order.rejected'"), 2);
	cr_expect_eq(count(db, "SELECT count(*) FROM intake_rejections WHERE shop_order_id IN (4711, 4800)"),
		     0, "malformed and unauthenticated deliveries are not recorded");
	free(before);
	free(after);
	rt_ra_stop(&ra, SIGTERM);
	free(cancel);
	free(nophone);
	free(sku);
	free(landline);
	free(body);
	free(db);
}

/*
 * Issue #20: an order whose first name is an escape sequence (set the window title, ring the
 * bell, clear the screen) is refused with 422 naming the field, and nothing is stored: no
 * order, user or rejection record a support person would later print.
 */
Test(intake, control_characters_in_a_name_are_refused_with_422_and_nothing_is_stored)
{
	char *db = rt_db_new(), *before, *after, *ans = NULL, *body,
	     *fx = fixture("woocommerce-order-paid.json");
	static const char *bad[][2] = {
		{"first_name", "\x1b]0;owned\x07\x1b[2J"},
		{"last_name", "M\xc3\xbcller\r\nok - faked line"},
		{"first_name", "Anna\xc2\x9b" /* C1 CSI */},
		{"last_name", "Gruber\xe2\x80\xae" /* U+202E right-to-left override */},
		{"first_name", "Eva\xf4\x8f\xbf\xbf" /* U+10FFFF, a noncharacter */},
		{"last_name", "Huber\xcd\xb8" /* U+0378, unassigned */},
	};
	struct rt_ra ra;

	start_ra(&ra, db, NULL);
	before = digest(db);
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		json_t *o = json_loads(fx, 0, NULL);
		char field[64];

		cr_assert_not_null(o);
		json_object_set_new(o, "id", json_integer(4900 + (json_int_t)i));
		json_object_set_new(json_object_get(o, "billing"), bad[i][0], json_string(bad[i][1]));
		body = json_dumps(o, JSON_COMPACT);
		json_decref(o);
		snprintf(field, sizeof(field), "billing.%s", bad[i][0]);
		cr_expect_eq(deliver(&ra, body, &ans), 422, "case %zu: %s", i, ans);
		expect_error(ans, "rule", field);
		cr_expect(strchr(ans, 0x1b) == NULL, "the answer carries the raw escape: %s", ans);
		free(ans);
		free(body);
	}
	after = digest(db);
	cr_expect_str_eq(after, before, "a refused name changed the order tables");
	cr_expect_eq(count(db, "SELECT count(*) FROM intake_rejections"), 0, "nothing recorded");
	cr_expect_eq(count(db, "SELECT count(*) FROM users"), 0, "no user");
	/* names from anywhere on earth still pass */
	{
		json_t *o = json_loads(fx, 0, NULL);
		json_object_set_new(o, "id", json_integer(4999));
		json_object_set_new(
			json_object_get(o, "billing"), "first_name",
			json_string(
				"Zo\xc3\xab \xe7\x8e\x8b \xd8\xb9\xd9\x84\xd9\x8a O'Brien-\xc5\x81\xc3\xb3"
				"d\xc5\xba"));
		body = json_dumps(o, JSON_COMPACT);
		json_decref(o);
		cr_expect_eq(deliver(&ra, body, &ans), 200, "%s", ans);
		free(ans);
		free(body);
	}
	free(fx);
	free(before);
	free(after);
	rt_ra_stop(&ra, SIGTERM);
	free(db);
}

Test(intake, ping_gets_200_and_creates_nothing)
{
	char *db = rt_db_new(), *before, *after, url[128];
	const char *h[] = {"Content-Type: application/x-www-form-urlencoded", NULL};
	struct rt_resp r;
	struct rt_ra ra;

	start_ra(&ra, db, NULL);
	before = digest(db);
	snprintf(url, sizeof(url), "%s/v1/shop/woocommerce", ra.base);
	cr_assert_eq(rt_http("POST", url, h, "webhook_id=17", 13, &r), 0);
	cr_expect_eq(r.status, 200, "%s", r.body);
	rt_resp_free(&r);
	after = digest(db);
	cr_expect_str_eq(after, before);
	free(before);
	free(after);
	rt_ra_stop(&ra, SIGTERM);
	free(db);
}

Test(intake, r3_r6_two_notations_of_one_number_make_one_user_and_contract_binds_organisation)
{
	char *db = rt_db_new(), *paid = fixture("woocommerce-order-paid.json"), *ans = NULL;
	char *v2 = fixture("woocommerce-order-variant2.json"), *num, *v;
	struct rt_ra ra;

	num = contract_create(db, "Gruber Bau GmbH", "2");
	cr_assert_str_eq(num, "RA-C-000001", "the fixture quotes the first contract number");
	start_ra(&ra, db, NULL);
	cr_assert_eq(deliver(&ra, paid, NULL), 200); /* +43 664 1234567 */
	cr_assert_eq(deliver(&ra, v2, &ans), 200, "%s", ans); /* 0664 1234567, default country AT */
	free(ans);
	cr_expect_eq(count(db, "SELECT count(*) FROM users"), 1, "R3: one user per mobile number");
	cr_expect_eq(count(db, "SELECT count(DISTINCT user_id) FROM orders WHERE user_id IS NOT NULL"), 1);
	cr_expect_eq(count(db, "SELECT count(*) FROM orders"), 2);
	cr_expect_eq(count(db, "SELECT count(*) FROM audit_log WHERE action = 'user.created'"), 1);
	/* R6: quota taken for both certificates; variant-2 items carry the contract's organisation. */
	cr_expect_eq(count(db, "SELECT used FROM contracts"), 2);
	cr_expect_eq(count(db,
			   "SELECT count(*) FROM cert_requests c JOIN orders o ON o.id = c.order_id"
			   " WHERE o.shop_order_id = 4712 AND c.organisation = 'Gruber Bau GmbH'"
			   " AND c.organisation_id = 'FN-123456a'"),
		     2);
	v = rt_sql(db, "SELECT string_agg(function, ',' ORDER BY function) FROM cert_requests");
	cr_expect_str_eq(v, "Geschäftsführerin,Prokuristin", "R4: the function stays the shop's");
	free(v);
	cr_expect_eq(
		count(db,
		      "SELECT count(*) FROM orders WHERE shop_order_id = 4712 AND contract_id IS NOT NULL"
		      " AND quota_taken = 2"),
		1);
	cr_expect_eq(count(db,
			   "SELECT count(*) FROM audit_log WHERE action = 'contract.created'"
			   " AND actor = 'support:alice'"),
		     1, "R16: who created the contract");
	rt_ra_stop(&ra, SIGTERM);
	free(num);
	free(v2);
	free(paid);
	free(db);
}

Test(intake, r6_quota_one_two_concurrent_orders_exactly_one_succeeds)
{
	char *db = rt_db_new(), *num = contract_create(db, "Gruber Bau GmbH", "1");
	char *a = order_json("woocommerce-order-paid.json", 5001, NULL, NULL, num, NULL);
	char *b = order_json("woocommerce-order-paid.json", 5002, NULL, "+43 660 1111111", num, NULL);
	struct shot s[2];
	struct rt_ra ra;
	int ok = 0, refused = 0;

	start_ra(&ra, db, NULL);
	s[0] = (struct shot){.base = ra.base, .body = a};
	s[1] = (struct shot){.base = ra.base, .body = b};
	shoot_all(s, 2);
	for (int i = 0; i < 2; i++) {
		ok += s[i].status == 200;
		if (s[i].status == 422 && strstr(s[i].answer, "exhausted") &&
		    strstr(s[i].answer, "meta_data.contract_number"))
			refused++;
		free(s[i].answer);
	}
	cr_expect_eq(ok, 1, "R6: exactly one order takes the last place");
	cr_expect_eq(refused, 1, "R6: the other is refused as exhausted");
	cr_expect_eq(count(db, "SELECT used FROM contracts"), 1);
	cr_expect_eq(count(db, "SELECT count(*) FROM orders"), 1, "the refused order left nothing behind");
	cr_expect_eq(count(db,
			   "SELECT count(*) FROM audit_log WHERE action = 'order.rejected'"
			   " AND reason = 'contract_exhausted'"),
		     1, "R6, R16: the refusal is audited");
	rt_ra_stop(&ra, SIGTERM);
	free(a);
	free(b);
	free(num);
	free(db);
}

Test(intake, r6_unknown_and_closed_contracts_are_refused_with_their_reason)
{
	char *db = rt_db_new(), *num = contract_create(db, "Gruber Bau GmbH", "5"), *ans = NULL, *before,
	     *after;
	char *unknown = order_json("woocommerce-order-paid.json", 5101, NULL, NULL, "RA-C-999999", NULL);
	char *closed = order_json("woocommerce-order-paid.json", 5102, NULL, NULL, num, NULL);
	struct rt_ra ra;

	start_ra(&ra, db, NULL);
	contract_close(&ra, db, num);
	before = digest(db);
	cr_expect_eq(deliver(&ra, unknown, &ans), 422);
	cr_expect(strstr(ans, "unknown") != NULL, "%s", ans);
	expect_error(ans, "rule", "meta_data.contract_number");
	free(ans);
	cr_expect_eq(deliver(&ra, closed, &ans), 422);
	cr_expect(strstr(ans, "closed") != NULL, "%s", ans);
	free(ans);
	after = digest(db);
	cr_expect_str_eq(after, before);
	cr_expect_eq(count(db,
			   "SELECT count(*) FROM audit_log WHERE action = 'order.rejected'"
			   " AND reason IN ('contract_unknown', 'contract_closed')"),
		     2, "R6, R16");
	free(before);
	free(after);
	rt_ra_stop(&ra, SIGTERM);
	free(unknown);
	free(closed);
	free(num);
	free(db);
}

Test(intake, pending_waits_paid_invites_and_cancel_releases_quota)
{
	char *db = rt_db_new(), *num = contract_create(db, "Gruber Bau GmbH", "1");
	char *pending = order_json("woocommerce-order-paid.json", 6001, "on-hold", NULL, num, NULL);
	char *paid = order_json("woocommerce-order-paid.json", 6001, "processing", NULL, num, NULL);
	char *cancel = order_json("woocommerce-order-paid.json", 6001, "refunded", NULL, num, NULL);
	char *early_cancel = order_json("woocommerce-order-paid.json", 6002, "cancelled", NULL, NULL, NULL);
	char *late_paid = order_json("woocommerce-order-paid.json", 6002, "processing", NULL, NULL, NULL);
	struct rt_ra ra;

	start_ra(&ra, db, NULL);
	cr_assert_eq(deliver(&ra, pending, NULL), 200);
	cr_expect_eq(
		count(db, "SELECT count(*) FROM orders WHERE state = 'awaiting_payment' AND user_id IS NULL"),
		1);
	cr_expect_eq(count(db, "SELECT count(*) FROM jobs"), 0, "nothing happens before payment");
	cr_expect_eq(count(db, "SELECT used FROM contracts"), 0);
	cr_assert_eq(deliver(&ra, paid, NULL), 200);
	cr_expect_eq(
		count(db, "SELECT count(*) FROM orders WHERE state = 'received' AND user_id IS NOT NULL"), 1);
	cr_expect_eq(count(db, "SELECT count(*) FROM jobs WHERE kind = 'ident_invite'"), 1);
	cr_expect_eq(count(db, "SELECT used FROM contracts"), 1);
	cr_assert_eq(deliver(&ra, cancel, NULL), 200);
	cr_expect_eq(
		count(db, "SELECT count(*) FROM orders WHERE shop_order_id = 6001 AND state = 'cancelled'"),
		1);
	cr_expect_eq(count(db, "SELECT used FROM contracts"), 0, "R6: the place is given back");
	cr_expect_eq(count(db, "SELECT count(*) FROM audit_log WHERE action = 'order.cancelled'"), 1);

	/* A cancellation seen first leaves a tombstone: a late 'processing' cannot revive it. */
	cr_assert_eq(deliver(&ra, early_cancel, NULL), 200);
	cr_assert_eq(deliver(&ra, late_paid, NULL), 200);
	cr_expect_eq(
		count(db, "SELECT count(*) FROM orders WHERE shop_order_id = 6002 AND state = 'cancelled'"),
		1);
	cr_expect_eq(count(db,
			   "SELECT count(*) FROM order_items i JOIN orders o ON o.id = i.order_id"
			   " WHERE o.shop_order_id = 6002"),
		     0);

	/* an issued order the shop cancels: test_ident, shop_cancel_of_an_issued_order_is_left_to_support_once
	 * (the order reaches issued through the whole flow there) */
	rt_ra_stop(&ra, SIGTERM);
	free(pending);
	free(paid);
	free(cancel);
	free(early_cancel);
	free(late_paid);
	free(num);
	free(db);
}

Test(intake, r17_earlier_identification_reused_only_in_period_and_with_same_names)
{
	char *db = rt_db_new(), *first = fixture("woocommerce-order-paid.json");
	char *recent = order_json("woocommerce-order-paid.json", 7001, NULL, NULL, NULL, NULL);
	char *renamed = order_json("woocommerce-order-paid.json", 7002, NULL, NULL, NULL, NULL);
	char *old = order_json("woocommerce-order-paid.json", 7003, NULL, NULL, NULL, NULL);
	char err[256];
	struct rt_ra ra;
	json_t *o;

	o = json_loads(renamed, 0, NULL);
	json_object_set_new(json_object_get(o, "billing"), "last_name", json_string("Huber"));
	free(renamed);
	renamed = json_dumps(o, JSON_COMPACT);
	json_decref(o);

	start_ra(&ra, db, (const char *const[]){"RA_IDENT_REUSE_DAYS=30", NULL});
	cr_assert_eq(deliver(&ra, first, NULL), 200);
	cr_assert_eq(rt_exec(db,
			     "UPDATE users SET ident_first_name = 'ANNA', ident_last_name = 'GRUBER',"
			     " ident_verified_at = now() - interval '10 days'",
			     err, sizeof(err)),
		     0, "%s", err);
	cr_assert_eq(deliver(&ra, recent, NULL), 200);
	cr_expect_eq(count(db,
			   "SELECT count(*) FROM orders WHERE shop_order_id = 7001 AND state = 'ident_passed'"
			   " AND ident_reused"),
		     1, "R17: within 30 days, same names: reused");
	cr_expect_eq(count(db, "SELECT count(*) FROM jobs WHERE kind = 'order_issue'"), 1);
	cr_assert_eq(deliver(&ra, renamed, NULL), 200);
	cr_expect_eq(
		count(db, "SELECT count(*) FROM orders WHERE shop_order_id = 7002 AND state = 'received'"), 1,
		"R17: a changed name is identified again");
	cr_assert_eq(rt_exec(db, "UPDATE users SET ident_verified_at = now() - interval '31 days'", err,
			     sizeof(err)),
		     0);
	cr_assert_eq(deliver(&ra, old, NULL), 200);
	cr_expect_eq(
		count(db, "SELECT count(*) FROM orders WHERE shop_order_id = 7003 AND state = 'received'"), 1,
		"R17: after the period a new identification is needed");
	cr_expect_eq(count(db, "SELECT count(*) FROM jobs WHERE kind = 'ident_invite'"), 3);
	rt_ra_stop(&ra, SIGTERM);
	free(first);
	free(recent);
	free(renamed);
	free(old);
	free(db);
}

/* ---- invitation ------------------------------------------------------------------------------ */

/* Mails in the sink's folder: how many, and the text of the first. */
static int mails(const char *dir, char **first)
{
	DIR *d = opendir(dir);
	struct dirent *e;
	int n = 0;

	if (first)
		*first = NULL;
	if (d == NULL)
		return 0;
	while ((e = readdir(d)) != NULL) {
		char path[1024];
		if (strstr(e->d_name, ".eml") == NULL || e->d_name[0] == '.')
			continue;
		n++;
		snprintf(path, sizeof(path), "%s/%s", dir, e->d_name);
		if (first && *first == NULL)
			*first = rt_read_file(path, NULL);
	}
	closedir(d);
	return n;
}

static int wait_for(const char *db, const char *sql, long want, int seconds)
{
	for (int i = 0; i < seconds * 10; i++) {
		if (count(db, sql) == want)
			return 1;
		usleep(100000);
	}
	return 0;
}

/* ident configured needs its callback secret and evidence.key at start-up (fail fast) */
#define IDENT_NEEDS                                                                                \
	"RA_SMTP_TLS=none" /* the sink is plain SMTP */,                                           \
		"RA_IDENT_CALLBACK_SECRET=test-callback-8e7d6c5b4a3f2e1d0c9b8a7f6e5d4c3b2a1f0e9d", \
		"RA_EVIDENCE_KEY=000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f"

static void ident_env(char *ident, char *smtp, int ident_port, int mail_port)
{
	sprintf(ident, "RA_IDENT_BASE_URL=http://127.0.0.1:%d", ident_port);
	sprintf(smtp, "RA_SMTP_URL=smtp://127.0.0.1:%d", mail_port);
}

/* The peer's record of start calls: how many the RA made. */
static int starts(int ident_port)
{
	char url[128];
	struct rt_resp r;
	int n = 0;

	snprintf(url, sizeof(url), "http://127.0.0.1:%d/_control/requests", ident_port);
	cr_assert_eq(rt_http("GET", url, NULL, NULL, 0, &r), 0);
	for (const char *p = r.body; (p = strstr(p, "/start")) != NULL; p++)
		n++;
	rt_resp_free(&r);
	return n;
}

Test(intake, invitation_mail_arrives_with_the_provider_link_and_a_rerun_sends_nothing_more)
{
	char *db = rt_db_new(), *body = fixture("woocommerce-order-paid.json"), *mail = NULL, *ident_id,
	     link[256];
	char ident[128], smtp[128], maildir[700], err[256];
	const char *mail_args[] = {"--dir", maildir, NULL};
	const char *ident_args[] = {"--company-id", COMPANY, "--api-key", API_KEY, NULL};
	int ip, mp;
	struct rt_ra ra;

	ip = peer_start("ident", ident_args);
	snprintf(maildir, sizeof(maildir), "%s/mail", peer_dir);
	mp = peer_start("mail", mail_args);
	ident_env(ident, smtp, ip, mp);
	start_ra(&ra, db,
		 (const char *const[]){ident, smtp, "RA_IDENT_COMPANY_ID=" COMPANY,
				       "RA_IDENT_API_KEY=" API_KEY,
				       "RA_IDENT_LINK_BASE=https://go.test.idnow.de/",
				       "RA_SMTP_FROM=ra@trust.example", IDENT_NEEDS, NULL});
	cr_assert_eq(deliver(&ra, body, NULL), 200);
	cr_assert(
		wait_for(
			db,
			"SELECT count(*) FROM orders WHERE state = 'ident_invited' AND invite_sent_at IS NOT NULL",
			1, 30),
		"the invitation was not recorded");
	ident_id = rt_sql(db, "SELECT ident_id FROM orders");
	cr_assert_not_null(ident_id);
	cr_expect_eq(mails(maildir, &mail), 1);
	cr_assert_not_null(mail);
	snprintf(link, sizeof(link), "https://go.test.idnow.de/%s/%s", COMPANY, ident_id);
	cr_expect(strstr(mail, link) != NULL, "the mail holds %s:\n%s", link, mail);
	cr_expect(strstr(mail, "X-Envelope-To: <anna.gruber@example.at>") != NULL, "%s", mail);
	cr_expect(strstr(mail, "4711") != NULL, "the shop's order number is in the mail");
	cr_expect_eq(starts(ip), 1);
	cr_expect_eq(count(db, "SELECT count(*) FROM audit_log WHERE action = 'order.ident_invited'"), 1,
		     "R16");
	free(mail);

	/* A second run of the job (as after a crash before job_done): no second start, no second mail. */
	cr_assert_eq(
		rt_exec(db,
			"INSERT INTO jobs (kind, payload, idempotency_key)"
			" SELECT 'ident_invite', jsonb_build_object('order_id', id), 'rerun' FROM orders",
			err, sizeof(err)),
		0, "%s", err);
	cr_assert(wait_for(db, "SELECT count(*) FROM jobs WHERE idempotency_key = 'rerun' AND state = 'done'",
			   1, 30));
	cr_expect_eq(mails(maildir, NULL), 1);
	cr_expect_eq(starts(ip), 1);
	free(ident_id);
	rt_ra_stop(&ra, SIGTERM);
	free(body);
	free(db);
}

Test(intake, invitation_waits_while_smtp_is_down_and_is_delivered_once_it_is_back)
{
	char *db = rt_db_new(), *body = fixture("woocommerce-order-paid.json"), *mail = NULL;
	char ident[128], smtp[128], maildir[700], port[16];
	const char *mail_args[] = {"--dir", maildir, NULL};
	const char *mail_again[] = {"--dir", maildir, "--port", port, NULL};
	const char *ident_args[] = {"--company-id", COMPANY, "--api-key", API_KEY, NULL};
	int ip, mp;
	struct rt_ra ra;

	ip = peer_start("ident", ident_args);
	snprintf(maildir, sizeof(maildir), "%s/mail", peer_dir);
	mp = peer_start("mail", mail_args);
	peer_stop("mail"); /* by its PID; the port is known and, for now, refuses connections */
	snprintf(port, sizeof(port), "%d", mp);
	ident_env(ident, smtp, ip, mp);
	start_ra(&ra, db,
		 (const char *const[]){ident, smtp, "RA_IDENT_COMPANY_ID=" COMPANY,
				       "RA_IDENT_API_KEY=" API_KEY, IDENT_NEEDS, NULL});
	cr_assert_eq(deliver(&ra, body, NULL), 200);
	cr_assert(wait_for(db,
			   "SELECT count(*) FROM jobs WHERE kind = 'ident_invite' AND attempts >= 2"
			   " AND state IN ('queued', 'running') AND last_error IS NOT NULL",
			   1, 30),
		  "the job should be retrying");
	cr_expect_eq(
		count(db, "SELECT count(*) FROM orders WHERE state = 'received' AND ident_id IS NOT NULL"), 1,
		"the identification is started and kept while the mail waits");
	cr_expect_eq(mails(maildir, NULL), 0);
	cr_assert_eq(peer_start("mail", mail_again), mp, "the sink is back on the same port");
	cr_assert(wait_for(db, "SELECT count(*) FROM orders WHERE state = 'ident_invited'", 1, 30));
	cr_expect_eq(mails(maildir, &mail), 1);
	cr_expect(mail && strstr(mail, "go.test.idnow.de") != NULL, "%s", mail ? mail : "");
	cr_expect_eq(starts(ip), 1, "retries never start a second identification");
	free(mail);
	rt_ra_stop(&ra, SIGTERM);
	free(body);
	free(db);
}

static double now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* Issue #16: an order's job no longer NOTIFYs inside its transaction (docs/jobs.md).  The node
 * that committed it wakes its own runner, and the other nodes hear one NOTIFY on ra_jobs sent
 * after the commit.  With the poll a minute away the job must start at once, and a listening
 * session (what another node's runner is) must hear of it. */
Test(intake, an_orders_job_starts_at_once_and_other_nodes_hear_a_notify)
{
	char *db = rt_db_new();
	char *body = order_json("woocommerce-order-paid.json", 9101, NULL, "+436641110001", NULL, NULL);
	struct rt_ra ra;
	PGconn *other;
	PGnotify *n = NULL;
	double t0;

	start_ra(&ra, db, (const char *const[]){"RA_JOBS_POLL_MS=60000", NULL});
	cr_assert(wait_for(db, "SELECT (count(*) > 0)::int FROM pg_stat_activity WHERE query LIKE 'LISTEN%'",
			   1, 30),
		  "ra's runner listens");
	other = PQconnectdb(db);
	cr_assert_eq(PQstatus(other), CONNECTION_OK, "%s", PQerrorMessage(other));
	PQclear(PQexec(other, "LISTEN ra_jobs"));
	cr_assert_eq(deliver(&ra, body, NULL), 200);
	for (t0 = now_s(); n == NULL && now_s() - t0 < 3; usleep(20000)) {
		PQconsumeInput(other);
		n = PQnotifies(other);
	}
	cr_expect_not_null(n, "another node's listening session heard the order's job within 3 s");
	if (n)
		PQfreemem(n);
	PQfinish(other);
	cr_expect(
		wait_for(db, "SELECT count(*) FROM jobs WHERE kind = 'ident_invite' AND attempts >= 1", 1, 3),
		"ra started its own order's job within 3 s (woken at its commit), not at its 60 s poll");
	rt_ra_stop(&ra, SIGTERM);
	free(body);
	free(db);
}

/* The sample's value in ra's /metrics, -1 when it is not there. */
static double metric(const struct rt_ra *ra, const char *sample)
{
	char url[160];

	snprintf(url, sizeof(url), "%s/metrics", ra->base);
	return rt_metric(url, sample);
}

/* An order's commit wakes the lane of the job it queued (ident_invite: the ident lane), not
 * every lane: a lane with nothing new sends no claim (before, each commit that queued a job
 * made all four lanes claim, three of them for nothing). */
Test(intake, an_orders_commit_wakes_only_its_jobs_lane)
{
	char *db = rt_db_new();
	struct rt_ra ra;
	double rev0, iss0, idn0, rev1, iss1, idn1;
	char *body;

	start_ra(&ra, db, (const char *const[]){"RA_JOBS_POLL_MS=60000", NULL});
	cr_assert(wait_for(db, "SELECT (count(*) > 0)::int FROM pg_stat_activity WHERE query LIKE 'LISTEN%'",
			   1, 30),
		  "ra's runner listens");
	usleep(300000); /* the claims at start are behind us */
	rev0 = metric(&ra, "ra_jobs_claims_total{lane=\"revoke\"}");
	iss0 = metric(&ra, "ra_jobs_claims_total{lane=\"issue\"}");
	idn0 = metric(&ra, "ra_jobs_claims_total{lane=\"ident\"}");
	cr_assert_geq(rev0, 0, "the lanes' claim counters are exported");
	for (int i = 0; i < 5; i++) {
		char phone[32];

		snprintf(phone, sizeof(phone), "+43664111%04d", 200 + i);
		body = order_json("woocommerce-order-paid.json", 9201 + i, NULL, phone, NULL, NULL);
		cr_assert_eq(deliver(&ra, body, NULL), 200);
		free(body);
	}
	cr_assert(wait_for(db, "SELECT count(*) FROM jobs WHERE kind = 'ident_invite' AND attempts >= 1", 5,
			   10),
		  "the five invitations started, woken at their commits");
	rev1 = metric(&ra, "ra_jobs_claims_total{lane=\"revoke\"}");
	iss1 = metric(&ra, "ra_jobs_claims_total{lane=\"issue\"}");
	idn1 = metric(&ra, "ra_jobs_claims_total{lane=\"ident\"}");
	cr_expect_geq(idn1 - idn0, 1, "the ident lane claimed (%.0f -> %.0f)", idn0, idn1);
	cr_expect_eq(rev1 - rev0, 0, "the revoke lane was not woken (%.0f -> %.0f claims)", rev0, rev1);
	cr_expect_eq(iss1 - iss0, 0, "the issue lane was not woken (%.0f -> %.0f claims)", iss0, iss1);
	rt_ra_stop(&ra, SIGTERM);
	free(db);
}
