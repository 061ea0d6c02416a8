/* test_cab_wrapped.c - ca-bridge's wrapped key storage on a real SoftHSM2 token (issue #15):
 * the KEK's versions, key pairs made as session objects and kept only wrapped under the KEK
 * (RFC 5649), CSRs and certificates signed from the blob, re-wrapping under a rotated KEK,
 * and the named errors for an unknown KEK version, a damaged blob and a destroyed key. */
#include "ca-bridge/cab.h"
#include "tests/lib/ts_cab.h"
#include "tests/lib/ts_token.h"

#include <criterion/criterion.h>
#include <pthread.h>
#include <openssl/sha.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>
#include <stdlib.h>
#include <string.h>

static struct ts_cab t;

static void setup(void)
{
	int v = 0;

	cr_assert_eq(ts_cab_setup(&t, 0), 0, "setup: %s", t.err.msg);
	t.cfg.key_storage = "wrapped";
	t.cfg.kek_label = "test-kek";
	t.cab = cab_open(&t.cfg, &t.err);
	cr_assert_not_null(t.cab, "%s", t.err.msg);
	cr_assert_eq(cab_kek(t.cab, CAB_KEK_CREATE, &v, &t.err), 0, "%s", t.err.msg);
	cr_assert_eq(v, 1);
}

static void teardown(void)
{
	ts_cab_teardown(&t);
}

TestSuite(cab_wrapped, .init = setup, .fini = teardown);

static struct cab_wrapped as_stored(const struct cab_key *k)
{
	struct cab_wrapped w = {k->blob, k->blob_len, k->kek_label, k->kek_version};
	return w;
}

/* A CSR from the blob, verified with the key's public half; returns the cab_csr_wrapped code. */
static int csr_verifies(const struct cab_wrapped *w, const struct cab_key *k, struct cab_err *err)
{
	struct cab_request req;
	unsigned char *der = NULL;
	const unsigned char *p;
	size_t len = 0;
	X509_REQ *csr;
	EVP_PKEY *pub;
	int rc;

	ts_cab_request(&req, "x", CAB_CLASS_QUALIFIED, "x");
	rc = cab_csr_wrapped(t.cab, w, &req.subject, &der, &len, err);
	if (rc != 0)
		return rc;
	p = der;
	csr = d2i_X509_REQ(NULL, &p, (long)len);
	cr_assert_not_null(csr);
	p = k->spki_der;
	pub = d2i_PUBKEY(NULL, &p, (long)k->spki_len);
	cr_expect_eq(X509_REQ_verify(csr, pub), 1, "signed with the wrapped key");
	cr_expect_eq(EVP_PKEY_eq(X509_REQ_get0_pubkey(csr), pub), 1);
	EVP_PKEY_free(pub);
	X509_REQ_free(csr);
	free(der);
	return 0;
}

Test(cab_wrapped, kek_created_once_and_versioned)
{
	int v = 0;

	cr_expect_eq(cab_kek(t.cab, CAB_KEK_CREATE, &v, &t.err), 1, "a second create finds the first");
	cr_expect_eq(v, 1);
	cr_expect_eq(cab_kek(t.cab, CAB_KEK_ROTATE, &v, &t.err), 0, "%s", t.err.msg);
	cr_expect_eq(v, 2);
	cr_expect_eq(cab_kek(t.cab, CAB_KEK_CURRENT, &v, &t.err), 0);
	cr_expect_eq(v, 2);
	/* and after a restart (token objects) */
	cr_assert_eq(ts_cab_reopen(&t), 0, "%s", t.err.msg);
	cr_expect_eq(cab_kek(t.cab, CAB_KEK_CURRENT, &v, &t.err), 0);
	cr_expect_eq(v, 2);
}

Test(cab_wrapped, no_kek_is_a_named_error)
{
	struct cab_key k;
	struct cab_err err;

	t.cfg.kek_label = "other-kek";
	cr_assert_eq(ts_cab_reopen(&t), 0, "%s", t.err.msg);
	cr_expect_eq(cab_keygen(t.cab, "crt-nokek", CAB_ALG_DEFAULT, &k, &err), CAB_E_NOTFOUND);
	cr_expect(strstr(err.msg, "no KEK") != NULL, "%s", err.msg);
}

