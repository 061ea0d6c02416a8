/* test_cab_revoke.c - issuing once per request, revocation (R14: reasons, final, durable)
 * and the signed CRL, checked through the OpenSSL API (what `openssl verify -crl_check`
 * does), plus several threads at once. */
#include "ca-bridge/cab.h"
#include "tests/lib/ts_cab.h"
#include "tests/lib/ts_x509.h"

#include <criterion/criterion.h>
#include <ctype.h>
#include <openssl/pem.h>
#include <openssl/x509v3.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static struct ts_cab t;

static void setup(void)
{
	cr_assert_eq(ts_cab_setup(&t, 1), 0, "setup: %s", t.err.msg);
}

static void teardown(void)
{
	ts_cab_teardown(&t);
}

TestSuite(cab_revoke, .init = setup, .fini = teardown);

static void issue(const char *id, enum cab_class cls, struct cab_cert *c)
{
	struct cab_request req;
	struct cab_key k;
	struct cab_err err;

	cr_assert_eq(cab_keygen(t.cab, id, CAB_ALG_DEFAULT, &k, &err), 0, "%s", err.msg);
	cab_key_free(&k);
	ts_cab_request(&req, id, cls, id);
	cr_assert_eq(cab_issue(t.cab, &req, c, &err), 0, "%s", err.msg);
}

/* The entry for serial on crl, or NULL; *reason gets its reasonCode (-1 when absent). */
static X509_REVOKED *entry(X509_CRL *crl, const char *serial_hex, int *reason)
{
	STACK_OF(X509_REVOKED) *revs = X509_CRL_get_REVOKED(crl);

	for (int i = 0; i < sk_X509_REVOKED_num(revs); i++) {
		X509_REVOKED *r = sk_X509_REVOKED_value(revs, i);
		BIGNUM *bn = ASN1_INTEGER_to_BN(X509_REVOKED_get0_serialNumber(r), NULL);
		char *hex = BN_bn2hex(bn);
		const char *h = hex;
		int match;

		while (*h == '0' && h[1])
			h++; /* BN_bn2hex pads to whole bytes; serial_hex has no leading zeros */
		match = strcmp(h, serial_hex) == 0;

		OPENSSL_free(hex);
		BN_free(bn);
		if (!match)
			continue;
		ASN1_ENUMERATED *e = X509_REVOKED_get_ext_d2i(r, NID_crl_reason, NULL, NULL);

		*reason = e ? (int)ASN1_ENUMERATED_get(e) : -1;
		ASN1_ENUMERATED_free(e);
		return r;
	}
	return NULL;
}

/* Entries on the CRL (an empty CRL has no revokedCertificates at all). */
static int entries(X509_CRL *crl)
{
	STACK_OF(X509_REVOKED) *revs = X509_CRL_get_REVOKED(crl);

	return revs ? sk_X509_REVOKED_num(revs) : 0;
}

static long crl_number(X509_CRL *crl)
{
	ASN1_INTEGER *n = X509_CRL_get_ext_d2i(crl, NID_crl_number, NULL, NULL);
	long v;

	cr_assert_not_null(n, "no CRL number");
	v = ASN1_INTEGER_get(n);
	ASN1_INTEGER_free(n);
	return v;
}

/* One request never yields two certificates, also across a restart. */
Test(cab_revoke, issue_twice_same_request_id_same_certificate)
{
	struct cab_cert a, b, c;

	issue("same-1", CAB_CLASS_QUALIFIED, &a);
	issue("same-1", CAB_CLASS_QUALIFIED, &b);
	cr_expect_str_eq(a.serial_hex, b.serial_hex);
	cr_assert_eq(a.der_len, b.der_len);
	cr_expect_eq(memcmp(a.der, b.der, a.der_len), 0);
	cr_assert_eq(ts_cab_reopen(&t), 0, "%s", t.err.msg);
	issue("same-1", CAB_CLASS_QUALIFIED, &c);
	cr_expect_str_eq(a.serial_hex, c.serial_hex);
	/* a different request gets a different, positive, 128-bit serial */
	cab_cert_free(&b);
	issue("other-1", CAB_CLASS_QUALIFIED, &b);
	cr_expect_str_neq(a.serial_hex, b.serial_hex);
	cr_expect_leq(strlen(b.serial_hex), 32);
	cr_expect_gt(b.not_after, b.not_before);
	cr_expect_not_null(strstr(b.pem, "-----BEGIN CERTIFICATE-----"));
	cab_cert_free(&a);
	cab_cert_free(&b);
	cab_cert_free(&c);
}

