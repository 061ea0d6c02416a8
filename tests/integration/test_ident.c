/*
 * test_ident.c - the identification result end to end (issue #5) through the real `ra serve`,
 * the real test peers (ident provider, SMS gateway, SMTP sink), a SoftHSM2 token and the
 * local CA: webhook -> invitation -> provider result -> callback -> certificates for every
 * line item -> user-ID mail (R8) and TransportPIN SMS (R11).  Data changed stops at review
 * until a support user who may approve does (R7, R19); fraud never issues; a callback body
 * the provider's record contradicts issues nothing; evidence is not plain text (R18) and
 * cannot be deleted early; refused callers change nothing (R16); a later order reuses the
 * identification (R17).
 */
#include <criterion/criterion.h>
#include <dirent.h>
#include <jansson.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include <libpq-fe.h>

#include "ra/base/config.h"
#include "ra/base/vault.h"
#include "ra/flows/cert/cert.h"
#include "ra/flows/ident/evidence.h"
#include "ra/base/secret.h"
#include "tests/lib/rt.h"
#include "tests/lib/ts_peers.h"
#include "tests/lib/ts_token.h"

/* generated-secret strength (32 bytes of entropy): config_check refuses weaker ones */
#define SECRET "test-woo-5f1c0e9a7b3d2c4e6f8a9b0c1d2e3f4a5b6c7d8e"
#define API_KEY "test-api-key"
#define COMPANY "trustra"
#define CB_SECRET "test-callback-8e7d6c5b4a3f2e1d0c9b8a7f6e5d4c3b2a1f0e9d"
#define SMS_TOKEN "test-sms-token"
#define EVIDENCE_KEY "000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f"
#define PHONE "+436641234567"

/* ---- peers (tests/lib/peers.sh), as in test_intake.c ------------------------------------ */

static char peer_dir[512];

static int peer_start(const char *name, const char *const *extra)
{
	return ts_peer_start(peer_dir, name, extra);
}

static void peers_fini(void)
{
	if (peer_dir[0])
		ts_peer_stop_all(peer_dir);
}

TestSuite(ident, .fini = peers_fini, .timeout = 180);

/* ---- the world: database, peers, token, ra ---------------------------------------------- */

struct world {
	char *db;
	char *dir;
	char maildir[700];
	int ident_port, sms_port, mail_port;
	char e[12][700];
	struct rt_ra ra;
};

static void world_start(struct world *w, const char *extra_env)
{
	const char *mail_args[] = {"--dir", w->maildir, NULL};
	const char *ident_args[] = {"--company-id", COMPANY, "--api-key", API_KEY, NULL};
	const char *sms_args[] = {"--token", SMS_TOKEN, NULL};
	const char *env[32] = {"RA_SHOP_WOOCOMMERCE_SECRET=" SECRET,
			       "RA_PRODUCTS={\"QES-5Y\": {\"class\": \"qualified\", \"validity_years\": 5},"
			       " \"AES-10Y\": {\"class\": \"advanced\"}}",
			       "RA_DEFAULT_COUNTRY=AT", "RA_JOBS_BACKOFF_MS=100",
			       "RA_JOBS_BACKOFF_MAX_MS=500", "RA_JOBS_POLL_MS=200",
			       "RA_IDENT_COMPANY_ID=" COMPANY, "RA_IDENT_API_KEY=" API_KEY,
			       "RA_IDENT_CALLBACK_SECRET=" CB_SECRET, "RA_SMS_TOKEN=" SMS_TOKEN,
			       "RA_EVIDENCE_KEY=" EVIDENCE_KEY, "RA_PKCS11_PIN=4711",
			       "RA_PKCS11_TOKEN=ra-test", "RA_CA_PDS_URL=https://pki.example.test/pds_en.pdf",
			       "RA_CA_CRL_URL=http://pki.example.test/v1/ca/crl",
			       /* the mail sink speaks plain SMTP (a local relay) */
			       "RA_SMTP_TLS=none"};
	int n = 16;

	memset(w, 0, sizeof(*w));
	w->db = rt_db_new();
	w->dir = rt_tmpdir();
	snprintf(peer_dir, sizeof(peer_dir), "%s/peers", w->dir);
	snprintf(w->maildir, sizeof(w->maildir), "%s/mail", peer_dir);
	w->ident_port = peer_start("ident", ident_args);
	w->sms_port = peer_start("sms", sms_args);
	w->mail_port = peer_start("mail", mail_args);
	cr_assert_eq(ts_token_init(w->dir, "ra-test", "12345678", "4711"), 0);
	snprintf(w->e[0], sizeof(w->e[0]), "RA_IDENT_BASE_URL=http://127.0.0.1:%d", w->ident_port);
	snprintf(w->e[1], sizeof(w->e[1]), "RA_SMTP_URL=smtp://127.0.0.1:%d", w->mail_port);
	snprintf(w->e[2], sizeof(w->e[2]), "RA_SMS_URL=http://127.0.0.1:%d/v1/sms", w->sms_port);
	snprintf(w->e[3], sizeof(w->e[3]), "SOFTHSM2_CONF=%s/softhsm2.conf", w->dir);
	snprintf(w->e[4], sizeof(w->e[4]), "RA_CA_DIR=%s/ca", w->dir);
	snprintf(w->e[5], sizeof(w->e[5]), "RA_PKCS11_MODULE=%s", ts_softhsm_module());
	for (int i = 0; i < 6; i++)
		env[n++] = w->e[i];
	if (extra_env)
		env[n++] = extra_env;
	env[n] = NULL;
	cr_assert_eq(rt_ra_start(&w->ra, w->db, env), 0);
}

static void world_stop(struct world *w)
{
	cr_expect_eq(rt_ra_stop(&w->ra, SIGTERM), 0);
	free(w->db);
	free(w->dir);
}

/* The `ra` command against the world's database (and its SoftHSM2 for nothing). */
static int ra_cmd(struct world *w, char **out, const char *a0, const char *a1, const char *a2, const char *a3,
		  const char *a4)
{
	char dbenv[1024];
	const char *env[] = {dbenv, "RA_EVIDENCE_KEY=" EVIDENCE_KEY, NULL};

	snprintf(dbenv, sizeof(dbenv), "RA_DATABASE_URL=%s", w->db);
	return rt_ra_cmd(env, out, a0, a1, a2, a3, a4, NULL);
}

/* ---- helpers ------------------------------------------------------------------------------ */