/* R2: the key leaves the token only wrapped; no token object with the id stays behind. */
Test(cab_wrapped, r2_keygen_wraps_and_leaves_no_token_object)
{
	struct cab_key k;
	struct cab_err err;
	struct cab_wrapped w;
	unsigned char *der = NULL;
	size_t len;
	struct cab_request req;

	cr_assert_eq(cab_keygen(t.cab, "crt-w1", CAB_ALG_DEFAULT, &k, &err), 0, "%s", err.msg);
	cr_expect_eq(k.existed, 0);
	cr_assert_not_null(k.blob);
	cr_expect_gt(k.blob_len, k.spki_len + 32);
	cr_expect_str_eq(k.kek_label, "test-kek");
	cr_expect_eq(k.kek_version, 1);
	cr_expect_eq(strlen(k.sha256_hex), 64);
	/* the token has no key with the id: the token CSR path does not find one */
	ts_cab_request(&req, "crt-w1", CAB_CLASS_QUALIFIED, "crt-w1");
	cr_expect_eq(cab_csr(t.cab, "crt-w1", &req.subject, &der, &len, &err), CAB_E_NOTFOUND);
	w = as_stored(&k);
	cr_expect_eq(csr_verifies(&w, &k, &err), 0, "%s", err.msg);
	cab_key_free(&k);
}

Test(cab_wrapped, rsa_key_wraps_and_signs)
{
	struct cab_key k;
	struct cab_err err;
	struct cab_wrapped w;

	cr_assert_eq(cab_keygen(t.cab, "crt-rsa", CAB_ALG_RSA_3072, &k, &err), 0, "%s", err.msg);
	w = as_stored(&k);
	cr_expect_eq(csr_verifies(&w, &k, &err), 0, "%s", err.msg);
	cab_key_free(&k);
}

/* The certificate is issued for the wrapped key (the CA builds the CSR from the blob). */
Test(cab_wrapped, r2_certificate_issued_from_the_blob)
{
	struct cab_key k;
	struct cab_err err;
	struct cab_wrapped w;
	struct cab_request req;
	struct cab_cert c;

	cr_assert_eq(cab_keygen(t.cab, "crt-issue", CAB_ALG_DEFAULT, &k, &err), 0, "%s", err.msg);
	w = as_stored(&k);
	ts_cab_request(&req, "crt-issue", CAB_CLASS_QUALIFIED, "crt-issue");
	req.wrapped = &w;
	cr_assert_eq(cab_issue(t.cab, &req, &c, &err), 0, "%s", err.msg);
	cr_expect_str_eq(c.spki_sha256_hex, k.sha256_hex, "the certificate carries the wrapped key");
	cab_cert_free(&c);
	cab_key_free(&k);
}

/* Issue #15: a fresh key signs its own CSR at keygen, while it is still a session object, so
 * the first certificate needs no unwrap.  Proved with a blob whose wrapped private key is
 * damaged: with the keygen's signature the CA issues (nothing was unwrapped), without it the
 * same request must unwrap and fails with the named error. */
Test(cab_wrapped, r2_first_csr_signed_at_keygen_needs_no_unwrap)
{
	struct cab_key k;
	struct cab_err err;
	struct cab_wrapped w;
	struct cab_request req;
	struct cab_cert c;

	ts_cab_request(&req, "crt-first", CAB_CLASS_QUALIFIED, "crt-first");
	cr_assert_eq(cab_keygen_csr(t.cab, "crt-first", CAB_ALG_DEFAULT, &req.subject, &k, &err), 0, "%s",
		     err.msg);
	cr_assert_not_null(k.first_sig, "a fresh wrapped key signs its CSR at keygen");
	cr_assert_gt(k.first_sig_len, 0);
	k.blob[k.blob_len - 3] ^= 0x5a; /* the wrapped private key no longer unwraps */
	w = as_stored(&k);
	req.wrapped = &w;
	req.first_sig = k.first_sig;
	req.first_sig_len = k.first_sig_len;
	cr_assert_eq(cab_issue(t.cab, &req, &c, &err), 0, "%s", err.msg);
	cr_expect_str_eq(c.spki_sha256_hex, k.sha256_hex, "the certificate carries the new key");
	cab_cert_free(&c);
	/* another request for the same blob, without the signature: it must unwrap */
	ts_cab_request(&req, "crt-first-2", CAB_CLASS_QUALIFIED, "crt-first");
	req.wrapped = &w;
	cr_expect_eq(cab_issue(t.cab, &req, &c, &err), CAB_E_KEK, "%s", err.msg);
	cr_expect_str_eq(err.field, "key_blob");
	cab_key_free(&k);
}

