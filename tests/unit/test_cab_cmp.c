/* test_cab_cmp.c - the ca-bridge interface with backend "cmp" against real peers on
 * loopback: build/ca-bridge (our local CA served over CMP: P10CR, RR, PBM or signature
 * protection, GET /crl) and `openssl cmp`'s mock server (wire compatibility).  The issuance
 * and revocation cases of test_cab_profiles.c / test_cab_revoke.c run again over CMP: R1, R4,
 * R5 profile fields, idempotent issue (also across a lost answer), R14 final revocation and
 * the CRL; plus the CA's refusal as a named error and transient failures told apart. */
#include "ca-bridge/cab.h"
#include "tests/lib/ts_cab.h"
#include "tests/lib/ts_x509.h"
#include "tests/lib/ts_cmp.h"

#include <criterion/criterion.h>
#include <openssl/pem.h>
#include <openssl/x509v3.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define SECRET "cmp-test-secret"

static struct ts_cab t;
static struct ts_proc srv;
static char srv_dir[400], trusted[400], url[128], log_path[400];

/* Starts ca-bridge on srv_dir (PBM, refusing CNs "Refused *") and points t.cfg at it. */
static void start_bridge(const char *const *extra)
{
	const char *args[40] = {"--ca-dir",     srv_dir,
				"--policy-oid", TS_CAB_POLICY,
				"--pds-url",    TS_CAB_PDS,
				"--crl-url",    TS_CAB_CRL_URL,
				"--ca-subject", "C=AT,O=Test Trust Service,CN=Test CMP CA",
				"--refuse-cn",  "Refused *"};
	int n = 12;

	for (int i = 0; extra != NULL && extra[i] != NULL; i++)
		args[n++] = extra[i];
	if (extra == NULL) {
		args[n++] = "--secret";
		args[n++] = "env:TS_CMP_SECRET";
		args[n++] = "--reference";
		args[n++] = "ca-bridge";
	}
	args[n] = NULL;
	cr_assert_eq(ts_cabridge_start(&srv, log_path, args), 0, "ca-bridge did not start; see %s", log_path);
	snprintf(url, sizeof(url), "http://127.0.0.1:%d/cmp", srv.port);
	t.cfg.cmp_url = url;
}

static void setup(void)
{
	cr_assert_eq(ts_cab_setup(&t, 0), 0, "setup: %s", t.err.msg);
	setenv("TS_CMP_SECRET", SECRET, 1);
	snprintf(srv_dir, sizeof(srv_dir), "%s/bridge-ca", t.dir);
	snprintf(log_path, sizeof(log_path), "%s/ca-bridge.log", t.dir);
	snprintf(trusted, sizeof(trusted), "%s/bridge-ca/ca.pem", t.dir);
	start_bridge(NULL);
	t.cfg.backend = "cmp";
	t.cfg.cmp_secret = SECRET;
	t.cfg.cmp_reference = "ra-test";
	t.cfg.cmp_trusted = trusted;
	t.cfg.cmp_timeout_s = 2; /* a stopped peer costs this per call */
	t.cab = cab_open(&t.cfg, &t.err);
	cr_assert_not_null(t.cab, "cab_open cmp: %s", t.err.msg);
}

static void teardown(void)
{
	/* a clean exit on SIGTERM; a sanitizer report in ca-bridge makes it non-zero */
	if (srv.pid > 0)
		cr_expect_eq(ts_proc_stop(&srv), 0, "ca-bridge did not exit cleanly; see %s", log_path);
	ts_cab_teardown(&t);
}

TestSuite(cab_cmp, .init = setup, .fini = teardown, .timeout = 60);

static void issue_req(struct cab_request *req, struct cab_cert *c)
{
	struct cab_key k;
	struct cab_err err;

	cr_assert_eq(cab_keygen(t.cab, req->key_id, CAB_ALG_DEFAULT, &k, &err), 0, "%s", err.msg);
	cr_assert_eq(cab_issue(t.cab, req, c, &err), 0, "%s (%s)", err.msg, err.field);
	/* R2: the certificate carries the token key */
	cr_expect_str_eq(c->spki_sha256_hex, k.sha256_hex);
	cab_key_free(&k);
}