/* Writes data to ca_dir/name (the test plays an earlier version of the CA). */
static void put(const char *name, const void *data, size_t len, const char *mode)
{
	char path[400];
	FILE *f;

	snprintf(path, sizeof(path), "%s/%s", t.ca_dir, name);
	f = fopen(path, mode);
	cr_assert_not_null(f, "%s", path);
	cr_assert_eq(fwrite(data, 1, len, f), len);
	cr_assert_eq(fclose(f), 0);
}

static int exists_in_ca(const char *name)
{
	char path[400];

	snprintf(path, sizeof(path), "%s/%s", t.ca_dir, name);
	return access(path, F_OK) == 0;
}

/*
 * Issue #19 item 3: the record of an earlier version (issued.log, revoked.log,
 * issued/<id>.der) where a full disk cut a line short and the retry appended the whole line
 * after the fragment.  The old CA refused to open ("issued.log: malformed line") until
 * someone edited its append-only record; now it is imported into ca.db once, the doubled line
 * repaired, a torn tail dropped, and the logs kept as *.imported.
 */
Test(cab_revoke, legacy_logs_with_a_torn_line_are_imported_once)
{
	struct cab_cert a, b, c;
	struct cab_err err;
	char line_a[160], line_b[160], rev[160], name[400];
	X509_CRL *crl;
	int code;

	issue("legacy-1", CAB_CLASS_QUALIFIED, &a);
	issue("legacy-2", CAB_CLASS_QUALIFIED, &b);
	cab_close(t.cab);
	t.cab = NULL;
	/* the directory as the old version left it */
	for (const char *f = "ca.db\0ca.db-wal\0ca.db-shm\0"; *f; f += strlen(f) + 1) {
		char path[400];

		snprintf(path, sizeof(path), "%s/%s", t.ca_dir, f);
		unlink(path);
	}
	snprintf(name, sizeof(name), "%s/issued", t.ca_dir);
	mkdir(name, 0700);
	put("issued/legacy-1.der", a.der, a.der_len, "w");
	put("issued/legacy-2.der", b.der, b.der_len, "w");
	snprintf(line_a, sizeof(line_a), "%s %lld legacy-1\n", a.serial_hex, (long long)a.not_after);
	snprintf(line_b, sizeof(line_b), "%s %lld legacy-2\n", b.serial_hex, (long long)b.not_after);
	put("issued.log", line_a, strlen(line_a), "w");
	put("issued.log", line_b, 11, "a"); /* ENOSPC: 11 bytes of the line made it */
	put("issued.log", line_b, strlen(line_b), "a"); /* the retry appended the whole line */
	snprintf(rev, sizeof(rev), "%s 1 1700000000\n", a.serial_hex);
	put("revoked.log", rev, strlen(rev), "w");
	put("revoked.log", rev, 7, "a"); /* a torn tail: never acknowledged */

	cr_assert_eq(ts_cab_reopen(&t), 0, "the CA opens over the torn record: %s", t.err.msg);
	cr_expect(!exists_in_ca("issued.log") && exists_in_ca("issued.log.imported"),
		  "issued.log imported and renamed");
	cr_expect(exists_in_ca("ca.db"));
	cr_expect_eq(cab_revoke(t.cab, a.serial_hex, CAB_REASON_SUPERSEDED, 0, &err), CAB_E_ALREADY_REVOKED,
		     "the imported revocation stands (R14)");
	cr_expect_eq(cab_revoke(t.cab, b.serial_hex, CAB_REASON_CESSATION_OF_OPERATION, 0, &err), 0,
		     "the doubled line's certificate is known: %s", err.msg);
	issue("legacy-2", CAB_CLASS_QUALIFIED, &c);
	cr_expect_str_eq(c.serial_hex, b.serial_hex, "the request still has its one certificate");
	/* a second open imports nothing again and sees the same state */
	cr_assert_eq(ts_cab_reopen(&t), 0, "%s", t.err.msg);
	crl = ts_crl(t.cab);
	cr_expect_eq(entries(crl), 2);
	cr_expect_not_null(entry(crl, a.serial_hex, &code));
	cr_expect_eq(code, CAB_REASON_KEY_COMPROMISE, "the first (imported) reason");
	cr_expect_not_null(entry(crl, b.serial_hex, &code));
	X509_CRL_free(crl);
	cab_cert_free(&a);
	cab_cert_free(&b);
	cab_cert_free(&c);
}

/* An old revoked.log with a torn last line (crash in the middle of an unacknowledged append):
 * the tail is dropped at import and the record stays usable. */