/* A keygen signature that does not verify for the request (the subject changed since, or the
 * bytes are damaged) is set aside: the CSR is signed from the blob, and the certificate names
 * the request's subject. */
Test(cab_wrapped, first_csr_signature_that_does_not_verify_falls_back_to_the_blob)
{
	struct cab_key k;
	struct cab_err err;
	struct cab_wrapped w;
	struct cab_request req;
	struct cab_cert c;
	unsigned char bad[72];
	const unsigned char *p;
	X509 *x;
	char cn[64];

	ts_cab_request(&req, "crt-fb", CAB_CLASS_QUALIFIED, "crt-fb");
	cr_assert_eq(cab_keygen_csr(t.cab, "crt-fb", CAB_ALG_DEFAULT, &req.subject, &k, &err), 0, "%s",
		     err.msg);
	cr_assert_not_null(k.first_sig);
	w = as_stored(&k);
	req.subject.surname = "Gruber";
	req.subject.common_name = "Jürgen Gruber";
	req.wrapped = &w;
	req.first_sig = k.first_sig;
	req.first_sig_len = k.first_sig_len;
	cr_assert_eq(cab_issue(t.cab, &req, &c, &err), 0, "%s", err.msg);
	p = c.der;
	x = d2i_X509(NULL, &p, (long)c.der_len);
	cr_assert_not_null(x);
	cr_assert_gt(X509_NAME_get_text_by_NID(X509_get_subject_name(x), NID_commonName, cn, sizeof(cn)), 0);
	cr_expect_str_eq(cn, "Jürgen Gruber");
	cr_expect_str_eq(c.spki_sha256_hex, k.sha256_hex);
	X509_free(x);
	cab_cert_free(&c);
	/* bytes that are no signature at all, with a damaged blob: the fallback unwraps, and says so */
	memset(bad, 0x30, sizeof(bad));
	k.blob[k.blob_len - 3] ^= 0x5a;
	ts_cab_request(&req, "crt-fb-2", CAB_CLASS_QUALIFIED, "crt-fb");
	req.wrapped = &w;
	req.first_sig = bad;
	req.first_sig_len = sizeof(bad);
	cr_expect_eq(cab_issue(t.cab, &req, &c, &err), CAB_E_KEK, "%s", err.msg);
	cab_key_free(&k);
}

/* Rotation: blobs under the old version still sign; a re-wrap moves them to the new one. */
Test(cab_wrapped, rotate_then_rewrap_keeps_the_key)
{
	struct cab_key k, k2, k3;
	struct cab_err err;
	struct cab_wrapped w, w2;
	int v;

	cr_assert_eq(cab_keygen(t.cab, "crt-rot", CAB_ALG_DEFAULT, &k, &err), 0, "%s", err.msg);
	cr_assert_eq(cab_kek(t.cab, CAB_KEK_ROTATE, &v, &err), 0, "%s", err.msg);
	w = as_stored(&k);
	cr_expect_eq(csr_verifies(&w, &k, &err), 0, "old version signs: %s", err.msg);
	cr_assert_eq(cab_rewrap(t.cab, &w, &k2, &err), 0, "%s", err.msg);
	cr_expect_eq(k2.kek_version, 2);
	cr_expect_str_eq(k2.sha256_hex, k.sha256_hex, "the same key");
	cr_expect(k2.blob_len != k.blob_len || memcmp(k2.blob, k.blob, k.blob_len) != 0, "a new blob");
	w2 = as_stored(&k2);
	cr_expect_eq(csr_verifies(&w2, &k, &err), 0, "new version signs: %s", err.msg);
	/* new keys go under the new version */
	cr_assert_eq(cab_keygen(t.cab, "crt-rot2", CAB_ALG_DEFAULT, &k3, &err), 0, "%s", err.msg);
	cr_expect_eq(k3.kek_version, 2);
	cab_key_free(&k);
	cab_key_free(&k2);
	cab_key_free(&k3);
}

Test(cab_wrapped, unknown_kek_version_is_a_named_error)
{
	struct cab_key k;
	struct cab_err err;
	struct cab_wrapped w;

	cr_assert_eq(cab_keygen(t.cab, "crt-unk", CAB_ALG_DEFAULT, &k, &err), 0, "%s", err.msg);
	w = as_stored(&k);
	w.kek_version = 7;
	cr_expect_eq(csr_verifies(&w, &k, &err), CAB_E_KEK);
	cr_expect(strstr(err.msg, "unknown KEK version") != NULL, "%s", err.msg);
	cr_expect_str_eq(err.field, "kek_version");
	w.kek_version = 1;
	w.kek_label = "another";
	cr_expect_eq(csr_verifies(&w, &k, &err), CAB_E_KEK, "another KEK label");
	cab_key_free(&k);
}