static void issue(const char *id, enum cab_class cls, struct cab_cert *c)
{
	struct cab_request req;

	ts_cab_request(&req, id, cls, id);
	issue_req(&req, c);
}

/* The qcStatement ids, in order, joined by spaces ("" when there is no extension). */
static void qc_ids(X509 *x, char *out, size_t cap)
{
	ASN1_OBJECT *qcoid = OBJ_txt2obj("1.3.6.1.5.5.7.1.3", 1);
	int i = X509_get_ext_by_OBJ(x, qcoid, -1);
	const unsigned char *p, *end;
	long len;
	int tag, cls;

	ASN1_OBJECT_free(qcoid);
	out[0] = '\0';
	if (i < 0)
		return;
	ASN1_OCTET_STRING *os = X509_EXTENSION_get_data(X509_get_ext(x, i));
	p = ASN1_STRING_get0_data(os);
	cr_assert_eq(ASN1_get_object(&p, &len, &tag, &cls, ASN1_STRING_length(os)) & 0x80, 0);
	end = p + len;
	while (p < end) {
		const unsigned char *st;
		char oid[48];

		cr_assert_eq(ASN1_get_object(&p, &len, &tag, &cls, end - p) & 0x80, 0);
		st = p;
		ASN1_OBJECT *o = d2i_ASN1_OBJECT(NULL, &st, len);
		cr_assert_not_null(o);
		OBJ_obj2txt(oid, sizeof(oid), o, 1);
		ASN1_OBJECT_free(o);
		snprintf(out + strlen(out), cap - strlen(out), "%s%s", out[0] ? " " : "", oid);
		p += len;
	}
}

/* R1, R5 over CMP: the qualified profile's OIDs and fields, signed by ca-bridge's CA. */
Test(cab_cmp, r1_r5_qualified_over_cmp_has_the_etsi_fields)
{
	struct cab_cert c;
	char pol[256], qc[256];
	int crit = 0, type, ku;
	X509 *x, *ca;

	issue("q-1", CAB_CLASS_QUALIFIED, &c);
	x = ts_cert_of(&c);
	ts_policies(x, pol, sizeof(pol));
	cr_expect_str_eq(pol, "0.4.0.194112.1.2 " TS_CAB_POLICY);
	qc_ids(x, qc, sizeof(qc));
	cr_expect_str_eq(qc, "0.4.0.1862.1.1 0.4.0.1862.1.4 0.4.0.1862.1.6 0.4.0.1862.1.5");
	ku = (int)X509_get_key_usage(x);
	crit = X509_EXTENSION_get_critical(X509_get_ext(x, X509_get_ext_by_NID(x, NID_key_usage, -1)));
	cr_expect_eq(ku, KU_NON_REPUDIATION);
	cr_expect_eq(crit, 1);
	cr_expect(ts_years_days_ok(ts_validity_days(x), 5), "%d days", ts_validity_days(x));
	cr_expect_str_eq(ts_rdn(x, NID_givenName, &type), "Jürgen");
	cr_expect_eq(type, V_ASN1_UTF8STRING);
	cr_expect_str_eq(ts_rdn(x, NID_serialNumber, &type), "PNOAT-1234567890");
	cr_expect_eq(type, V_ASN1_PRINTABLESTRING);
	cr_expect_str_eq(ts_rdn(x, NID_commonName, &type), "Jürgen Österreicher");
	/* signed by the CA in cmp.trusted, which cab_chain_pem hands out */
	ca = ts_chain_ca(t.cab);
	cr_expect_eq(X509_verify(x, X509_get0_pubkey(ca)), 1);
	cr_expect_eq(X509_NAME_cmp(X509_get_issuer_name(x), X509_get_subject_name(ca)), 0);
	X509_free(ca);
	X509_free(x);
	cab_cert_free(&c);
}