Test(cab_revoke, r14_torn_log_tail_is_cut_and_log_stays_usable)
{
	struct cab_cert a;
	struct cab_err err;
	char path[400];
	FILE *f;
	X509_CRL *crl;
	int code;

	issue("torn-1", CAB_CLASS_QUALIFIED, &a);
	cab_close(t.cab);
	t.cab = NULL;
	snprintf(path, sizeof(path), "%s/revoked.log", t.ca_dir);
	f = fopen(path, "a");
	cr_assert_not_null(f);
	fputs("DEADBEEF 1 17", f);
	fclose(f);
	cr_assert_eq(ts_cab_reopen(&t), 0, "%s", t.err.msg);
	cr_assert_eq(cab_revoke(t.cab, a.serial_hex, CAB_REASON_CESSATION_OF_OPERATION, 0, &err), 0, "%s",
		     err.msg);
	cr_assert_eq(ts_cab_reopen(&t), 0, "%s", t.err.msg);
	crl = ts_crl(t.cab);
	cr_expect_eq(entries(crl), 1);
	cr_expect_not_null(entry(crl, a.serial_hex, &code));
	cr_expect_eq(code, CAB_REASON_CESSATION_OF_OPERATION);
	X509_CRL_free(crl);
	cab_cert_free(&a);
}

/* R14: revoked with a reason; revocation is final. */
Test(cab_revoke, r14_revoke_is_final_and_second_revoke_refused)
{
	struct cab_cert c;
	struct cab_err err;
	enum cab_reason reason;
	X509_CRL *crl;
	int code = 0;

	issue("rev-1", CAB_CLASS_ADVANCED, &c);
	cr_assert_eq(cab_reason_parse("keyCompromise", &reason), 0);
	cr_assert_eq(cab_revoke(t.cab, c.serial_hex, reason, 0, &err), 0, "%s", err.msg);
	cr_expect_eq(cab_revoke(t.cab, c.serial_hex, CAB_REASON_SUPERSEDED, 0, &err), CAB_E_ALREADY_REVOKED);
	/* lower case is the same serial: still refused */
	for (char *s = c.serial_hex; *s; s++)
		*s = (char)tolower((unsigned char)*s);
	cr_expect_eq(cab_revoke(t.cab, c.serial_hex, CAB_REASON_SUPERSEDED, 0, &err), CAB_E_ALREADY_REVOKED);
	/* leading zeros (BN_bn2hex writes whole bytes) name the same serial too */
	char padded[64];
	snprintf(padded, sizeof(padded), "00%s", c.serial_hex);
	cr_expect_eq(cab_revoke(t.cab, padded, CAB_REASON_SUPERSEDED, 0, &err), CAB_E_ALREADY_REVOKED);
	/* and after a restart, from the durable log */
	cr_assert_eq(ts_cab_reopen(&t), 0, "%s", t.err.msg);
	cr_expect_eq(cab_revoke(t.cab, c.serial_hex, CAB_REASON_SUPERSEDED, 0, &err), CAB_E_ALREADY_REVOKED);
	for (char *s = c.serial_hex; *s; s++)
		*s = (char)toupper((unsigned char)*s);
	crl = ts_crl(t.cab);
	cr_assert_not_null(entry(crl, c.serial_hex, &code));
	cr_expect_eq(code, CAB_REASON_KEY_COMPROMISE, "the first reason stands, got %d", code);
	cr_expect_eq(entries(crl), 1);
	X509_CRL_free(crl);
	cab_cert_free(&c);
}

Test(cab_revoke, r14_unknown_serial_and_reason_refused)
{
	struct cab_err err;
	enum cab_reason reason;

	cr_expect_eq(cab_revoke(t.cab, "0123456789ABCDEF", CAB_REASON_UNSPECIFIED, 0, &err), CAB_E_NOTFOUND);
	cr_expect_eq(cab_revoke(t.cab, "xyz", CAB_REASON_UNSPECIFIED, 0, &err), CAB_E_INVALID);
	cr_expect_eq(cab_reason_parse("certificateHold", &reason), CAB_E_INVALID);
	cr_expect_eq(cab_reason_parse("removeFromCRL", &reason), CAB_E_INVALID);
	/* every R14 reason parses to its RFC 5280 code */
	static const struct {
		const char *name;
		int code;
	} reasons[] = {{"unspecified", 0}, {"keyCompromise", 1},        {"affiliationChanged", 3},
		       {"superseded", 4},  {"cessationOfOperation", 5}, {"privilegeWithdrawn", 9}};
	for (size_t i = 0; i < sizeof(reasons) / sizeof(reasons[0]); i++) {
		cr_assert_eq(cab_reason_parse(reasons[i].name, &reason), 0, "%s", reasons[i].name);
		cr_expect_eq((int)reason, reasons[i].code);
		cr_expect_str_eq(cab_reason_name(reason), reasons[i].name);
	}
}