Test(cab_wrapped, damaged_blob_does_not_unwrap)
{
	struct cab_key k;
	struct cab_err err;
	struct cab_wrapped w;

	cr_assert_eq(cab_keygen(t.cab, "crt-dmg", CAB_ALG_DEFAULT, &k, &err), 0, "%s", err.msg);
	k.blob[k.blob_len - 3] ^= 0x5a; /* inside the RFC 5649 wrapped key: its integrity check fails */
	w = as_stored(&k);
	cr_expect_eq(csr_verifies(&w, &k, &err), CAB_E_KEK, "%s", err.msg);
	cr_expect_str_eq(err.field, "key_blob");
	cab_key_free(&k);
}

/* The public key in the blob is not secret and not covered by the wrapping's integrity check:
 * a changed one is refused before the token signs (here a point that is not on the curve). */
Test(cab_wrapped, damaged_public_key_in_blob_is_refused)
{
	struct cab_key k, k2;
	struct cab_err err;
	struct cab_wrapped w;

	cr_assert_eq(cab_keygen(t.cab, "crt-dmgpub", CAB_ALG_DEFAULT, &k, &err), 0, "%s", err.msg);
	/* blob: "CAB1", alg, 2-byte length, then the SPKI, whose last byte is the point's y */
	cr_assert_gt(k.blob_len, 7 + k.spki_len);
	k.blob[7 + k.spki_len - 1] ^= 0x01;
	w = as_stored(&k);
	cr_expect_eq(csr_verifies(&w, &k, &err), CAB_E_INVALID, "%s", err.msg);
	cr_expect(strstr(err.msg, "public key") != NULL, "%s", err.msg);
	/* nor is it carried on into a blob under a newer KEK version */
	cr_expect_eq(cab_rewrap(t.cab, &w, &k2, &err), CAB_E_INVALID, "%s", err.msg);
	cr_expect(strstr(err.msg, "public key") != NULL, "%s", err.msg);
	cab_key_free(&k);
}

/* The key's SPKI (what the fingerprint hashes, R2) and the issued certificate's are the bytes
 * OpenSSL's own encoder writes for that key, for both algorithms; the certificate's key decodes
 * and its subjectKeyIdentifier is the SHA-1 of the key bits (RFC 5280 4.2.1.2, method 1). */
static void spki_is_openssl_encoding(const char *id, enum cab_alg alg)
{
	struct cab_key k;
	struct cab_err err;
	struct cab_wrapped w;
	struct cab_request req;
	struct cab_cert c;
	const unsigned char *p;
	unsigned char *der = NULL, *cder = NULL, md[20];
	const ASN1_BIT_STRING *bits;
	EVP_PKEY *pub, *cpub;
	X509 *x;
	int n;

	cr_assert_eq(cab_keygen(t.cab, id, alg, &k, &err), 0, "%s", err.msg);
	p = k.spki_der;
	pub = d2i_PUBKEY(NULL, &p, (long)k.spki_len);
	cr_assert_not_null(pub);
	n = i2d_PUBKEY(pub, &der);
	cr_assert_eq((size_t)n, k.spki_len);
	cr_expect_eq(memcmp(der, k.spki_der, k.spki_len), 0, "the same bytes as i2d_PUBKEY");
	w = as_stored(&k);
	ts_cab_request(&req, id, CAB_CLASS_QUALIFIED, id);
	req.wrapped = &w;
	cr_assert_eq(cab_issue(t.cab, &req, &c, &err), 0, "%s", err.msg);
	cr_expect_str_eq(c.spki_sha256_hex, k.sha256_hex);
	p = c.der;
	x = d2i_X509(NULL, &p, (long)c.der_len);
	cr_assert_not_null(x);
	cpub = X509_get0_pubkey(x);
	cr_assert_not_null(cpub, "the certificate's key decodes");
	cr_expect_eq(EVP_PKEY_eq(cpub, pub), 1);
	n = i2d_X509_PUBKEY(X509_get_X509_PUBKEY(x), &cder);
	cr_assert_eq((size_t)n, k.spki_len);
	cr_expect_eq(memcmp(cder, k.spki_der, k.spki_len), 0, "the certificate carries the key's SPKI");
	bits = X509_get0_pubkey_bitstr(x);
	SHA1(bits->data, (size_t)bits->length, md);
	cr_assert_not_null(X509_get0_subject_key_id(x));
	cr_expect_eq(X509_get0_subject_key_id(x)->length, 20);
	cr_expect_eq(memcmp(X509_get0_subject_key_id(x)->data, md, 20), 0);
	OPENSSL_free(cder);
	OPENSSL_free(der);
	X509_free(x);
	EVP_PKEY_free(pub);
	cab_cert_free(&c);
	cab_key_free(&k);
}