/* R1, R4, R5: the class and an explicit validity travel in certProfile; seal and variant 2. */
Test(cab_cmp, r1_r4_r5_advanced_seal_and_variant2_over_cmp)
{
	struct cab_request req;
	struct cab_cert c;
	char pol[256], qc[256];
	int type;
	X509 *x;

	ts_cab_request(&req, "a-3y", CAB_CLASS_ADVANCED, "a-3y");
	req.validity_years = 3;
	issue_req(&req, &c);
	x = ts_cert_of(&c);
	ts_policies(x, pol, sizeof(pol));
	cr_expect_str_eq(pol, "0.4.0.2042.1.2 " TS_CAB_POLICY);
	qc_ids(x, qc, sizeof(qc));
	cr_expect_str_eq(qc, "", "an advanced certificate must carry no QC statements");
	cr_expect(ts_years_days_ok(ts_validity_days(x), 3), "%d days", ts_validity_days(x));
	X509_free(x);
	cab_cert_free(&c);

	ts_cab_request(&req, "v2-1", CAB_CLASS_QUALIFIED, "v2-1");
	req.subject.organization = "Muster & Söhne GmbH";
	req.subject.organization_identifier = "VATAT-U12345678";
	req.subject.title = "Geschäftsführer";
	issue_req(&req, &c);
	x = ts_cert_of(&c);
	cr_expect_str_eq(ts_rdn(x, NID_title, &type), "Geschäftsführer");
	cr_expect_str_eq(ts_rdn(x, NID_organizationIdentifier, &type), "VATAT-U12345678");
	X509_free(x);
	cab_cert_free(&c);

	memset(&req, 0, sizeof(req));
	req.request_id = req.key_id = "seal-1";
	req.cls = CAB_CLASS_SEAL;
	req.subject.country = "AT";
	req.subject.organization = "Muster GmbH";
	req.subject.organization_identifier = "VATAT-U12345678";
	req.subject.common_name = "Muster GmbH Rechnungssiegel";
	issue_req(&req, &c);
	x = ts_cert_of(&c);
	cr_expect_str_eq(ts_rdn(x, NID_givenName, &type), "");
	cr_expect(ts_years_days_ok(ts_validity_days(x), 10), "%d days", ts_validity_days(x));
	X509_free(x);
	cab_cert_free(&c);
}

/* R4, R5: refused before anything goes to the CA, with the same field as locally. */
Test(cab_cmp, r4_r5_profile_refusals_named_as_locally)
{
	struct cab_request req;
	struct cab_cert c;
	struct cab_err err;
	struct cab_key k;

	cr_assert_eq(cab_keygen(t.cab, "bad-1", CAB_ALG_DEFAULT, &k, &err), 0, "%s", err.msg);
	cab_key_free(&k);
	ts_cab_request(&req, "bad-1", CAB_CLASS_QUALIFIED, "bad-1");
	req.validity_years = 6;
	cr_expect_eq(cab_issue(t.cab, &req, &c, &err), CAB_E_PROFILE);
	cr_expect_str_eq(err.field, "validity_years");
	req.validity_years = 0;
	req.subject.organization = "Muster GmbH";
	cr_expect_eq(cab_issue(t.cab, &req, &c, &err), CAB_E_PROFILE);
	cr_expect_str_eq(err.field, "subject.title");
}

/* One request never yields two certificates: repeat, restart, and a lost answer. */
Test(cab_cmp, issue_twice_same_request_id_same_certificate)
{
	struct cab_cert a, b, c, d;
	char path[600];

	issue("same-1", CAB_CLASS_QUALIFIED, &a);
	issue("same-1", CAB_CLASS_QUALIFIED, &b);
	cr_expect_str_eq(a.serial_hex, b.serial_hex);
	cr_assert_eq(a.der_len, b.der_len);
	cr_expect_eq(memcmp(a.der, b.der, a.der_len), 0);
	cr_assert_eq(ts_cab_reopen(&t), 0, "%s", t.err.msg);
	issue("same-1", CAB_CLASS_QUALIFIED, &c);
	cr_expect_str_eq(a.serial_hex, c.serial_hex);
	/* the answer was lost (crash before our record): the retry is the same transaction, and
	 * ca-bridge returns the certificate it issued for it, not a second one */
	snprintf(path, sizeof(path), "%s/issued/same-1.der", t.ca_dir);
	cr_assert_eq(unlink(path), 0);
	snprintf(path, sizeof(path), "%s/serial/%s", t.ca_dir, a.serial_hex);
	cr_assert_eq(unlink(path), 0);
	cr_assert_eq(ts_cab_reopen(&t), 0, "%s", t.err.msg);
	issue("same-1", CAB_CLASS_QUALIFIED, &d);
	cr_expect_str_eq(a.serial_hex, d.serial_hex, "a lost answer made a second certificate");
	cab_cert_free(&d);
	issue("other-1", CAB_CLASS_QUALIFIED, &d);
	cr_expect_str_neq(a.serial_hex, d.serial_hex);
	cab_cert_free(&a);
	cab_cert_free(&b);
	cab_cert_free(&c);
	cab_cert_free(&d);
}