/* R14: the CRL lists the serial with its reason, is v2, signed by the CA, fresh, keeps
 * expired entries (ExpiredCertsOnCRL), and X509_verify_cert with CRL checking says revoked. */
Test(cab_revoke, r14_crl_lists_revoked_serial_signed_by_ca)
{
	struct cab_cert c, ok;
	struct cab_err err;
	X509_CRL *before, *crl;
	X509 *ca = ts_chain_ca(t.cab), *x, *y;
	ASN1_OBJECT *expired = OBJ_txt2obj("2.5.29.60", 1);
	int code = 0, day, sec;

	issue("crl-1", CAB_CLASS_QUALIFIED, &c);
	issue("crl-ok", CAB_CLASS_QUALIFIED, &ok);
	before = ts_crl(t.cab);
	cr_expect_eq(entries(before), 0);
	cr_assert_eq(cab_revoke(t.cab, c.serial_hex, CAB_REASON_AFFILIATION_CHANGED, 0, &err), 0, "%s",
		     err.msg);
	crl = ts_crl(t.cab);

	cr_expect_eq(X509_CRL_get_version(crl), X509_CRL_VERSION_2);
	cr_expect_eq(X509_CRL_verify(crl, X509_get0_pubkey(ca)), 1, "CRL signature does not verify");
	cr_expect_eq(X509_NAME_cmp(X509_CRL_get_issuer(crl), X509_get_subject_name(ca)), 0);
	cr_expect_gt(crl_number(crl), crl_number(before), "the CRL number must grow");
	cr_assert_not_null(entry(crl, c.serial_hex, &code));
	cr_expect_eq(code, CAB_REASON_AFFILIATION_CHANGED);
	cr_expect_null(entry(crl, ok.serial_hex, &code));
	cr_expect_geq(X509_CRL_get_ext_by_OBJ(crl, expired, -1), 0, "no ExpiredCertsOnCRL");
	cr_assert_not_null(X509_CRL_get0_nextUpdate(crl));
	cr_assert(ASN1_TIME_diff(&day, &sec, X509_CRL_get0_lastUpdate(crl), X509_CRL_get0_nextUpdate(crl)));
	cr_expect_eq(day * 86400 + sec, 24 * 3600, "nextUpdate is crl_validity_hours after thisUpdate");

	/* what `openssl verify -crl_check` does */
	x = ts_cert_of(&c);
	y = ts_cert_of(&ok);
	X509_STORE *store = X509_STORE_new();
	X509_STORE_add_cert(store, ca);
	X509_STORE_add_crl(store, crl);
	X509_STORE_set_flags(store, X509_V_FLAG_CRL_CHECK);
	X509_STORE_CTX *ctx = X509_STORE_CTX_new();
	X509_STORE_CTX_init(ctx, store, x, NULL);
	cr_expect_eq(X509_verify_cert(ctx), 0);
	cr_expect_eq(X509_STORE_CTX_get_error(ctx), X509_V_ERR_CERT_REVOKED, "%s",
		     X509_verify_cert_error_string(X509_STORE_CTX_get_error(ctx)));
	X509_STORE_CTX_cleanup(ctx);
	X509_STORE_CTX_init(ctx, store, y, NULL);
	cr_expect_eq(X509_verify_cert(ctx), 1, "unrevoked: %s",
		     X509_verify_cert_error_string(X509_STORE_CTX_get_error(ctx)));
	X509_STORE_CTX_free(ctx);
	X509_STORE_free(store);
	ASN1_OBJECT_free(expired);
	X509_free(x);
	X509_free(y);
	X509_free(ca);
	X509_CRL_free(before);
	X509_CRL_free(crl);
	cab_cert_free(&c);
	cab_cert_free(&ok);
}

