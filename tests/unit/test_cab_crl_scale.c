/* test_cab_crl_scale.c - R14: revoked certificates stay on the CRL after they expire, so the
 * CRL grows for ever; with 100,000 entries it must still be right and quick to rebuild.
 * The state is written in the CA's documented log format (issued.log, revoked.log), then the
 * real library loads it.  Timings are printed, never asserted (tests do not time). */
#include "ca-bridge/cab.h"
#include "tests/lib/ts_cab.h"

#include <criterion/criterion.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define N 100000

static struct ts_cab t;

static void setup(void)
{
	cr_assert_eq(ts_cab_setup(&t, 1), 0, "setup: %s", t.err.msg);
}

static void teardown(void)
{
	ts_cab_teardown(&t);
}

TestSuite(cab_crl_scale, .init = setup, .fini = teardown, .timeout = 300);

static double now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1e3 + ts.tv_nsec / 1e6;
}

static void write_logs(void)
{
	static const int reasons[] = {0, 1, 3, 4, 5, 9};
	char path[400];
	FILE *iss, *rev;
	long long past = (long long)time(NULL) - 86400 * 400;

	snprintf(path, sizeof(path), "%s/issued.log", t.ca_dir);
	iss = fopen(path, "a");
	snprintf(path, sizeof(path), "%s/revoked.log", t.ca_dir);
	rev = fopen(path, "a");
	cr_assert(iss && rev);
	for (int i = 0; i < N; i++) {
		/* many of them long expired: they stay listed (ExpiredCertsOnCRL) */
		fprintf(iss, "%X%08X %lld bulk-%d\n", 0x4A5B6C7D, i, past + 86400LL * 365 * (i % 3), i);
		fprintf(rev, "%X%08X %d %lld\n", 0x4A5B6C7D, i, reasons[i % 6], past + i);
	}
	cr_assert_eq(fclose(iss), 0);
	cr_assert_eq(fclose(rev), 0);
}

static X509_CRL *fetch(double *ms, size_t *len)
{
	unsigned char *der = NULL;
	const unsigned char *p;
	struct cab_err err;
	double t0 = now_ms();
	X509_CRL *crl;

	cr_assert_eq(cab_crl(t.cab, &der, len, &err), 0, "%s", err.msg);
	*ms = now_ms() - t0;
	p = der;
	crl = d2i_X509_CRL(NULL, &p, (long)*len);
	free(der);
	cr_assert_not_null(crl);
	return crl;
}

Test(cab_crl_scale, r14_crl_with_100k_entries_is_complete_signed_and_rebuilt_quickly)
{
	struct cab_request req;
	struct cab_key k;
	struct cab_cert c;
	struct cab_err err;
	X509_CRL *crl;
	X509 *ca;
	char *pem = NULL;
	BIO *bio;
	double t0, load_ms, first_ms, rebuild_ms, cached_ms;
	size_t len;

	cab_close(t.cab);
	t.cab = NULL;
	write_logs();
	t0 = now_ms();
	cr_assert_eq(ts_cab_reopen(&t), 0, "%s", t.err.msg);
	load_ms = now_ms() - t0;

	crl = fetch(&first_ms, &len);
	cr_expect_eq(sk_X509_REVOKED_num(X509_CRL_get_REVOKED(crl)), N);
	X509_CRL_free(crl);

	/* one more revocation: the cached CRL is stale and rebuilt with N + 1 entries */
	cr_assert_eq(cab_keygen(t.cab, "scale-1", CAB_ALG_DEFAULT, &k, &err), 0, "%s", err.msg);
	ts_cab_request(&req, "scale-1", CAB_CLASS_QUALIFIED, "scale-1");
	cr_assert_eq(cab_issue(t.cab, &req, &c, &err), 0, "%s", err.msg);
	cr_assert_eq(cab_revoke(t.cab, c.serial_hex, CAB_REASON_KEY_COMPROMISE, 0, &err), 0, "%s", err.msg);
	crl = fetch(&rebuild_ms, &len);
	X509_CRL_free(fetch(&cached_ms, &len));

	cr_expect_eq(sk_X509_REVOKED_num(X509_CRL_get_REVOKED(crl)), N + 1);
	cr_assert_eq(cab_chain_pem(t.cab, &pem, &err), 0);
	bio = BIO_new_mem_buf(pem, -1);
	ca = PEM_read_bio_X509(bio, NULL, NULL, NULL);
	cr_assert_not_null(ca);
	cr_expect_eq(X509_CRL_verify(crl, X509_get0_pubkey(ca)), 1,
		     "the big CRL's signature does not verify");
	fprintf(stderr,
		"cab_crl_scale: %d entries, CRL %zu bytes: open (load logs) %.1f ms, first build %.1f ms, "
		"rebuild after a revocation %.1f ms, cached %.2f ms\n",
		N + 1, len, load_ms, first_ms, rebuild_ms, cached_ms);
	X509_free(ca);
	BIO_free(bio);
	free(pem);
	X509_CRL_free(crl);
	cab_cert_free(&c);
	cab_key_free(&k);
}