static int crl_reason(X509_CRL *crl, const char *serial_hex)
{
	STACK_OF(X509_REVOKED) *revs = X509_CRL_get_REVOKED(crl);

	for (int i = 0; i < sk_X509_REVOKED_num(revs); i++) {
		X509_REVOKED *r = sk_X509_REVOKED_value(revs, i);
		BIGNUM *bn = ASN1_INTEGER_to_BN(X509_REVOKED_get0_serialNumber(r), NULL);
		char *hex = BN_bn2hex(bn);
		const char *h = hex;
		int match, code = -1;

		while (*h == '0' && h[1])
			h++; /* BN_bn2hex pads to whole bytes; serial_hex has no leading zeros */
		match = strcmp(h, serial_hex) == 0;
		OPENSSL_free(hex);
		BN_free(bn);
		if (!match)
			continue;
		ASN1_ENUMERATED *e = X509_REVOKED_get_ext_d2i(r, NID_crl_reason, NULL, NULL);
		code = e ? (int)ASN1_ENUMERATED_get(e) : 0;
		ASN1_ENUMERATED_free(e);
		return code;
	}
	return -1;
}

/* R14 over CMP: revoked with its reason, a second revocation refused, the CRL shows it. */
Test(cab_cmp, r14_revoke_final_second_refused_crl_lists_serial)
{
	struct cab_cert c, ok;
	struct cab_err err;
	X509_CRL *before, *crl;
	X509 *ca;

	issue("rev-1", CAB_CLASS_ADVANCED, &c);
	issue("rev-ok", CAB_CLASS_ADVANCED, &ok);
	before = ts_crl(t.cab);
	cr_expect_eq(crl_reason(before, c.serial_hex), -1);
	cr_assert_eq(cab_revoke(t.cab, c.serial_hex, CAB_REASON_KEY_COMPROMISE, 0, &err), 0, "%s", err.msg);
	cr_expect_eq(cab_revoke(t.cab, c.serial_hex, CAB_REASON_SUPERSEDED, 0, &err), CAB_E_ALREADY_REVOKED,
		     "%s", err.msg);
	crl = ts_crl(t.cab);
	ca = ts_chain_ca(t.cab);
	cr_expect_eq(X509_CRL_verify(crl, X509_get0_pubkey(ca)), 1);
	cr_expect_eq(crl_reason(crl, c.serial_hex), CAB_REASON_KEY_COMPROMISE, "the first reason stands");
	cr_expect_eq(crl_reason(crl, ok.serial_hex), -1);
	/* after a restart of ra's side the CA still refuses */
	cr_assert_eq(ts_cab_reopen(&t), 0, "%s", t.err.msg);
	cr_expect_eq(cab_revoke(t.cab, c.serial_hex, CAB_REASON_SUPERSEDED, 0, &err), CAB_E_ALREADY_REVOKED);
	X509_free(ca);
	X509_CRL_free(before);
	X509_CRL_free(crl);
	cab_cert_free(&c);
	cab_cert_free(&ok);
}

Test(cab_cmp, r14_unknown_serial_not_found_at_the_ca)
{
	struct cab_err err;

	cr_expect_eq(cab_revoke(t.cab, "0123456789ABCDEF", CAB_REASON_UNSPECIFIED, 0, &err), CAB_E_NOTFOUND,
		     "%s", err.msg);
	cr_expect_eq(cab_revoke(t.cab, "xyz", CAB_REASON_UNSPECIFIED, 0, &err), CAB_E_INVALID);
}