Test(cab_wrapped, r2_spki_is_openssl_encoding_ec)
{
	spki_is_openssl_encoding("crt-spki-ec", CAB_ALG_EC_P256);
}

Test(cab_wrapped, r2_spki_is_openssl_encoding_rsa)
{
	spki_is_openssl_encoding("crt-spki-rsa", CAB_ALG_RSA_3072);
}

Test(cab_wrapped, destroyed_key_is_a_named_error)
{
	struct cab_wrapped w = {NULL, 0, "test-kek", 1};
	struct cab_request req;
	struct cab_err err;
	unsigned char *der = NULL;
	size_t len;

	ts_cab_request(&req, "x", CAB_CLASS_QUALIFIED, "x");
	cr_expect_eq(cab_csr_wrapped(t.cab, &w, &req.subject, &der, &len, &err), CAB_E_DESTROYED);
	cr_expect_str_eq(cab_strerror(CAB_E_DESTROYED), "key destroyed");
}

/* A token key made before the switch to wrapped storage stays the key (existed, no blob);
 * a half-made token pair is destroyed as under token storage (issue #19). */
Test(cab_wrapped, token_key_from_before_the_switch_stays_and_remnants_go)
{
	struct cab_key a, b, c;
	struct cab_err err;

	t.cfg.key_storage = "token";
	cr_assert_eq(ts_cab_reopen(&t), 0, "%s", t.err.msg);
	cr_assert_eq(cab_keygen(t.cab, "crt-old", CAB_ALG_DEFAULT, &a, &err), 0, "%s", err.msg);
	t.cfg.key_storage = "wrapped";
	cr_assert_eq(ts_cab_reopen(&t), 0, "%s", t.err.msg);
	cr_assert_eq(cab_keygen(t.cab, "crt-old", CAB_ALG_DEFAULT, &b, &err), 0, "%s", err.msg);
	cr_expect_eq(b.existed, 1);
	cr_expect_null(b.blob);
	cr_expect_str_eq(a.sha256_hex, b.sha256_hex);
	cr_assert_eq(ts_token_remnant(TS_CAB_LABEL, TS_CAB_PIN, "crt-half", 1), 0);
	cr_assert_eq(cab_keygen(t.cab, "crt-half", CAB_ALG_DEFAULT, &c, &err), 0, "%s", err.msg);
	cr_expect_eq(c.remnants, 1);
	cr_expect_not_null(c.blob);
	cab_key_free(&a);
	cab_key_free(&b);
	cab_key_free(&c);
}

/* cab_keygen_csr_first (a cert_issue job's first attempt) does not search the token for a
 * pair with the id: it makes, wraps and signs like cab_keygen_csr, leaves no token object, and
 * a token pair that the caller's promise said could not be there is neither taken nor
 * touched; cab_keygen_csr (a retry) still finds it.  Under token storage it stays
 * find-or-create. */