static long count(const char *db, const char *sql)
{
	char *v = rt_sql(db, sql);
	long n = v ? atol(v) : -1;

	free(v);
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

static void sign(const char *body, char *out)
{
	unsigned char mac[32];
	unsigned int n = sizeof(mac);

	HMAC(EVP_sha256(), SECRET, (int)strlen(SECRET), (const unsigned char *)body, strlen(body), mac, &n);
	EVP_EncodeBlock((unsigned char *)out, mac, (int)n);
}

/* The paid-order fixture with shop id `id`, optionally a second line item (AES-10Y), a
 * contract number and a shop status (NULL: the fixture's), signed and delivered; the HTTP
 * status, the answer's body in *answer unless NULL (caller frees). */
static long post_order(struct world *w, long id, int two_items, const char *contract, const char *status,
		       char **answer)
{
	char *text = fixture("woocommerce-order-paid.json"), *body, url[128], sig[128], hsig[160];
	json_t *o = json_loads(text, 0, NULL);
	const char *h[] = {"Content-Type: application/json", "X-WC-Webhook-Topic: order.created", hsig, NULL};
	struct rt_resp r;
	long st;

	cr_assert_not_null(o);
	json_object_set_new(o, "id", json_integer(id));
	if (status)
		json_object_set_new(o, "status", json_string(status));
	if (two_items) {
		json_t *items = json_object_get(o, "line_items");
		json_t *second = json_deep_copy(json_array_get(items, 0));
		json_object_set_new(second, "id", json_integer(882));
		json_object_set_new(second, "sku", json_string("AES-10Y"));
		json_array_append_new(items, second);
	}
	if (contract)
		json_object_set_new(
			o, "meta_data",
			json_pack("[{s:i, s:s, s:s}]", "id", 1, "key", "contract_number", "value", contract));
	body = json_dumps(o, JSON_COMPACT);
	sign(body, sig);
	snprintf(hsig, sizeof(hsig), "X-WC-Webhook-Signature: %s", sig);
	snprintf(url, sizeof(url), "%s/v1/shop/woocommerce", w->ra.base);
	cr_assert_eq(rt_http("POST", url, h, body, strlen(body), &r), 0);
	st = r.status;
	if (answer) {
		*answer = r.body;
		r.body = NULL;
	}
	rt_resp_free(&r);
	free(body);
	free(text);
	json_decref(o);
	return st;
}

static void order_contract(struct world *w, long id, int two_items, const char *contract)
{
	char *answer = NULL;

	cr_assert_eq(post_order(w, id, two_items, contract, NULL, &answer), 200, "%s", answer);
	free(answer);
}

static void order(struct world *w, long id, int two_items)
{
	order_contract(w, id, two_items, NULL);
}

/* Waits for the order's invitation and returns its transaction number (caller frees). */
static char *invited(struct world *w, long shop_id)
{
	char sql[256];

	snprintf(sql, sizeof(sql),
		 "SELECT count(*) FROM orders WHERE shop_order_id = %ld AND state = 'ident_invited'",
		 shop_id);
	cr_assert(wait_for(w->db, sql, 1, 30), "the invitation was not sent");
	snprintf(sql, sizeof(sql), "SELECT ident_tx FROM orders WHERE shop_order_id = %ld", shop_id);
	return rt_sql(w->db, sql);
}

/* Stores a fixture (result overridden unless NULL, names overridden unless NULL) as the
 * provider's record of tx. */
static void provider_says(struct world *w, const char *fx, const char *tx, const char *result,
			  const char *first)
{
	char *text = fixture(fx), url[256], *body;
	json_t *o = json_loads(text, 0, NULL), *proc = json_object_get(o, "identificationprocess");
	struct rt_resp r;

	json_object_set_new(proc, "transactionnumber", json_string(tx));
	if (result)
		json_object_set_new(proc, "result", json_string(result));
	if (first)
		json_object_set_new(json_object_get(json_object_get(o, "userdata"), "firstname"), "value",
				    json_string(first));
	body = json_dumps(o, JSON_COMPACT);
	snprintf(url, sizeof(url), "http://127.0.0.1:%d/_control/result/%s", w->ident_port, tx);
	cr_assert_eq(rt_http("PUT", url, NULL, body, strlen(body), &r), 0);
	cr_assert_eq(r.status, 200);
	rt_resp_free(&r);
	free(body);
	free(text);
	json_decref(o);
}

/* Makes the provider call the RA's callback for tx (with body_json instead of the stored
 * record when given).  Returns the RA's status. */
static long callback(struct world *w, const char *tx, const char *body_json)
{
	char url[256], *spec_text;
	json_t *spec = json_pack("{s:s, s:s}", "url", "", "token", CB_SECRET), *res;
	struct rt_resp r;
	long status;
	char cb[160];

	snprintf(cb, sizeof(cb), "%s/v1/ident/idnow", w->ra.base);
	json_object_set_new(spec, "url", json_string(cb));
	if (body_json)
		json_object_set_new(spec, "body", json_loads(body_json, 0, NULL));
	spec_text = json_dumps(spec, JSON_COMPACT);
	snprintf(url, sizeof(url), "http://127.0.0.1:%d/_control/callback/%s", w->ident_port, tx);
	cr_assert_eq(rt_http("POST", url, NULL, spec_text, strlen(spec_text), &r), 0);
	cr_assert_eq(r.status, 200, "%s", r.body);
	res = json_loads(r.body, 0, NULL);
	status = (long)json_integer_value(json_object_get(res, "status"));
	json_decref(res);
	json_decref(spec);
	free(spec_text);
	rt_resp_free(&r);
	return status;
}

/* A success body for tx, as a callback might claim it. */
static char *claimed_success(const char *tx)
{
	char *text = fixture("idnow-result-success.json"), *out;
	json_t *o = json_loads(text, 0, NULL);

	json_object_set_new(json_object_get(o, "identificationprocess"), "transactionnumber",
			    json_string(tx));
	out = json_dumps(o, JSON_COMPACT);
	json_decref(o);
	free(text);
	return out;
}

static int mails(const char *dir, const char *needle)
{
	DIR *d = opendir(dir);
	struct dirent *e;
	int n = 0;

	if (d == NULL)
		return 0;
	while ((e = readdir(d)) != NULL) {
		char path[1024], *text;
		if (strstr(e->d_name, ".eml") == NULL || e->d_name[0] == '.')
			continue;
		snprintf(path, sizeof(path), "%s/%s", dir, e->d_name);
		text = rt_read_file(path, NULL);
		if (text && (needle == NULL || strstr(text, needle)))
			n++;
		free(text);
	}
	closedir(d);
	return n;
}

/* The SMS gateway's accepted messages (caller decrefs). */
static json_t *sms_messages(struct world *w)
{
	char url[128];
	struct rt_resp r;
	json_t *j;

	snprintf(url, sizeof(url), "http://127.0.0.1:%d/_control/messages", w->sms_port);
	cr_assert_eq(rt_http("GET", url, NULL, NULL, 0, &r), 0);
	j = json_loads(r.body, 0, NULL);
	rt_resp_free(&r);
	cr_assert(json_is_array(j));
	return j;
}

/* Everything the identification flow writes, as one digest. */
static char *digest(const char *db)
{
	return rt_sql(db,
		      "SELECT md5(coalesce(string_agg(t, '|' ORDER BY t), '')) FROM ("
		      " SELECT 'o' || row_to_json(x)::text t FROM orders x UNION ALL"
		      " SELECT 'i' || row_to_json(x)::text FROM identifications x UNION ALL"
		      " SELECT 'c' || row_to_json(x)::text FROM certificates x UNION ALL"
		      " SELECT 'r' || row_to_json(x)::text FROM reviews x UNION ALL"
		      " SELECT 'j' || json_build_array(id, kind, payload, idempotency_key)::text FROM jobs"
		      "  WHERE kind NOT IN ('ident_invite')) s");
}

/* ---- end to end ------------------------------------------------------------------------- */

/* The PIN of an SMS text: the run of digits after "TransportPIN ... : ". */
static void pin_of(const char *text, char *pin, size_t cap)
{
	const char *p = strstr(text, ": ");
	size_t n = 0;

	pin[0] = '\0';
	if (p == NULL)
		return;
	for (p += 2; *p >= '0' && *p <= '9' && n + 1 < cap; p++)
		pin[n++] = *p;
	pin[n] = '\0';
}

static void check_pins(struct world *w, json_t *msgs)
{
	size_t i;
	json_t *m;

	json_array_foreach (msgs, i, m) {
		const char *text = json_string_value(json_object_get(m, "text"));
		char pin[32], sql[256], *hash, id[64] = "";
		const char *c = strstr(text, "certificate ");

		cr_expect_str_eq(json_string_value(json_object_get(m, "to")), PHONE,
				 "R11: to the user's mobile");
		cr_assert_not_null(c);
		sscanf(c, "certificate %63[^:]", id);
		pin_of(text, pin, sizeof(pin));
		cr_expect_eq(strlen(pin), 8, "R11: an 8-digit PIN in: %s", text);
		snprintf(sql, sizeof(sql), "SELECT transport_pin_hash FROM certificates WHERE id = '%s'", id);
		hash = rt_sql(w->db, sql);
		cr_assert_not_null(hash, "R11: hash stored for %s", id);
		cr_expect(strstr(hash, pin) == NULL, "R11: only a hash is stored");
		cr_expect_eq(secret_pin_verify(pin, hash), 1, "R11: the stored hash is the SMS's PIN's");
		free(hash);
	}
}

Test(ident, e2e_r7_r8_r11_r18_success_issues_every_line_item_then_mail_and_sms)
{
	struct world w;
	char *tx, *pub, *out = NULL, *token, url[256], auth[128], sql[512], tok_env[1024];
	json_t *msgs;
	struct rt_resp r;

	world_start(&w, NULL);
	order(&w, 4711, 1);
	tx = invited(&w, 4711);
	cr_assert_not_null(tx);
	cr_expect_eq(mails(w.maildir, "go.test.idnow.de"), 1, "the invitation mail");
	provider_says(&w, "idnow-result-success.json", tx, NULL, NULL);
	cr_expect_eq(callback(&w, tx, NULL), 200);

	/* every line item becomes an issued certificate, with its own key (R2) */
	cr_assert(wait_for(w.db,
			   "SELECT count(*) FROM certificates WHERE state = 'issued' AND serial IS NOT NULL",
			   2, 60),
		  "two certificates issued");
	cr_expect_eq(count(w.db, "SELECT count(DISTINCT class) FROM certificates"), 2,
		     "one per line item (R1)");
	cr_expect_eq(count(w.db, "SELECT count(*) FROM certificates WHERE ident_id = 'TST-QWRTZ'"), 2,
		     "R7: every certificate rests on the identification");
	cr_expect_eq(count(w.db,
			   "SELECT count(*) FROM certificates WHERE subject->>'given_name' = 'Anna'"
			   " AND subject->>'surname' = 'Gruber' AND subject->>'country' = 'AT'"),
		     2);
	{
		char *out2 = NULL, *id = rt_sql(w.db, "SELECT id FROM certificates ORDER BY id LIMIT 1"),
		     hex[160] = "";
		char cmd[1200];
		FILE *p;
		size_t n;

		for (size_t i = 0; id && id[i] && 2 * i + 2 < sizeof(hex); i++)
			sprintf(hex + 2 * i, "%02x", (unsigned char)id[i]);
		snprintf(
			cmd, sizeof(cmd),
			"SOFTHSM2_CONF='%s/softhsm2.conf' pkcs11-tool --module '%s' --token-label ra-test --login"
			" --pin 4711 --list-objects --type privkey 2>&1",
			w.dir, ts_softhsm_module());
		p = popen(cmd, "r");
		cr_assert_not_null(p);
		out2 = calloc(1, 65536);
		n = fread(out2, 1, 65535, p);
		pclose(p);
		out2[n] = '\0';
		/* pkcs11.key_storage = wrapped (the default, issue #15): the key is no token object;
		 * it is stored beside the certificate, wrapped under the KEK */
		cr_expect(strstr(out2, hex) == NULL && strstr(out2, id) == NULL,
			  "R2: key %s not left on the token:\n%s", id, out2);
		cr_expect_eq(
			count(w.db,
			      "SELECT count(*) FROM certificates WHERE key_storage = 'wrapped'"
			      " AND length(key_blob) > 100 AND kek_label = 'ra-kek' AND kek_version = 1"),
			2, "both keys stored wrapped under KEK ra-kek version 1");
		free(out2);
		free(id);
	}

	/* the order is issued; the user ID mail (R8) and one TransportPIN SMS per certificate (R11) */
	cr_assert(wait_for(w.db, "SELECT count(*) FROM orders WHERE state = 'issued'", 1, 30),
		  "order issued");
	pub = rt_sql(w.db, "SELECT public_id FROM users");
	cr_assert(wait_for(w.db, "SELECT count(*) FROM notifications", 1, 30));
	cr_expect_eq(mails(w.maildir, pub), 1, "R8: the user ID mail holds %s", pub);
	cr_assert(wait_for(w.db, "SELECT count(*) FROM transport_pin_deliveries WHERE sent_at IS NOT NULL", 2,
			   30));
	msgs = sms_messages(&w);
	cr_expect_eq(json_array_size(msgs), 2, "one SMS per certificate");
	check_pins(&w, msgs);
	json_decref(msgs);
	cr_expect_eq(
		count(w.db, "SELECT count(*) FROM transport_pin_deliveries WHERE pin_sealed IS NOT NULL"), 0,
		"R11: no PIN kept once delivered");

	/* verified identity on the user; evidence not readable in the database (R18) */
	cr_expect_eq(count(w.db,
			   "SELECT count(*) FROM users WHERE ident_birth_date = '1988-03-14'"
			   " AND ident_last_name = 'GRUBER' AND ident_verified_at IS NOT NULL"),
		     1);
	cr_expect_eq(count(w.db, "SELECT count(*) FROM identifications"), 1);
	cr_expect_eq(
		count(w.db,
		      "SELECT count(*) FROM identifications i WHERE row_to_json(i)::text LIKE '%P1234567%'"
		      " OR position('P1234567'::bytea in i.evidence) > 0"
		      " OR row_to_json(i)::text LIKE '%KHUBER%' OR position('KHUBER'::bytea in i.evidence) > 0"),
		0, "R18: document number and agent are not plain text");
	cr_expect_eq(
		count(w.db,
		      "SELECT count(*) FROM identifications i JOIN certificates c ON c.ident_id = i.ident_id"
		      " WHERE i.retain_until >= c.not_after + interval '30 years'"),
		2, "R18: retained 30 years after the certificates' end of validity");

	/* support reads the evidence through the admin API, and that is audited */
	snprintf(tok_env, sizeof(tok_env), "RA_DATABASE_URL=%s", w.db);
	{
		const char *env[] = {tok_env, NULL};
		cr_assert_eq(rt_ra_cmd(env, &out, "token", "create", "--name", "bob", "--role", "support",
				       "--no-customer-account", NULL),
			     0, "%s", out);
	}
	token = out;
	token[strcspn(token, "\n")] = '\0';
	snprintf(auth, sizeof(auth), "Authorization: Bearer %s", token);
	snprintf(sql, sizeof(sql), "SELECT id FROM orders WHERE shop_order_id = 4711");
	{
		char *oid = rt_sql(w.db, sql);
		const char *h[] = {auth, NULL};
		snprintf(url, sizeof(url), "%s/v1/admin/identifications/%s", w.ra.base, oid);
		cr_assert_eq(rt_http("GET", url, h, NULL, 0, &r), 0);
		cr_expect_eq(r.status, 200, "%s", r.body);
		cr_expect(strstr(r.body, "P1234567") != NULL, "support can read the document number: %s",
			  r.body);
		cr_expect(strstr(r.body, "KHUBER") != NULL);
		rt_resp_free(&r);
		free(oid);
	}
	cr_expect_eq(count(w.db,
			   "SELECT count(*) FROM audit_log WHERE action = 'order.evidence_read'"
			   " AND actor = 'support:bob'"),
		     1, "R16");
	free(token);

	/* a repeated callback changes nothing */
	cr_expect_eq(callback(&w, tx, NULL), 200);
	sleep(1);
	cr_expect_eq(count(w.db, "SELECT count(*) FROM certificates"), 2);

	/* R17: a second order for the same person reuses the identification (order_issue) */
	order(&w, 4712, 0);
	cr_assert(wait_for(w.db,
			   "SELECT count(*) FROM orders WHERE shop_order_id = 4712 AND state = 'issued'", 1,
			   60),
		  "R17: the reused identification leads to issuance without a new invitation");
	cr_expect_eq(
		count(w.db,
		      "SELECT count(*) FROM certificates c JOIN orders o ON o.id::text = c.order_id"
		      " WHERE o.shop_order_id = 4712 AND c.state = 'issued' AND c.ident_id = 'TST-QWRTZ'"),
		1);
	cr_expect_eq(mails(w.maildir, "go.test.idnow.de"), 1, "R17: no second invitation");
	cr_expect_eq(count(w.db, "SELECT count(*) FROM jobs WHERE state = 'dead'"), 0);
	free(pub);
	free(tx);
	world_stop(&w);
}

/* ---- review ----------------------------------------------------------------------------- */

/* POST to a control route of the ident peer (tests/peers/peer_http.py), 200 expected. */
static void ident_control(struct world *w, const char *path)
{
	char url[256];
	struct rt_resp r;

	snprintf(url, sizeof(url), "http://127.0.0.1:%d%s", w->ident_port, path);
	cr_assert_eq(rt_http("POST", url, NULL, "", 0, &r), 0);
	cr_assert_eq(r.status, 200, "%s: %s", path, r.body);
	rt_resp_free(&r);
}

/* docs/jobs.md "Lanes": the provider's jobs run in the ident lane, which has no more slots than
 * the provider's peer takes calls (peers.max_inflight, here 2 against jobs.ident_workers' 4),
 * so while the provider hangs exactly 2 invitations are claimed and the other 6 wait queued;
 * none is claimed only to be refused by the peer's bound and given back (RA_E_BUSY, a claim and
 * an UPDATE each time: in the default lane's 8 slots, 6 of 8 were). */
Test(ident, invitations_are_never_claimed_beyond_the_providers_call_bound)
{
	struct world w;
	const char *busy =
		"SELECT count(*) FROM jobs WHERE kind = 'ident_invite' AND last_error LIKE 'busy%'";

	world_start(&w, "RA_PEERS_MAX_INFLIGHT=2");
	ident_control(&w, "/_control/hang?on=1");
	for (long id = 7101; id <= 7108; id++)
		order(&w, id, 0);
	cr_assert(wait_for(w.db, "SELECT count(*) FROM jobs WHERE kind = 'ident_invite'", 8, 10));
	cr_expect(wait_for(w.db,
			   "SELECT count(*) FROM jobs WHERE kind = 'ident_invite' AND state = 'running'", 2,
			   10),
		  "two invitations run (the peer's bound)");
	sleep(3); /* three jobs.busy_retry_ms: a give-back would have happened and come round again */
	cr_expect_eq(
		count(w.db, "SELECT count(*) FROM jobs WHERE kind = 'ident_invite' AND state = 'running'"),
		2);
	cr_expect_eq(
		count(w.db, "SELECT count(*) FROM jobs WHERE kind = 'ident_invite' AND state = 'queued'"), 6);
	cr_expect_eq(count(w.db, busy), 0, "no invitation was refused by the peer's bound and given back");
	ident_control(&w, "/_control/hang?on=0");
	cr_expect(wait_for(w.db, "SELECT count(*) FROM jobs WHERE kind = 'ident_invite' AND state = 'done'",
			   8, 30),
		  "every invitation made once the provider answers");
	cr_expect_eq(count(w.db, "SELECT count(*) FROM jobs WHERE kind = 'ident_invite' AND attempts <> 1"),
		     0, "each in one attempt");
	cr_expect_eq(count(w.db, busy), 0);
	world_stop(&w);
}

Test(ident, r7_r19_data_changed_stops_at_review_and_issues_only_after_approval)
{
	struct world w;
	char *tx, *oid, *pub, *out = NULL, dbenv[1024];

	world_start(&w, NULL);
	order(&w, 4712, 0);
	tx = invited(&w, 4712);
	provider_says(&w, "idnow-result-data-changed.json", tx, NULL, NULL);
	cr_expect_eq(callback(&w, tx, NULL), 200);
	cr_assert(wait_for(w.db, "SELECT count(*) FROM orders WHERE state = 'in_review'", 1, 30),
		  "R7: review");
	sleep(1);
	cr_expect_eq(count(w.db, "SELECT count(*) FROM certificates"), 0,
		     "R7: nothing issued before approval");
	cr_expect_eq(count(w.db, "SELECT count(*) FROM jobs WHERE kind = 'cert_issue'"), 0);
	cr_expect_eq(
		count(w.db,
		      "SELECT count(*) FROM reviews WHERE decision IS NULL AND opened_by = 'ident:idnow'"),
		1);
	cr_expect_eq(count(w.db, "SELECT count(*) FROM users WHERE ident_verified_at IS NOT NULL"), 0,
		     "unconfirmed data does not become the user's verified identity");
	oid = rt_sql(w.db, "SELECT id FROM orders");
	pub = rt_sql(w.db, "SELECT public_id FROM users");

	/* R19: a support user who is the subject may not approve */
	snprintf(dbenv, sizeof(dbenv), "RA_DATABASE_URL=%s", w.db);
	{
		const char *env[] = {dbenv, NULL};
		cr_assert_eq(rt_ra_cmd(env, &out, "token", "create", "--name", "anna", "--role", "support",
				       "--user-id", pub, NULL),
			     0, "%s", out);
		free(out);
	}
	cr_expect_eq(ra_cmd(&w, &out, "order", "approve", oid, "--by", "anna"), 1, "R19: %s", out);
	cr_expect(out && strstr(out, "R19") != NULL, "%s", out);
	free(out);
	sleep(1);
	cr_expect_eq(count(w.db, "SELECT count(*) FROM certificates"), 0,
		     "R19: refused approval issues nothing");
	cr_expect_eq(count(w.db, "SELECT count(*) FROM orders WHERE state = 'in_review'"), 1);

	cr_expect_eq(ra_cmd(&w, &out, "order", "approve", oid, "--by", "bob"), 0, "%s", out);
	free(out);
	cr_assert(wait_for(w.db, "SELECT count(*) FROM certificates WHERE state = 'issued'", 1, 60),
		  "issued after approval");
	cr_expect_eq(
		count(w.db, "SELECT count(*) FROM certificates WHERE subject->>'surname' = 'GRUBER-NOVAK'"),
		1, "R7: the certificate carries the verified (changed) name");
	cr_expect_eq(count(w.db,
			   "SELECT count(*) FROM audit_log WHERE action = 'order.review_approved'"
			   " AND actor = 'support:bob'"),
		     1, "R16");
	cr_expect_eq(
		count(w.db,
		      "SELECT count(*) FROM identifications WHERE outcome = 'passed' AND decided_by = 'bob'"),
		1);
	cr_expect_eq(count(w.db, "SELECT count(*) FROM users WHERE ident_last_name = 'GRUBER-NOVAK'"), 1);
	cr_assert(wait_for(w.db, "SELECT count(*) FROM orders WHERE state = 'issued'", 1, 30));
	cr_expect_eq(ra_cmd(&w, &out, "order", "approve", oid, "--by", "carl"), 1, "approved once: %s", out);
	free(out);
	free(oid);
	free(pub);
	free(tx);
	world_stop(&w);
}

/* ---- fraud, and a callback the provider contradicts --------------------------------------- */

Test(ident, r7_r16_fraud_rejects_audits_and_never_issues)
{
	struct world w;
	char *tx, *oid, *out = NULL, *body;

	world_start(&w, NULL);
	order(&w, 4713, 0);
	tx = invited(&w, 4713);
	provider_says(&w, "idnow-result-fraud.json", tx, NULL, NULL);
	cr_expect_eq(callback(&w, tx, NULL), 200);
	cr_assert(wait_for(w.db, "SELECT count(*) FROM orders WHERE state = 'rejected'", 1, 30), "rejected");
	cr_expect_eq(count(w.db,
			   "SELECT count(*) FROM audit_log WHERE action = 'order.rejected'"
			   " AND actor = 'ident:idnow'"),
		     1, "R16: audited with the provider as actor");
	cr_expect_eq(count(w.db,
			   "SELECT count(*) FROM identifications WHERE outcome = 'rejected'"
			   " AND result = 'FRAUD_SUSPICION_CONFIRMED'"),
		     1, "the fraud's evidence is kept");
	/* a later callback claiming success, and support, change nothing: never issued */
	body = claimed_success(tx);
	cr_expect_eq(callback(&w, tx, body), 200);
	oid = rt_sql(w.db, "SELECT id FROM orders");
	cr_expect_eq(ra_cmd(&w, &out, "order", "approve", oid, "--by", "bob"), 1, "%s", out);
	free(out);
	sleep(2);
	cr_expect_eq(count(w.db, "SELECT count(*) FROM certificates"), 0);
	cr_expect_eq(count(w.db, "SELECT count(*) FROM jobs WHERE kind IN ('cert_issue', 'transport_pin')"),
		     0);
	cr_expect_eq(count(w.db, "SELECT count(*) FROM orders WHERE state = 'rejected'"), 1);
	free(body);
	free(oid);
	free(tx);
	world_stop(&w);
}

Test(ident, r7_callback_claiming_success_is_checked_against_the_provider)
{
	struct world w;
	char *tx, *tx2, *body;

	world_start(&w, NULL);
	order(&w, 4714, 0);
	tx = invited(&w, 4714);
	body = claimed_success(tx);

	/* the provider has no result yet: nothing is decided, the job waits and retries */
	cr_expect_eq(callback(&w, tx, body), 200);
	cr_assert(wait_for(w.db, "SELECT count(*) FROM jobs WHERE kind = 'ident_result' AND attempts >= 2", 1,
			   30));
	cr_expect_eq(count(w.db, "SELECT count(*) FROM orders WHERE state = 'ident_invited'"), 1);

	/* the provider's record is someone else: review, not issuance */
	provider_says(&w, "idnow-result-success.json", tx, NULL, "MAX");
	cr_assert(wait_for(w.db, "SELECT count(*) FROM orders WHERE state = 'in_review'", 1, 30),
		  "the provider's record, not the callback body, decides");
	cr_expect_eq(count(w.db, "SELECT count(*) FROM identifications WHERE name_match = 'mismatch'"), 1);
	sleep(1);
	cr_expect_eq(count(w.db, "SELECT count(*) FROM certificates"), 0, "R7: nothing issued");
	free(body);
	free(tx);

	/* another order: the provider says ABORTED while the callback claims success -> a new attempt */
	order(&w, 4715, 0);
	tx = invited(&w, 4715);
	body = claimed_success(tx);
	provider_says(&w, "idnow-result-success.json", tx, "ABORTED", NULL);
	cr_expect_eq(callback(&w, tx, body), 200);
	cr_assert(wait_for(w.db,
			   "SELECT count(*) FROM orders WHERE shop_order_id = 4715 AND ident_attempts = 2"
			   " AND state = 'ident_invited'",
			   1, 30),
		  "aborted: invited again with a new transaction number");
	tx2 = rt_sql(w.db, "SELECT ident_tx FROM orders WHERE shop_order_id = 4715");
	cr_expect_str_neq(tx2, tx);
	cr_expect_eq(mails(w.maildir, "go.test.idnow.de"), 3, "a second invitation for the second attempt");
	cr_expect_eq(callback(&w, tx, body), 200, "the old attempt's callback is acknowledged");
	sleep(1);
	cr_expect_eq(count(w.db, "SELECT count(*) FROM certificates"), 0, "R7: nothing issued");

	/* the third attempt is the last (ident.max_attempts 3); after it the order stays failed */
	provider_says(&w, "idnow-result-success.json", tx2, "CANCELED", NULL);
	cr_expect_eq(callback(&w, tx2, NULL), 200);
	cr_assert(wait_for(w.db,
			   "SELECT count(*) FROM orders WHERE shop_order_id = 4715 AND ident_attempts = 3"
			   " AND state = 'ident_invited'",
			   1, 30));
	free(tx2);
	tx2 = rt_sql(w.db, "SELECT ident_tx FROM orders WHERE shop_order_id = 4715");
	provider_says(&w, "idnow-result-success.json", tx2, "FAILED", NULL);
	cr_expect_eq(callback(&w, tx2, NULL), 200);
	cr_assert(
		wait_for(w.db,
			 "SELECT count(*) FROM orders WHERE shop_order_id = 4715 AND state = 'ident_failed'",
			 1, 30),
		"no attempt left");
	cr_expect_eq(count(w.db,
			   "SELECT count(*) FROM identifications i JOIN orders o ON o.id = i.order_id"
			   " WHERE o.shop_order_id = 4715 AND i.outcome = 'failed'"),
		     3);
	free(tx2);
	free(body);
	free(tx);
	world_stop(&w);
}

/* ---- refused callers, retention ---------------------------------------------------------- */

static long post_cb(struct world *w, const char *body, const char *h1)
{
	char url[160];
	const char *h[] = {"Content-Type: application/json", h1, NULL};
	struct rt_resp r;
	long s;

	snprintf(url, sizeof(url), "%s/v1/ident/idnow", w->ra.base);
	cr_assert_eq(rt_http("POST", url, h, body, strlen(body), &r), 0);
	s = r.status;
	rt_resp_free(&r);
	return s;
}

Test(ident, r16_refused_callers_change_nothing_and_unknown_tx_is_404)
{
	struct world w;
	char *tx, *body, *before, *after, basic[256], b64[200];
	const char *cred = "idnow:" CB_SECRET;

	world_start(&w, NULL);
	order(&w, 4716, 0);
	tx = invited(&w, 4716);
	provider_says(&w, "idnow-result-success.json", tx, NULL, NULL);
	body = claimed_success(tx);
	before = digest(w.db);
	cr_expect_eq(post_cb(&w, body, NULL), 401, "no secret");
	cr_expect_eq(post_cb(&w, body, "X-Callback-Token: wrong"), 401);
	cr_expect_eq(post_cb(&w, body, "X-Callback-Token: " CB_SECRET "x"), 401);
	cr_expect_eq(post_cb(&w, body, "Authorization: Basic aWRub3c6d3Jvbmc="), 401, "Basic idnow:wrong");
	cr_expect_eq(
		post_cb(&w,
			"{\"identificationprocess\": {\"transactionnumber\": \"RA-NOPE\", \"result\": \"SUCCESS\"}}",
			"X-Callback-Token: " CB_SECRET),
		404, "unknown transaction number");
	sleep(1);
	after = digest(w.db);
	cr_expect_str_eq(after, before, "refused callbacks changed nothing");
	free(after);
	/* Basic with the right password is a caller */
	EVP_EncodeBlock((unsigned char *)b64, (const unsigned char *)cred, (int)strlen(cred));
	snprintf(basic, sizeof(basic), "Authorization: Basic %s", b64);
	cr_expect_eq(post_cb(&w, body, basic), 200);
	cr_assert(wait_for(w.db, "SELECT count(*) FROM certificates", 1, 30));
	free(before);
	free(body);
	free(tx);
	world_stop(&w);
}

Test(ident, r16_source_outside_the_allowlist_gets_403)
{
	struct world w;
	char *tx, *body, *before, *after;

	world_start(&w, "RA_IDENT_CALLBACK_ALLOW=192.0.2.0/24");
	order(&w, 4717, 0);
	tx = invited(&w, 4717);
	provider_says(&w, "idnow-result-success.json", tx, NULL, NULL);
	body = claimed_success(tx);
	before = digest(w.db);
	cr_expect_eq(post_cb(&w, body, "X-Callback-Token: " CB_SECRET), 403);
	sleep(1);
	after = digest(w.db);
	cr_expect_str_eq(after, before);
	free(before);
	free(after);
	free(body);
	free(tx);
	world_stop(&w);
}

Test(ident, r18_evidence_is_neither_deleted_nor_changed_before_its_retention)
{
	struct world w;
	char *tx, err[512];

	world_start(&w, NULL);
	order(&w, 4718, 0);
	tx = invited(&w, 4718);
	provider_says(&w, "idnow-result-fraud.json", tx, NULL, NULL);
	cr_expect_eq(callback(&w, tx, NULL), 200);
	cr_assert(wait_for(w.db, "SELECT count(*) FROM identifications", 1, 30));
	cr_expect_neq(rt_exec(w.db, "DELETE FROM identifications", err, sizeof(err)), 0,
		      "R18: no early delete");
	cr_expect(strstr(err, "R18") != NULL, "%s", err);
	cr_expect_neq(rt_exec(w.db, "UPDATE identifications SET evidence = '\\x00'::bytea || evidence", err,
			      sizeof(err)),
		      0);
	cr_expect_neq(rt_exec(w.db, "UPDATE identifications SET retain_until = now()", err, sizeof(err)), 0,
		      "R18: retention cannot be shortened");
	cr_expect_neq(rt_exec(w.db, "TRUNCATE identifications CASCADE", err, sizeof(err)), 0);
	cr_expect_eq(
		count(w.db,
		      "SELECT count(*) FROM identifications WHERE retain_until > now() + interval '29 years'"),
		1);
	free(tx);
	world_stop(&w);
}

/* R11: the gateway refuses the first sends, then accepts; then a crash between the gateway's
 * acceptance and the record is simulated (the delivery put back to pending, as the crashed run
 * left it, and the job run again): the re-run resends the SAME PIN, never a second one. */
Test(ident, r11_sms_retries_and_a_rerun_after_a_crash_send_the_same_pin)
{
	struct world w;
	char *tx, url[160], pin[32], *id, *hash_before, *hash_after, *hex = NULL, aad[128], sql[2048],
								     err[256];
	struct config cfg = {0};
	struct ra_err e;
	struct rt_resp r;
	json_t *msgs;

	world_start(&w, NULL);
	snprintf(url, sizeof(url), "http://127.0.0.1:%d/_control/fail?count=3&status=503", w.sms_port);
	cr_assert_eq(rt_http("POST", url, NULL, "", 0, &r), 0);
	rt_resp_free(&r);
	order(&w, 4719, 0);
	tx = invited(&w, 4719);
	provider_says(&w, "idnow-result-success.json", tx, NULL, NULL);
	cr_expect_eq(callback(&w, tx, NULL), 200);
	cr_assert(wait_for(w.db, "SELECT count(*) FROM transport_pin_deliveries WHERE sent_at IS NOT NULL", 1,
			   60));
	cr_expect_eq(count(w.db, "SELECT count(*) FROM jobs WHERE kind = 'transport_pin' AND attempts >= 4"),
		     1, "three refused sends, then delivered");
	msgs = sms_messages(&w);
	cr_assert_eq(json_array_size(msgs), 1);
	check_pins(&w, msgs);
	pin_of(json_string_value(json_object_get(json_array_get(msgs, 0), "text")), pin, sizeof(pin));
	json_decref(msgs);

	/* the state a run leaves when it dies after the gateway's 200, before its record */
	id = rt_sql(w.db, "SELECT certificate_id FROM transport_pin_deliveries");
	hash_before = rt_sql(w.db, "SELECT transport_pin_hash FROM certificates");
	setenv("RA_EVIDENCE_KEY", EVIDENCE_KEY, 1);
	cr_assert_eq(config_load(&cfg, NULL, 0, &e), 0, "%s", e.msg);
	snprintf(aad, sizeof(aad), TPIN_AAD_FMT, id);
	cr_assert_eq(vault_seal(&cfg, aad, pin, strlen(pin), &hex, &e), 0, "%s", e.msg);
	snprintf(
		sql, sizeof(sql),
		"UPDATE transport_pin_deliveries SET sent_at = NULL, sms_id = NULL, pin_sealed = decode('%s', 'hex');"
		"INSERT INTO jobs (kind, payload, idempotency_key) VALUES ('transport_pin',"
		" jsonb_build_object('certificate_id', '%s'), 'transport_pin:rerun')",
		hex, id);
	cr_assert_eq(rt_exec(w.db, sql, err, sizeof(err)), 0, "%s", err);
	cr_assert(wait_for(w.db, "SELECT count(*) FROM transport_pin_deliveries WHERE sent_at IS NOT NULL", 1,
			   30));
	msgs = sms_messages(&w);
	cr_assert_eq(json_array_size(msgs), 2, "the re-run sends again");
	{
		char pin2[32];
		pin_of(json_string_value(json_object_get(json_array_get(msgs, 1), "text")), pin2,
		       sizeof(pin2));
		cr_expect_str_eq(pin2, pin, "R11: the same PIN, never a second different one");
	}
	hash_after = rt_sql(w.db, "SELECT transport_pin_hash FROM certificates");
	cr_expect_str_eq(hash_after, hash_before, "R11: the stored hash is unchanged");
	check_pins(&w, msgs);
	json_decref(msgs);
	config_free(&cfg);
	free(hex);
	free(id);
	free(hash_before);
	free(hash_after);
	free(tx);
	world_stop(&w);
}

/* Runs one order to its TransportPIN SMS; returns the certificate's id (caller frees). */
static char *delivered(struct world *w, long shop_id)
{
	char *tx;

	order(w, shop_id, 0);
	tx = invited(w, shop_id);
	provider_says(w, "idnow-result-success.json", tx, NULL, NULL);
	cr_expect_eq(callback(w, tx, NULL), 200);
	cr_assert(wait_for(w->db, "SELECT count(*) FROM transport_pin_deliveries WHERE sent_at IS NOT NULL",
			   1, 60));
	free(tx);
	return rt_sql(w->db, "SELECT certificate_id FROM transport_pin_deliveries");
}

/* An order issued through the whole flow that the shop then cancels: the shop cannot cancel
 * a certificate, so the order stays issued and support is told through the audit, once for a
 * repeated webhook (intake's shop_cancel_not_applied). */
Test(ident, shop_cancel_of_an_issued_order_is_left_to_support_once)
{
	struct world w;
	char *id, *answer = NULL;

	world_start(&w, NULL);
	id = delivered(&w, 4741);
	cr_assert(wait_for(w.db,
			   "SELECT count(*) FROM orders WHERE shop_order_id = 4741 AND state = 'issued'", 1,
			   30),
		  "the order reaches issued");
	cr_assert_eq(post_order(&w, 4741, 0, NULL, "cancelled", &answer), 200, "%s", answer);
	cr_expect(answer != NULL && strstr(answer, "left_to_support") != NULL, "%s", answer);
	free(answer);
	cr_assert_eq(post_order(&w, 4741, 0, NULL, "cancelled", NULL), 200, "the repeated webhook");
	cr_expect_eq(
		count(w.db, "SELECT count(*) FROM orders WHERE shop_order_id = 4741 AND state = 'issued'"),
		1);
	cr_expect_eq(
		count(w.db, "SELECT count(*) FROM audit_log WHERE action = 'order.shop_cancel_not_applied'"),
		1, "support is told once");
	cr_expect_eq(count(w.db, "SELECT count(*) FROM certificates WHERE state = 'revoked'"), 0,
		     "a shop cancel revokes nothing");
	free(id);
	world_stop(&w);
}

/* A stored TransportPIN that opens but is longer than any PIN we make: the job dies with an
 * error that says so (not an uninitialised one) and sends nothing (R11). */
Test(ident, r11_stored_pin_of_impossible_length_fails_the_job_with_a_named_error)
{
	struct world w;
	char *id, *hex = NULL, *last, aad[128], sql[2048], err[256];
	const char *bogus = "1234567890123456789012345678901234567890";
	struct config cfg = {0};
	struct ra_err e;
	json_t *msgs;

	world_start(&w, NULL);
	id = delivered(&w, 4720);
	setenv("RA_EVIDENCE_KEY", EVIDENCE_KEY, 1);
	cr_assert_eq(config_load(&cfg, NULL, 0, &e), 0, "%s", e.msg);
	snprintf(aad, sizeof(aad), TPIN_AAD_FMT, id);
	cr_assert_eq(vault_seal(&cfg, aad, bogus, strlen(bogus), &hex, &e), 0, "%s", e.msg);
	snprintf(
		sql, sizeof(sql),
		"UPDATE transport_pin_deliveries SET sent_at = NULL, sms_id = NULL, pin_sealed = decode('%s', 'hex');"
		"INSERT INTO jobs (kind, payload, idempotency_key) VALUES ('transport_pin',"
		" jsonb_build_object('certificate_id', '%s'), 'transport_pin:badlen')",
		hex, id);
	cr_assert_eq(rt_exec(w.db, sql, err, sizeof(err)), 0, "%s", err);
	cr_assert(wait_for(
		w.db,
		"SELECT count(*) FROM jobs WHERE idempotency_key = 'transport_pin:badlen' AND state = 'dead'",
		1, 30));
	last = rt_sql(w.db, "SELECT last_error FROM jobs WHERE idempotency_key = 'transport_pin:badlen'");
	cr_assert_not_null(last);
	cr_expect(strstr(last, "stored TransportPIN is 40 bytes long") != NULL, "last_error: %s", last);
	msgs = sms_messages(&w);
	cr_expect_eq(json_array_size(msgs), 1, "nothing sent with the bogus PIN");
	json_decref(msgs);
	free(last);
	config_free(&cfg);
	free(hex);
	free(id);
	world_stop(&w);
}

/* A revocation that commits while the TransportPIN run is about to store its PIN: nothing is
 * stored and no SMS goes out for the revoked certificate; the re-run skips it (R11, R14). */
Test(ident, r11_r14_no_pin_stored_or_sent_when_revoked_during_the_run)
{
	struct world w;
	char *id, *tok, sql[1024], err[256];
	PGconn *lk;
	PGresult *r;
	json_t *msgs;
	pid_t revoker;
	int status;

	world_start(&w, NULL);
	id = delivered(&w, 4721);
	snprintf(sql, sizeof(sql), "DELETE FROM transport_pin_deliveries WHERE certificate_id = '%s'", id);
	cr_assert_eq(rt_exec(w.db, sql, err, sizeof(err)), 0, "%s", err);
	/* The revocation is support's, through the admin API, and it is held open at the instant
	 * the test needs: this session inserts (uncommitted) a job under the idempotency key the
	 * revocation's ca_revoke job takes, so the revocation, having changed the certificate's
	 * row first (the outbox sends the state change before its jobs), waits on that key while
	 * it holds the row.  Rolled back below, the revocation goes on and commits. */
	lk = PQconnectdb(w.db);
	cr_assert_eq(PQstatus(lk), CONNECTION_OK, "%s", PQerrorMessage(lk));
	r = PQexec(lk, "BEGIN");
	PQclear(r);
	snprintf(sql, sizeof(sql),
		 "INSERT INTO jobs (kind, payload, idempotency_key) VALUES ('noop', '{}', 'ca_revoke:%s')",
		 id);
	r = PQexec(lk, sql);
	cr_assert_eq(PQresultStatus(r), PGRES_COMMAND_OK, "%s", PQerrorMessage(lk));
	PQclear(r);
	tok = rt_token(w.db, "sam", "support");
	revoker = fork();
	cr_assert_neq(revoker, -1);
	if (revoker == 0)
		_exit(rt_admin_revoke_status(&w.ra, tok, id, "keyCompromise") == 200 ? 0 : 1);
	cr_assert(wait_for(w.db,
			   "SELECT count(*) FROM pg_stat_activity WHERE wait_event_type = 'Lock'"
			   " AND query LIKE '%INSERT INTO jobs%'",
			   1, 30),
		  "the revocation never came to wait with the certificate's row held");
	snprintf(sql, sizeof(sql),
		 "INSERT INTO jobs (kind, payload, idempotency_key) VALUES ('transport_pin',"
		 " jsonb_build_object('certificate_id', '%s'), 'transport_pin:race')",
		 id);
	cr_assert_eq(rt_exec(w.db, sql, err, sizeof(err)), 0, "%s", err);
	cr_assert(wait_for(w.db,
			   "SELECT count(*) FROM pg_stat_activity WHERE wait_event_type = 'Lock'"
			   " AND query LIKE '%transport_pin_deliveries%'",
			   1, 30),
		  "the run never reached its store");
	r = PQexec(lk, "ROLLBACK");
	cr_assert_eq(PQresultStatus(r), PGRES_COMMAND_OK, "%s", PQerrorMessage(lk));
	PQclear(r);
	PQfinish(lk);
	cr_assert_eq(waitpid(revoker, &status, 0), revoker);
	cr_assert(WIFEXITED(status) && WEXITSTATUS(status) == 0, "the revocation through the admin API: 200");
	free(tok);
	snprintf(sql, sizeof(sql), "SELECT count(*) FROM certificates WHERE id = '%s' AND state = 'revoked'",
		 id);
	cr_expect_eq(count(w.db, sql), 1, "revoked");
	cr_assert(wait_for(w.db,
			   "SELECT count(*) FROM jobs WHERE idempotency_key = 'transport_pin:race'"
			   " AND state IN ('done', 'dead')",
			   1, 30));
	cr_expect_eq(count(w.db, "SELECT count(*) FROM transport_pin_deliveries"), 0,
		     "a PIN stored for a revoked certificate");
	msgs = sms_messages(&w);
	cr_expect_eq(json_array_size(msgs), 1, "an SMS for a revoked certificate");
	json_decref(msgs);
	free(id);
	world_stop(&w);
}

/* ---- contract places (R6) ------------------------------------------------------------------ */

/* A contract of quota 2 and an order on it that took its places; returns the order's id. */
static char *contract_order(struct world *w, long shop_id, char **tx)
{
	char dbenv[1024], *out = NULL, *oid;
	const char *env[] = {dbenv, NULL};

	snprintf(dbenv, sizeof(dbenv), "RA_DATABASE_URL=%s", w->db);
	cr_assert_eq(
		rt_ra_cmd(env, &out, "contract", "create", "--org", "Gruber Bau GmbH", "--quota", "2", NULL),
		0, "%s", out);
	free(out);
	order_contract(w, shop_id, 1, "RA-C-000001");
	*tx = invited(w, shop_id);
	cr_assert_eq(count(w->db, "SELECT used FROM contracts"), 2, "both line items took a place");
	oid = rt_sql(w->db, "SELECT id FROM orders");
	return oid;
}

static void places_given_back(struct world *w, const char *action)
{
	cr_expect_eq(count(w->db, "SELECT used FROM contracts"), 0, "R6: %s gives the places back", action);
	cr_expect_eq(count(w->db, "SELECT quota_taken FROM orders"), 0,
		     "R6: the order holds no place after %s", action);
}

Test(ident, r6_fraud_gives_the_contract_places_back)
{
	struct world w;
	char *tx, *oid;

	world_start(&w, NULL);
	oid = contract_order(&w, 4730, &tx);
	provider_says(&w, "idnow-result-fraud.json", tx, NULL, NULL);
	cr_expect_eq(callback(&w, tx, NULL), 200);
	cr_assert(wait_for(w.db, "SELECT count(*) FROM orders WHERE state = 'rejected'", 1, 30), "rejected");
	places_given_back(&w, "fraud");
	free(oid);
	free(tx);
	world_stop(&w);
}

Test(ident, r6_identification_failed_for_good_gives_the_contract_places_back)
{
	struct world w;
	char *tx, *oid;

	world_start(&w, "RA_IDENT_MAX_ATTEMPTS=1");
	oid = contract_order(&w, 4731, &tx);
	provider_says(&w, "idnow-result-success.json", tx, "ABORTED", NULL);
	cr_expect_eq(callback(&w, tx, NULL), 200);
	cr_assert(wait_for(w.db, "SELECT count(*) FROM audit_log WHERE action = 'order.ident_failed'", 1, 30),
		  "no attempt left");
	places_given_back(&w, "a failed identification");
	free(oid);
	free(tx);
	world_stop(&w);
}

Test(ident, r6_review_reject_gives_the_contract_places_back)
{
	struct world w;
	char *tx, *oid, *out = NULL;

	world_start(&w, NULL);
	oid = contract_order(&w, 4732, &tx);
	provider_says(&w, "idnow-result-data-changed.json", tx, NULL, NULL);
	cr_expect_eq(callback(&w, tx, NULL), 200);
	cr_assert(wait_for(w.db, "SELECT count(*) FROM orders WHERE state = 'in_review'", 1, 30), "review");
	cr_expect_eq(count(w.db, "SELECT used FROM contracts"), 2, "a review keeps the places");
	cr_expect_eq(ra_cmd(&w, &out, "order", "reject", oid, "--by", "bob"), 0, "%s", out);
	free(out);
	places_given_back(&w, "a rejection after review");
	/* a second rejection is refused and gives nothing back twice */
	cr_expect_eq(ra_cmd(&w, &out, "order", "reject", oid, "--by", "bob"), 1, "%s", out);
	free(out);
	places_given_back(&w, "a repeated rejection");
	free(oid);
	free(tx);
	world_stop(&w);
}

/* Issue #19 item 1: a SIGKILL inside SoftHSM2's C_GenerateKeyPair under token storage leaves a
 * public key with the certificate's id and no private key.  Made here with pkcs11-tool before
 * the order arrives (the certificate's id is 'crq-' and its request's number, 1 in a fresh
 * database): the certificate is issued anyway.  Under token storage the log names the destroyed
 * remnant and one pair is made.  Before the fix the retry made a second pair, the public-key
 * read found two, and after 10 attempts the certificate failed and the order hung in issuing.
 * Under wrapped storage (the default) a crash leaves nothing on the token (session objects),
 * so such a remnant can only come from an earlier token-storage attempt, and a retry searches
 * for it (test_cab_wrapped token_key_from_before_the_switch_stays_and_remnants_go); a job's
 * first attempt does not search (cab_keygen_csr_first, issue #15): the certificate is issued
 * with a fresh wrapped key, and the planted object, which no attempt made, is left alone. */
static void remnant_cleaned_up(const char *storage_env)
{
	struct world w;
	char *tx, *id, *log;

	world_start(&w, storage_env);
	cr_assert_eq(ts_token_remnant("ra-test", "4711", "crq-1", 1), 0, "pkcs11-tool made the remnant");
	order(&w, 4790, 0);
	tx = invited(&w, 4790);
	cr_assert_not_null(tx);
	provider_says(&w, "idnow-result-success.json", tx, NULL, NULL);
	cr_expect_eq(callback(&w, tx, NULL), 200);
	cr_assert(wait_for(w.db, "SELECT count(*) FROM orders WHERE state = 'issued'", 1, 60),
		  "order issued");
	id = rt_sql(w.db, "SELECT id FROM certificates WHERE state = 'issued'");
	cr_expect_str_eq(id, "crq-1", "the certificate whose id the remnant has");
	cr_expect_eq(count(w.db, "SELECT count(*) FROM jobs WHERE state = 'dead'"), 0, "no dead job");
	log = rt_read_file(w.ra.log, NULL);
	if (storage_env != NULL) {
		cr_expect(log && strstr(log, "cert.key_remnant_destroyed"),
			  "the log names the destroyed remnant");
	} else {
		/* (a retry would search and destroy it; either way the certificate has a fresh key) */
		cr_expect_eq(count(w.db,
				   "SELECT count(*) FROM certificates WHERE id = 'crq-1'"
				   " AND key_storage = 'wrapped' AND length(key_blob) > 100"),
			     1, "issued with a fresh wrapped key");
	}
	free(log);
	free(id);
	free(tx);
	world_stop(&w);
}

Test(ident, r2_half_made_key_pair_from_a_crash_in_keygen_is_cleaned_up_wrapped)
{
	remnant_cleaned_up(NULL); /* pkcs11.key_storage's default: wrapped */
}

Test(ident, r2_half_made_key_pair_from_a_crash_in_keygen_is_cleaned_up_token)
{
	remnant_cleaned_up("RA_PKCS11_KEY_STORAGE=token");
}