/* The CA refuses the subject: a named, final error with the CA's reason; nothing recorded. */
Test(cab_cmp, ca_rejection_is_named_final_and_stores_nothing)
{
	struct cab_request req;
	struct cab_cert c;
	struct cab_key k;
	struct cab_err err;
	char path[600];
	struct stat st;

	cr_assert_eq(cab_keygen(t.cab, "refuse-1", CAB_ALG_DEFAULT, &k, &err), 0, "%s", err.msg);
	cab_key_free(&k);
	ts_cab_request(&req, "refuse-1", CAB_CLASS_QUALIFIED, "refuse-1");
	req.subject.common_name = "Refused Person";
	cr_expect_eq(cab_issue(t.cab, &req, &c, &err), CAB_E_REJECTED, "%d %s", err.code, err.msg);
	cr_expect_not_null(strstr(err.msg, "rejection"), "%s", err.msg);
	cr_expect_not_null(strstr(err.msg, "notAuthorized"), "%s", err.msg);
	cr_expect_not_null(strstr(err.msg, "refused by this CA's policy"), "%s", err.msg);
	snprintf(path, sizeof(path), "%s/issued/refuse-1.der", t.ca_dir);
	cr_expect_neq(stat(path, &st), 0, "a refused request left a certificate record");
	/* the same again: still refused, still nothing */
	cr_expect_eq(cab_issue(t.cab, &req, &c, &err), CAB_E_REJECTED);
	cr_expect_neq(stat(path, &st), 0);
}

/* No CA to talk to: transient (CAB_E_IO); the wrong secret: not transient, not a refusal. */
Test(cab_cmp, unreachable_ca_is_io_and_wrong_secret_is_ca_error)
{
	struct cab_cert c;
	struct cab_key k;
	struct cab_request req;
	struct cab_err err;

	cr_assert_eq(cab_keygen(t.cab, "down-1", CAB_ALG_DEFAULT, &k, &err), 0, "%s", err.msg);
	cab_key_free(&k);
	ts_cab_request(&req, "down-1", CAB_CLASS_ADVANCED, "down-1");
	t.cfg.cmp_secret = "not-the-secret";
	cr_assert_eq(ts_cab_reopen(&t), 0, "%s", t.err.msg);
	cr_expect_eq(cab_issue(t.cab, &req, &c, &err), CAB_E_CA, "%d %s", err.code, err.msg);
	cr_expect_null(strstr(err.msg, "not-the-secret"), "the secret leaked: %s", err.msg);
	cr_expect_eq(ts_proc_stop(&srv), 0, "see %s", log_path);
	cr_expect_eq(cab_issue(t.cab, &req, &c, &err), CAB_E_IO, "%d %s", err.code, err.msg);
	cr_expect_eq(cab_revoke(t.cab, "0A", CAB_REASON_UNSPECIFIED, 0, &err), CAB_E_IO, "%s", err.msg);
	unsigned char *der = NULL;
	size_t len = 0;
	cr_expect_eq(cab_crl(t.cab, &der, &len, &err), CAB_E_IO, "%s", err.msg);
	free(der);
}

/* A CSR made elsewhere goes to the CA as it is; one whose subject is not the request's is
 * refused before it leaves. */
Test(cab_cmp, external_csr_issued_and_foreign_subject_refused)
{
	struct cab_request req;
	struct cab_key k;
	struct cab_cert c;
	struct cab_err err;
	struct cab_subject other;
	unsigned char *csr = NULL;
	size_t len = 0;

	cr_assert_eq(cab_keygen(t.cab, "ext-1", CAB_ALG_DEFAULT, &k, &err), 0, "%s", err.msg);
	ts_cab_request(&req, "ext-1", CAB_CLASS_ADVANCED, NULL);
	cr_assert_eq(cab_csr(t.cab, "ext-1", &req.subject, &csr, &len, &err), 0, "%s", err.msg);
	req.csr_der = csr;
	req.csr_len = len;
	cr_assert_eq(cab_issue(t.cab, &req, &c, &err), 0, "%s", err.msg);
	cr_expect_str_eq(c.spki_sha256_hex, k.sha256_hex);
	cab_cert_free(&c);
	free(csr);
	other = req.subject;
	other.common_name = "Someone Else";
	cr_assert_eq(cab_csr(t.cab, "ext-1", &other, &csr, &len, &err), 0, "%s", err.msg);
	req.request_id = "ext-2";
	req.csr_der = csr;
	req.csr_len = len;
	cr_expect_eq(cab_issue(t.cab, &req, &c, &err), CAB_E_PROFILE);
	cr_expect_str_eq(err.field, "csr");
	free(csr);
	cab_key_free(&k);
}