Test(cab_wrapped, first_keygen_skips_the_token_search_and_retries_keep_it)
{
	struct cab_key a, b, c, d;
	struct cab_request req;
	struct cab_err err;
	struct cab_cert crt;
	struct cab_wrapped w;

	ts_cab_request(&req, "crt-fresh", CAB_CLASS_QUALIFIED, "crt-fresh");
	cr_assert_eq(cab_keygen_csr_first(t.cab, "crt-fresh", CAB_ALG_DEFAULT, &req.subject, 0, &a, &err), 0,
		     "%s", err.msg);
	cr_expect_eq(a.existed, 0);
	cr_expect_not_null(a.blob, "wrapped");
	cr_expect_not_null(a.first_sig, "the fresh key signed its CSR at keygen");
	{
		unsigned char *der = NULL;
		size_t len;

		/* no token object left: the token CSR path finds no key with the id */
		cr_expect_eq(cab_csr(t.cab, "crt-fresh", &req.subject, &der, &len, &err), CAB_E_NOTFOUND);
		free(der);
	}
	w = as_stored(&a);
	req.wrapped = &w;
	req.first_sig = a.first_sig;
	req.first_sig_len = a.first_sig_len;
	cr_assert_eq(cab_issue(t.cab, &req, &crt, &err), 0, "%s", err.msg);
	cr_expect_str_eq(crt.spki_sha256_hex, a.sha256_hex);
	cab_cert_free(&crt);

	t.cfg.key_storage = "token";
	cr_assert_eq(ts_cab_reopen(&t), 0, "%s", t.err.msg);
	cr_assert_eq(cab_keygen(t.cab, "crt-tok", CAB_ALG_DEFAULT, &b, &err), 0, "%s", err.msg);
	ts_cab_request(&req, "crt-tok", CAB_CLASS_QUALIFIED, "crt-tok");
	cr_assert_eq(cab_keygen_csr_first(t.cab, "crt-tok", CAB_ALG_DEFAULT, &req.subject, 0, &c, &err), 0,
		     "%s", err.msg);
	cr_expect_eq(c.existed, 1, "token storage: find-or-create, whatever the caller promised");
	cr_expect_str_eq(c.sha256_hex, b.sha256_hex);
	cab_key_free(&c);
	t.cfg.key_storage = "wrapped";
	cr_assert_eq(ts_cab_reopen(&t), 0, "%s", t.err.msg);
	cr_assert_eq(cab_keygen_csr_first(t.cab, "crt-tok", CAB_ALG_DEFAULT, &req.subject, 0, &c, &err), 0,
		     "%s", err.msg);
	cr_expect_eq(c.existed, 0, "not searched: a fresh wrapped key");
	cr_expect_not_null(c.blob);
	cr_expect_str_neq(c.sha256_hex, b.sha256_hex);
	cr_assert_eq(cab_keygen_csr(t.cab, "crt-tok", CAB_ALG_DEFAULT, &req.subject, &d, &err), 0, "%s",
		     err.msg);
	cr_expect_eq(d.existed, 1, "a retry searches and finds the token pair, untouched");
	cr_expect_str_eq(d.sha256_hex, b.sha256_hex);
	cab_key_free(&a);
	cab_key_free(&b);
	cab_key_free(&c);
	cab_key_free(&d);
}

/* The version the caller names (the RA's current one, kek_versions) is the one the key is
 * wrapped under, even when the token has a newer one; its handle, kept after the first find,
 * serves later keys and signatures; a version the token lacks is a named error; 0 is the
 * token's highest. */
Test(cab_wrapped, first_keygen_wraps_under_the_version_named_and_keeps_its_handle)
{
	struct cab_key k[4];
	struct cab_request req;
	struct cab_err err;
	int v = 0;

	ts_cab_request(&req, "crt-v", CAB_CLASS_QUALIFIED, "crt-v");
	cr_assert_eq(cab_kek(t.cab, CAB_KEK_ROTATE, &v, &err), 0, "%s", err.msg);
	cr_assert_eq(v, 2);
	for (int i = 0; i < 2; i++) {
		char id[32];

		snprintf(id, sizeof(id), "crt-v1-%d", i);
		cr_assert_eq(cab_keygen_csr_first(t.cab, id, CAB_ALG_DEFAULT, &req.subject, 1, &k[i], &err),
			     0, "%s", err.msg);
		cr_expect_eq(k[i].kek_version, 1, "wrapped under the version named, not the token's newest");
	}
	cr_assert_eq(cab_keygen_csr_first(t.cab, "crt-v0", CAB_ALG_DEFAULT, &req.subject, 0, &k[2], &err), 0,
		     "%s", err.msg);
	cr_expect_eq(k[2].kek_version, 2, "0: the token's highest");
	for (int i = 0; i < 3; i++) {
		struct cab_wrapped w = as_stored(&k[i]);

		cr_expect_eq(csr_verifies(&w, &k[i], &err), 0, "%s", err.msg);
	}
	cr_expect_eq(cab_keygen_csr_first(t.cab, "crt-v9", CAB_ALG_DEFAULT, &req.subject, 9, &k[3], &err),
		     CAB_E_KEK);
	cr_expect_str_eq(err.field, "kek_version");
	for (int i = 0; i < 3; i++)
		cab_key_free(&k[i]);
}

/* What the kept KEK handles save (docs/ca-bridge.md; each token search reads SoftHSM2's object
 * files again): once version 1 was found, a first attempt's key generation under it and an
 * unwrap under it search nothing; a retry's key generation searches the token (for a pair
 * with its id and for the KEK) each time. */