/* The cached CRL is served until something changes; the number never goes backwards. */
Test(cab_revoke, r14_crl_cached_until_change_and_number_survives_restart)
{
	struct cab_cert c;
	struct cab_err err;
	X509_CRL *a, *b, *d;
	long na;

	a = ts_crl(t.cab);
	b = ts_crl(t.cab);
	na = crl_number(a);
	cr_expect_eq(crl_number(b), na, "no change, no new CRL");
	issue("num-1", CAB_CLASS_ADVANCED, &c);
	cr_assert_eq(cab_revoke(t.cab, c.serial_hex, CAB_REASON_UNSPECIFIED, 0, &err), 0);
	cr_assert_eq(ts_cab_reopen(&t), 0, "%s", t.err.msg);
	d = ts_crl(t.cab);
	cr_expect_gt(crl_number(d), na);
	int code = 0;
	cr_expect_not_null(entry(d, c.serial_hex, &code), "revocation lost in the restart");
	cr_expect_eq(code, -1, "RFC 5280: no reasonCode for unspecified");
	X509_CRL_free(a);
	X509_CRL_free(b);
	X509_CRL_free(d);
	cab_cert_free(&c);
}

/* ---- several worker threads at once (the service calls from libuv's pool) ---- */

struct job {
	char id[32];
	struct cab_cert cert;
	int rc;
	struct cab_err err;
};

static void *worker(void *arg)
{
	struct job *j = arg;
	struct cab_err *err = &j->err;

	j->rc = ts_cab_keygen_issue(t.cab, j->id, CAB_CLASS_QUALIFIED, &j->cert, err);
	if (j->rc == 0)
		j->rc = cab_revoke(t.cab, j->cert.serial_hex, CAB_REASON_SUPERSEDED, 0, err);
	/* revoking twice from several threads: exactly one wins */
	if (j->rc == CAB_E_ALREADY_REVOKED)
		j->rc = 1;
	return NULL;
}

Test(cab_revoke, threads_issue_and_revoke_concurrently)
{
	enum { N = 8 };
	pthread_t th[N];
	struct job jobs[N];
	int wins = 0;
	X509_CRL *crl;

	memset(jobs, 0, sizeof(jobs));
	for (int i = 0; i < N; i++) {
		/* pairs of threads share a request id: the same certificate, one revocation */
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
	crl = ts_crl(t.cab);
	cr_expect_eq(entries(crl), N / 2);
	X509_CRL_free(crl);
	for (int i = 0; i < N; i++)
		cab_cert_free(&jobs[i].cert);
}

/* The record is written for several certificates at once (local_issue.c, group commit): 24
 * threads, two per request id, issue at once; each pair gets one certificate, every request
 * its own serial, and after a reopen (the record read back from ca.db) every request finds
 * exactly the certificate its threads were given: nothing answered was left unrecorded. */
static void *issuer(void *arg)
{
	struct job *j = arg;

	j->rc = ts_cab_keygen_issue(t.cab, j->id, CAB_CLASS_ADVANCED, &j->cert, &j->err);
	return NULL;
}

Test(cab_revoke, threads_issuing_at_once_share_the_records_transactions_and_each_is_durable)
{
	enum { N = 24 };
	pthread_t th[N];
	struct job jobs[N];

	memset(jobs, 0, sizeof(jobs));
	for (int i = 0; i < N; i++) {
		snprintf(jobs[i].id, sizeof(jobs[i].id), "gc-%d", i % (N / 2));
		cr_assert_eq(pthread_create(&th[i], NULL, issuer, &jobs[i]), 0);
	}
	for (int i = 0; i < N; i++)
		pthread_join(th[i], NULL);
	for (int i = 0; i < N; i++)
		cr_assert_eq(jobs[i].rc, 0, "%s: %d %s", jobs[i].id, jobs[i].rc, jobs[i].err.msg);
	for (int i = 0; i < N / 2; i++) {
		cr_expect_str_eq(jobs[i].cert.serial_hex, jobs[i + N / 2].cert.serial_hex,
				 "one request, one certificate (%s)", jobs[i].id);
		for (int k = 0; k < i; k++)
			cr_expect_str_neq(jobs[i].cert.serial_hex, jobs[k].cert.serial_hex,
					  "distinct serials");
	}
	cr_assert_eq(ts_cab_reopen(&t), 0, "%s", t.err.msg);
	for (int i = 0; i < N / 2; i++) {
		struct cab_request req;
		struct cab_cert again;
		struct cab_err err = {0};

		ts_cab_request(&req, jobs[i].id, CAB_CLASS_ADVANCED, jobs[i].id);
		cr_assert_eq(cab_issue(t.cab, &req, &again, &err), 0, "%s", err.msg);
		cr_expect_str_eq(again.serial_hex, jobs[i].cert.serial_hex, "%s recorded as answered",
				 jobs[i].id);
		cab_cert_free(&again);
	}
	for (int i = 0; i < N; i++)
		cab_cert_free(&jobs[i].cert);
}