struct job {
	char id[32];
	struct cab_cert cert;
	int rc;
	struct cab_err err;
};

static void *worker(void *arg)
{
	struct job *j = arg;

	j->rc = ts_cab_keygen_issue(t.cab, j->id, CAB_CLASS_QUALIFIED, &j->cert, &j->err);
	if (j->rc == 0)
		j->rc = cab_revoke(t.cab, j->cert.serial_hex, CAB_REASON_SUPERSEDED, 0, &j->err);
	if (j->rc == CAB_E_ALREADY_REVOKED)
		j->rc = 1;
	return NULL;
}

/* Worker threads at once (the service calls from libuv's pool): pairs share a request id. */
Test(cab_cmp, threads_issue_and_revoke_concurrently)
{
	enum { N = 8 };
	pthread_t th[N];
	struct job jobs[N];
	int wins = 0;

	memset(jobs, 0, sizeof(jobs));
	for (int i = 0; i < N; i++) {
		snprintf(jobs[i].id, sizeof(jobs[i].id), "th-%d", i / 2);
		cr_assert_eq(pthread_create(&th[i], NULL, worker, &jobs[i]), 0);
	}
	for (int i = 0; i < N; i++)
		pthread_join(th[i], NULL);
	for (int i = 0; i < N; i += 2) {
		cr_expect(jobs[i].rc >= 0 && jobs[i + 1].rc >= 0, "%d %s / %d %s", jobs[i].rc,
			  jobs[i].err.msg, jobs[i + 1].rc, jobs[i + 1].err.msg);
		cr_expect_str_eq(jobs[i].cert.serial_hex, jobs[i + 1].cert.serial_hex);
		wins += (jobs[i].rc == 0) + (jobs[i + 1].rc == 0);
	}
	cr_expect_eq(wins, N / 2, "exactly one revocation per certificate");
	for (int i = 0; i < N; i++)
		cab_cert_free(&jobs[i].cert);
}

/* ---- certificates the tests make themselves (signature protection, the mock's answer) ---- */

static EVP_PKEY *new_key(void)
{
	EVP_PKEY *k = EVP_EC_gen("P-256");

	cr_assert_not_null(k);
	return k;
}

/* A certificate for pub, signed by ikey (issuer icert, or self-signed when NULL). */
static X509 *make_cert(const char *cn, EVP_PKEY *pub, X509 *icert, EVP_PKEY *ikey, int ca)
{
	X509 *x = X509_new();
	X509_NAME *n = X509_NAME_new();
	X509V3_CTX ctx;
	X509_EXTENSION *e;
	static long serial = 1000;

	X509_NAME_add_entry_by_txt(n, "CN", MBSTRING_UTF8, (const unsigned char *)cn, -1, -1, 0);
	X509_set_version(x, X509_VERSION_3);
	ASN1_INTEGER_set(X509_get_serialNumber(x), serial++);
	X509_set_subject_name(x, n);
	X509_set_issuer_name(x, icert ? X509_get_subject_name(icert) : n);
	X509_gmtime_adj(X509_getm_notBefore(x), -60);
	X509_gmtime_adj(X509_getm_notAfter(x), 86400);
	X509_set_pubkey(x, pub);
	X509V3_set_ctx(&ctx, icert ? icert : x, x, NULL, NULL, 0);
	e = X509V3_EXT_nconf_nid(NULL, &ctx, NID_basic_constraints,
				 ca ? "critical,CA:TRUE" : "critical,CA:FALSE");
	X509_add_ext(x, e, -1);
	X509_EXTENSION_free(e);
	e = X509V3_EXT_nconf_nid(NULL, &ctx, NID_key_usage,
				 ca ? "critical,keyCertSign,cRLSign,digitalSignature"
				    : "critical,digitalSignature,nonRepudiation");
	X509_add_ext(x, e, -1);
	X509_EXTENSION_free(e);
	e = X509V3_EXT_nconf_nid(NULL, &ctx, NID_subject_key_identifier, "hash");
	X509_add_ext(x, e, -1);
	X509_EXTENSION_free(e);
	cr_assert_gt(X509_sign(x, ikey, EVP_sha256()), 0);
	X509_NAME_free(n);
	return x;
}