Test(cab_wrapped, a_kept_kek_handle_saves_the_token_search)
{
	struct cab_key k[3];
	struct cab_request req;
	struct cab_err err;
	struct cab_stats a, b;
	struct cab_wrapped w;

	ts_cab_request(&req, "crt-s", CAB_CLASS_QUALIFIED, "crt-s");
	cr_assert_eq(cab_keygen_csr_first(t.cab, "crt-s0", CAB_ALG_DEFAULT, &req.subject, 1, &k[0], &err), 0,
		     "%s", err.msg);
	cab_stats(t.cab, &a);
	cr_assert_eq(cab_keygen_csr_first(t.cab, "crt-s1", CAB_ALG_DEFAULT, &req.subject, 1, &k[1], &err), 0,
		     "%s", err.msg);
	w = as_stored(&k[0]);
	cr_expect_eq(csr_verifies(&w, &k[0], &err), 0, "%s", err.msg);
	cab_stats(t.cab, &b);
	cr_expect_eq(b.searches, a.searches, "no search with the handle kept: %llu", b.searches - a.searches);
	cr_assert_eq(cab_keygen_csr(t.cab, "crt-s2", CAB_ALG_DEFAULT, &req.subject, &k[2], &err), 0, "%s",
		     err.msg);
	cab_stats(t.cab, &a);
	cr_expect_geq(a.searches - b.searches, 2, "a retry's keygen searches: %llu", a.searches - b.searches);
	for (int i = 0; i < 3; i++)
		cab_key_free(&k[i]);
}

/* A kept KEK handle whose object an operator destroyed from another process (docs/ca-bridge.md:
 * an old version that wraps nothing) is not trusted: the unwrap is decided again with a fresh
 * search, and a blob under that version is the named error, while the current version still
 * makes and signs keys. */
Test(cab_wrapped, a_kept_kek_handle_of_a_destroyed_version_is_found_again)
{
	struct cab_key k, k2;
	struct cab_request req;
	struct cab_err err;
	struct cab_wrapped w;
	int v = 0;

	ts_cab_request(&req, "crt-gone", CAB_CLASS_QUALIFIED, "crt-gone");
	cr_assert_eq(cab_keygen_csr_first(t.cab, "crt-gone", CAB_ALG_DEFAULT, &req.subject, 1, &k, &err), 0,
		     "%s", err.msg);
	w = as_stored(&k);
	cr_assert_eq(csr_verifies(&w, &k, &err), 0, "%s", err.msg); /* version 1's handle is kept */
	cr_assert_eq(cab_kek(t.cab, CAB_KEK_ROTATE, &v, &err), 0, "%s", err.msg);
	cr_assert_eq(ts_token_delete_secret(TS_CAB_LABEL, TS_CAB_PIN, "test-kek", "1"), 0,
		     "pkcs11-tool destroyed version 1");
	cr_expect_eq(csr_verifies(&w, &k, &err), CAB_E_KEK, "%s", err.msg);
	cr_expect(strstr(err.msg, "unknown KEK version") != NULL, "%s", err.msg);
	cr_assert_eq(cab_keygen_csr_first(t.cab, "crt-gone-2", CAB_ALG_DEFAULT, &req.subject, 2, &k2, &err),
		     0, "%s", err.msg);
	w = as_stored(&k2);
	cr_expect_eq(csr_verifies(&w, &k2, &err), 0, "%s", err.msg);
	cab_key_free(&k);
	cab_key_free(&k2);
}

Test(cab_wrapped, key_storage_value_is_checked)
{
	struct cab_err err;

	t.cfg.key_storage = "hsm";
	cr_expect_null(cab_open(&t.cfg, &err));
	cr_expect_str_eq(err.field, "pkcs11.key_storage");
}

/* ---- the session pool under concurrency (issue #15) ------------------------------------ */

#define PAR_THREADS 8
#define PAR_EACH 6

struct par {
	int idx;
	int fails;
	char first_err[400];
	char fps[PAR_EACH][65];
};