static void write_pem(const char *path, X509 *a, X509 *b, EVP_PKEY *key)
{
	FILE *f = fopen(path, "w");

	cr_assert_not_null(f);
	if (a)
		PEM_write_X509(f, a);
	if (b)
		PEM_write_X509(f, b);
	if (key)
		PEM_write_PrivateKey(f, key, NULL, NULL, 0, NULL, NULL);
	fclose(f);
}

static void append_file(const char *dst, const char *src)
{
	char buf[8192];
	size_t n;
	FILE *in = fopen(src, "r"), *out = fopen(dst, "a");

	cr_assert(in && out);
	while ((n = fread(buf, 1, sizeof(buf), in)) > 0)
		fwrite(buf, 1, n, out);
	fclose(in);
	fclose(out);
}

/* Signature protection both ways: ca-bridge signs with its CMP certificate and accepts only
 * clients whose certificate chains to its anchor. */
Test(cab_cmp, signature_protection_issue_and_revoke)
{
	EVP_PKEY *pki_key = new_key(), *srv_key = new_key(), *cli_key = new_key();
	X509 *pki = make_cert("Test CMP PKI", pki_key, NULL, pki_key, 1);
	X509 *srv_cert = make_cert("ca-bridge CMP signer", srv_key, pki, pki_key, 0);
	X509 *cli_cert = make_cert("ra CMP client", cli_key, pki, pki_key, 0);
	char p_pki[600], p_srv[600], p_cli[600], p_trust[600];
	struct cab_cert c;
	struct cab_err err;

	snprintf(p_pki, sizeof(p_pki), "%s/pki.pem", t.dir);
	snprintf(p_srv, sizeof(p_srv), "%s/srv.pem", t.dir);
	snprintf(p_cli, sizeof(p_cli), "%s/cli.pem", t.dir);
	snprintf(p_trust, sizeof(p_trust), "%s/trusted.pem", t.dir);
	write_pem(p_pki, pki, NULL, NULL);
	write_pem(p_srv, srv_cert, NULL, srv_key);
	write_pem(p_cli, cli_cert, NULL, cli_key);
	cr_expect_eq(ts_proc_stop(&srv), 0, "see %s", log_path);
	const char *sig[] = {"--cert", p_srv, "--key", p_srv, "--client-trusted", p_pki, NULL};
	start_bridge(sig);
	/* trust: the issuing CA (for the certificates) and the PKI of the CMP signer */
	write_pem(p_trust, pki, NULL, NULL);
	append_file(p_trust, trusted);
	t.cfg.cmp_trusted = p_trust;
	t.cfg.cmp_secret = NULL;
	t.cfg.cmp_reference = NULL;
	t.cfg.cmp_client_cert = p_cli;
	t.cfg.cmp_client_key = p_cli;
	cr_assert_eq(ts_cab_reopen(&t), 0, "%s", t.err.msg);
	issue("sig-1", CAB_CLASS_ADVANCED, &c);
	cr_expect_eq(cab_revoke(t.cab, c.serial_hex, CAB_REASON_CESSATION_OF_OPERATION, 0, &err), 0, "%s",
		     err.msg);
	cab_cert_free(&c);
	/* a client whose certificate the CA does not trust gets nothing */
	EVP_PKEY *rogue_key = new_key();
	X509 *rogue = make_cert("rogue client", rogue_key, NULL, rogue_key, 0);
	snprintf(p_cli, sizeof(p_cli), "%s/rogue.pem", t.dir);
	write_pem(p_cli, rogue, NULL, rogue_key);
	cr_assert_eq(ts_cab_reopen(&t), 0, "%s", t.err.msg);
	struct cab_request req;
	ts_cab_request(&req, "sig-2", CAB_CLASS_ADVANCED, "sig-1");
	int rc = cab_issue(t.cab, &req, &c, &err);
	cr_expect(rc == CAB_E_REJECTED || rc == CAB_E_CA, "untrusted client: %d %s", rc, err.msg);
	X509_free(rogue);
	EVP_PKEY_free(rogue_key);
	X509_free(pki);
	X509_free(srv_cert);
	X509_free(cli_cert);
	EVP_PKEY_free(pki_key);
	EVP_PKEY_free(srv_key);
	EVP_PKEY_free(cli_key);
}