static void *par_wrapped(void *arg)
{
	struct par *pa = arg;

	for (int i = 0; i < PAR_EACH; i++) {
		struct cab_key k;
		struct cab_err err = {0};
		struct cab_request req;
		struct cab_wrapped w;
		unsigned char *der = NULL;
		size_t len = 0;
		char id[32];
		int rc;

		snprintf(id, sizeof(id), "par-%d-%d", pa->idx, i);
		rc = cab_keygen(t.cab, id, CAB_ALG_DEFAULT, &k, &err);
		if (rc == 0) {
			snprintf(pa->fps[i], sizeof(pa->fps[i]), "%s", k.sha256_hex);
			w = as_stored(&k);
			ts_cab_request(&req, id, CAB_CLASS_QUALIFIED, id);
			rc = cab_csr_wrapped(t.cab, &w, &req.subject, &der, &len, &err);
			free(der);
			cab_key_free(&k);
		}
		if (rc != 0 && pa->fails++ == 0)
			snprintf(pa->first_err, sizeof(pa->first_err), "%s: %s", id, err.msg);
	}
	return NULL;
}

/* Keygen + wrap and CSR signing from the blob on 8 threads over 4 sessions: every call
 * succeeds (SoftHSM2 2.6 holds for session objects), the keys differ, and the pool was used
 * by more than one thread at once (they ran in parallel, not one after the other). */
Test(cab_wrapped, parallel_keygen_wrap_and_sign_over_the_session_pool, .timeout = 120)
{
	pthread_t th[PAR_THREADS];
	static struct par pa[PAR_THREADS];
	struct cab_stats st;

	t.cfg.pkcs11_sessions = 4;
	cr_assert_eq(ts_cab_reopen(&t), 0, "%s", t.err.msg);
	for (int i = 0; i < PAR_THREADS; i++) {
		memset(&pa[i], 0, sizeof(pa[i]));
		pa[i].idx = i;
		pthread_create(&th[i], NULL, par_wrapped, &pa[i]);
	}
	for (int i = 0; i < PAR_THREADS; i++)
		pthread_join(th[i], NULL);
	for (int i = 0; i < PAR_THREADS; i++)
		cr_expect_eq(pa[i].fails, 0, "thread %d: %d failures, first %s", i, pa[i].fails,
			     pa[i].first_err);
	for (int a = 0; a < PAR_THREADS * PAR_EACH; a++)
		for (int b = a + 1; b < PAR_THREADS * PAR_EACH; b++)
			cr_expect_str_neq(pa[a / PAR_EACH].fps[a % PAR_EACH],
					  pa[b / PAR_EACH].fps[b % PAR_EACH]);
	cab_stats(t.cab, &st);
	cr_expect_eq(st.sessions, 4);
	cr_expect_gt(st.sessions_max_used, 1, "calls ran on several sessions at once");
	cr_expect_leq(st.sessions_max_used, 4);
}

static void *par_token(void *arg)
{
	struct par *pa = arg;

	for (int i = 0; i < 3; i++) {
		struct cab_key k;
		struct cab_err err = {0};
		char id[32];

		/* two threads ask for each id: find-or-create stays one step (R2) */
		snprintf(id, sizeof(id), "tok-%d-%d", pa->idx / 2, i);
		if (cab_keygen(t.cab, id, CAB_ALG_DEFAULT, &k, &err) != 0) {
			if (pa->fails++ == 0)
				snprintf(pa->first_err, sizeof(pa->first_err), "%s: %s", id, err.msg);
			continue;
		}
		snprintf(pa->fps[i], sizeof(pa->fps[i]), "%s", k.sha256_hex);
		cab_key_free(&k);
	}
	return NULL;
}

/* Token storage on 8 threads: token key pairs are generated one at a time (the exclusive
 * lock SoftHSM2 2.6 needs, issues #573/#688), so every call succeeds and two threads asking
 * for one id get one key. */
Test(cab_wrapped, parallel_token_keygen_is_serialised_and_succeeds, .timeout = 120)
{
	pthread_t th[PAR_THREADS];
	static struct par pa[PAR_THREADS];

	t.cfg.key_storage = "token";
	t.cfg.pkcs11_sessions = 4;
	cr_assert_eq(ts_cab_reopen(&t), 0, "%s", t.err.msg);
	for (int i = 0; i < PAR_THREADS; i++) {
		memset(&pa[i], 0, sizeof(pa[i]));
		pa[i].idx = i;
		pthread_create(&th[i], NULL, par_token, &pa[i]);
	}
	for (int i = 0; i < PAR_THREADS; i++)
		pthread_join(th[i], NULL);
	for (int i = 0; i < PAR_THREADS; i++) {
		cr_expect_eq(pa[i].fails, 0, "thread %d: %s", i, pa[i].first_err);
		if (i % 2 == 1)
			for (int k = 0; k < 3; k++)
				cr_expect_str_eq(pa[i].fps[k], pa[i - 1].fps[k], "one id, one key");
	}
}