/* Wire compatibility with OpenSSL's own CMP mock server: it answers every enrolment with
 * one fixed certificate (made here for the token key) and revokes only that one. */
Test(cab_cmp, openssl_mock_server_enrols_and_revokes)
{
	struct ts_proc mock;
	struct cab_key k;
	struct cab_cert c;
	struct cab_err err;
	struct cab_request req;
	EVP_PKEY *ca_key = new_key(), *pub;
	X509 *ca, *fixed;
	const unsigned char *p;
	unsigned char *fixed_der = NULL;
	char p_ca[600], p_fixed[600], p_log[600], murl[128];
	int n;

	cr_assert_eq(cab_keygen(t.cab, "mock-1", CAB_ALG_DEFAULT, &k, &err), 0, "%s", err.msg);
	p = k.spki_der;
	pub = d2i_PUBKEY(NULL, &p, (long)k.spki_len);
	cr_assert_not_null(pub);
	ca = make_cert("Mock CA", ca_key, NULL, ca_key, 1);
	fixed = make_cert("Jürgen Österreicher", pub, ca, ca_key, 0);
	snprintf(p_ca, sizeof(p_ca), "%s/mock-ca.pem", t.dir);
	snprintf(p_fixed, sizeof(p_fixed), "%s/mock-fixed.pem", t.dir);
	snprintf(p_log, sizeof(p_log), "%s/mock.log", t.dir);
	write_pem(p_ca, ca, NULL, NULL);
	write_pem(p_fixed, fixed, NULL, NULL);
	const char *args[] = {"-srv_secret", "pass:mock-secret", "-srv_ref", "mock", "-rsp_cert", p_fixed,
			      NULL};
	cr_assert_eq(ts_cmp_mock_start(&mock, p_log, args), 0, "openssl cmp -port did not start; see %s",
		     p_log);
	snprintf(murl, sizeof(murl), "http://127.0.0.1:%d/pkix/", mock.port);
	t.cfg.cmp_url = murl;
	t.cfg.cmp_secret = "mock-secret";
	t.cfg.cmp_trusted = p_ca;
	cr_assert_eq(ts_cab_reopen(&t), 0, "%s", t.err.msg);

	ts_cab_request(&req, "mock-1", CAB_CLASS_ADVANCED, "mock-1");
	cr_assert_eq(cab_issue(t.cab, &req, &c, &err), 0, "%s (mock log %s)", err.msg, p_log);
	n = i2d_X509(fixed, &fixed_der);
	cr_assert_eq(c.der_len, (size_t)n);
	cr_expect_eq(memcmp(c.der, fixed_der, (size_t)n), 0, "not the mock's certificate");
	cr_expect_str_eq(c.spki_sha256_hex, k.sha256_hex);
	cr_expect_eq(cab_revoke(t.cab, c.serial_hex, CAB_REASON_KEY_COMPROMISE, 0, &err), 0,
		     "%s (mock log %s)", err.msg, p_log);
	ts_proc_stop(&mock);
	OPENSSL_free(fixed_der);
	cab_cert_free(&c);
	cab_key_free(&k);
	X509_free(fixed);
	X509_free(ca);
	EVP_PKEY_free(pub);
	EVP_PKEY_free(ca_key);
}
