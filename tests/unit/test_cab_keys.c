/* test_cab_keys.c - ca-bridge on a real SoftHSM2 token: opening by label, key generation
 * (R2: one key per certificate id, idempotent), and CSRs signed on the token. */
#include "ca-bridge/cab.h"
#include "tests/lib/ts_cab.h"
#include "tests/lib/ts_token.h"

#include <criterion/criterion.h>
#include <openssl/sha.h>
#include <openssl/x509.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

static struct ts_cab t;

static void setup(void)
{
	cr_assert_eq(ts_cab_setup(&t, 1), 0, "setup: %s", t.err.msg);
}

static void teardown(void)
{
	ts_cab_teardown(&t);
}

TestSuite(cab_keys, .init = setup, .fini = teardown);

/* R2: a retried key job returns the same key instead of making a second one. */
Test(cab_keys, r2_keygen_is_idempotent_by_certificate_id)
{
	struct cab_key a, b;
	struct cab_err err;

	cr_assert_eq(cab_keygen(t.cab, "cert-0001", CAB_ALG_DEFAULT, &a, &err), 0, "%s", err.msg);
	cr_expect_eq(a.existed, 0);
	cr_expect_eq(a.alg, CAB_ALG_EC_P256);
	cr_assert_eq(cab_keygen(t.cab, "cert-0001", CAB_ALG_DEFAULT, &b, &err), 0, "%s", err.msg);
	cr_expect_eq(b.existed, 1);
	cr_expect_str_eq(a.sha256_hex, b.sha256_hex);
	cr_assert_eq(a.spki_len, b.spki_len);
	cr_expect_eq(memcmp(a.spki_der, b.spki_der, a.spki_len), 0);
	cab_key_free(&a);
	cab_key_free(&b);
}

/* R2: and it survives a restart: the key is a token object, found again by CKA_ID. */
Test(cab_keys, r2_keygen_after_restart_finds_the_same_key)
{
	struct cab_key a, b;
	struct cab_err err;

	cr_assert_eq(cab_keygen(t.cab, "cert-restart", CAB_ALG_DEFAULT, &a, &err), 0, "%s", err.msg);
	cr_assert_eq(ts_cab_reopen(&t), 0, "%s", t.err.msg);
	cr_assert_eq(cab_keygen(t.cab, "cert-restart", CAB_ALG_DEFAULT, &b, &err), 0, "%s", err.msg);
	cr_expect_eq(b.existed, 1);
	cr_expect_str_eq(a.sha256_hex, b.sha256_hex);
	cab_key_free(&a);
	cab_key_free(&b);
}

/* R2: two certificates, two keys: the fingerprints the database indexes differ. */
Test(cab_keys, r2_two_ids_give_two_fingerprints)
{
	struct cab_key a, b;
	struct cab_err err;
	unsigned char md[SHA256_DIGEST_LENGTH];
	char hex[65];

	cr_assert_eq(cab_keygen(t.cab, "cert-a", CAB_ALG_DEFAULT, &a, &err), 0, "%s", err.msg);
	cr_assert_eq(cab_keygen(t.cab, "cert-b", CAB_ALG_DEFAULT, &b, &err), 0, "%s", err.msg);
	cr_expect_str_neq(a.sha256_hex, b.sha256_hex);
	/* the fingerprint is SHA-256 over the DER SubjectPublicKeyInfo */
	SHA256(a.spki_der, a.spki_len, md);
	for (int i = 0; i < SHA256_DIGEST_LENGTH; i++)
		snprintf(hex + 2 * i, 3, "%02x", md[i]);
	cr_expect_str_eq(hex, a.sha256_hex);
	cab_key_free(&a);
	cab_key_free(&b);
}

/* Issue #19: a SIGKILL inside SoftHSM2's C_GenerateKeyPair leaves the public key object with
 * the certificate's id and no private one.  keygen recognises the half-made pair, destroys
 * it and makes one pair (before the fix: a second pair, then "several keys with this id"). */
Test(cab_keys, r2_half_made_key_pair_is_destroyed_and_one_pair_made)
{
	struct cab_key a, b;
	struct cab_err err;

	cr_assert_eq(ts_token_remnant(TS_CAB_LABEL, TS_CAB_PIN, "cert-remnant", 1), 0,
		     "pkcs11-tool made the remnant");
	cr_assert_eq(cab_keygen(t.cab, "cert-remnant", CAB_ALG_DEFAULT, &a, &err), 0, "%s", err.msg);
	cr_expect_eq(a.existed, 0, "a public key alone is no key");
	cr_expect_eq(a.remnants, 1, "the orphan public key was destroyed");
	/* one pair now: the retry finds it, and a CSR (a find of the private key) works */
	cr_assert_eq(cab_keygen(t.cab, "cert-remnant", CAB_ALG_DEFAULT, &b, &err), 0, "%s", err.msg);
	cr_expect_eq(b.existed, 1);
	cr_expect_eq(b.remnants, 0);
	cr_expect_str_eq(a.sha256_hex, b.sha256_hex);
	{
		struct cab_request req;
		unsigned char *der = NULL;
		size_t len = 0;

		ts_cab_request(&req, "cert-remnant", CAB_CLASS_QUALIFIED, "cert-remnant");
		cr_expect_eq(cab_csr(t.cab, "cert-remnant", &req.subject, &der, &len, &err), 0, "%s",
			     err.msg);
		free(der);
	}
	cab_key_free(&a);
	cab_key_free(&b);
}

/* Issue #19: the old bug's leftovers (two public keys with one id, no private key) too. */
Test(cab_keys, r2_several_orphan_public_keys_are_destroyed)
{
	struct cab_key a;
	struct cab_err err;

	cr_assert_eq(ts_token_remnant(TS_CAB_LABEL, TS_CAB_PIN, "cert-two", 2), 0,
		     "pkcs11-tool made the remnants");
	cr_assert_eq(cab_keygen(t.cab, "cert-two", CAB_ALG_DEFAULT, &a, &err), 0, "%s", err.msg);
	cr_expect_eq(a.remnants, 2);
	cab_key_free(&a);
}

Test(cab_keys, rsa_3072_key_on_request)
{
	struct cab_key k;
	struct cab_err err;
	const unsigned char *p;
	EVP_PKEY *pub;

	cr_assert_eq(cab_keygen(t.cab, "cert-rsa", CAB_ALG_RSA_3072, &k, &err), 0, "%s", err.msg);
	p = k.spki_der;
	pub = d2i_PUBKEY(NULL, &p, (long)k.spki_len);
	cr_assert_not_null(pub);
	cr_expect_eq(EVP_PKEY_get_base_id(pub), EVP_PKEY_RSA);
	cr_expect_eq(EVP_PKEY_get_bits(pub), 3072);
	EVP_PKEY_free(pub);
	cab_key_free(&k);
	/* the same id asked for as EC is a conflict, not a second key */
	cr_expect_eq(cab_keygen(t.cab, "cert-rsa", CAB_ALG_EC_P256, &k, &err), CAB_E_CONFLICT);
}

Test(cab_keys, key_id_must_be_a_safe_name)
{
	struct cab_key k;
	struct cab_err err;

	cr_expect_eq(cab_keygen(t.cab, "../etc", CAB_ALG_DEFAULT, &k, &err), CAB_E_INVALID);
	cr_expect_str_eq(err.field, "key_id");
	cr_expect_eq(cab_keygen(t.cab, "", CAB_ALG_DEFAULT, &k, &err), CAB_E_INVALID);
}

static void check_csr(enum cab_alg alg, const char *id)
{
	struct cab_key k;
	struct cab_err err;
	struct cab_request req;
	unsigned char *der = NULL;
	const unsigned char *p;
	size_t len = 0;
	X509_REQ *csr;
	EVP_PKEY *pub;

	cr_assert_eq(cab_keygen(t.cab, id, alg, &k, &err), 0, "%s", err.msg);
	ts_cab_request(&req, id, CAB_CLASS_QUALIFIED, id);
	cr_assert_eq(cab_csr(t.cab, id, &req.subject, &der, &len, &err), 0, "%s", err.msg);
	p = der;
	csr = d2i_X509_REQ(NULL, &p, (long)len);
	cr_assert_not_null(csr);
	p = k.spki_der;
	pub = d2i_PUBKEY(NULL, &p, (long)k.spki_len);
	cr_assert_not_null(pub);
	/* signed on the token with the key just generated */
	cr_expect_eq(X509_REQ_verify(csr, pub), 1);
	cr_expect_eq(EVP_PKEY_eq(X509_REQ_get0_pubkey(csr), pub), 1);
	cr_expect_eq(X509_REQ_get_signature_nid(csr),
		     alg == CAB_ALG_RSA_3072 ? NID_sha256WithRSAEncryption : NID_ecdsa_with_SHA256);
	EVP_PKEY_free(pub);
	X509_REQ_free(csr);
	free(der);
	cab_key_free(&k);
}

Test(cab_keys, csr_ec_signed_on_token_verifies)
{
	check_csr(CAB_ALG_EC_P256, "csr-ec");
}

Test(cab_keys, csr_rsa_signed_on_token_verifies)
{
	check_csr(CAB_ALG_RSA_3072, "csr-rsa");
}

Test(cab_keys, csr_for_unknown_key_is_notfound)
{
	struct cab_request req;
	struct cab_err err;
	unsigned char *der = NULL;
	size_t len;

	ts_cab_request(&req, "x", CAB_CLASS_QUALIFIED, "x");
	cr_expect_eq(cab_csr(t.cab, "no-such-key", &req.subject, &der, &len, &err), CAB_E_NOTFOUND);
}

/* Separate suite: these open the token themselves. */
static void setup_closed(void)
{
	cr_assert_eq(ts_cab_setup(&t, 0), 0, "setup: %s", t.err.msg);
}

TestSuite(cab_open, .init = setup_closed, .fini = teardown);

Test(cab_open, wrong_pin_is_a_token_error_without_the_pin)
{
	struct cab_err err;

	t.cfg.pkcs11_pin = "98765";
	cr_expect_null(cab_open(&t.cfg, &err));
	cr_expect_eq(err.code, CAB_E_TOKEN);
	cr_expect_str_eq(err.field, "pkcs11.pin");
	cr_expect_null(strstr(err.msg, "98765"), "the PIN leaked into: %s", err.msg);
}

Test(cab_open, token_is_found_by_label_only)
{
	struct cab_err err;

	t.cfg.pkcs11_token = "no-such-label";
	cr_expect_null(cab_open(&t.cfg, &err));
	cr_expect_eq(err.code, CAB_E_TOKEN);
	cr_expect_str_eq(err.field, "pkcs11.token");
}

/* Backend cmp: the keys it needs are named; https and mixed protection are refused. */
Test(cab_open, cmp_backend_config_keys_named)
{
	struct cab_err err;

	t.cfg.backend = "cmp";
	cr_expect_null(cab_open(&t.cfg, &err));
	cr_expect_eq(err.code, CAB_E_INVALID);
	cr_expect_str_eq(err.field, "cmp.url");
	t.cfg.cmp_url = "http://127.0.0.1:1/cmp";
	t.cfg.cmp_trusted = "ca.pem";
	cr_expect_null(cab_open(&t.cfg, &err));
	cr_expect_str_eq(err.field, "cmp.secret", "no protection: %s", err.msg);
	t.cfg.cmp_secret = "s3cret";
	cr_expect_null(cab_open(&t.cfg, &err));
	cr_expect_str_eq(err.field, "cmp.reference");
	t.cfg.cmp_client_key = "client.key";
	cr_expect_null(cab_open(&t.cfg, &err));
	cr_expect_str_eq(err.field, "cmp.secret", "both PBM and signature: %s", err.msg);
	t.cfg.cmp_client_key = NULL;
	t.cfg.cmp_url = "https://127.0.0.1:1/cmp";
	t.cfg.cmp_reference = "ra";
	cr_expect_null(cab_open(&t.cfg, &err));
	cr_expect_str_eq(err.field, "cmp.url");
	cr_expect_null(strstr(err.msg, "s3cret"), "the secret leaked into: %s", err.msg);
}

/* The back-end is picked once, by name: an unknown one is refused; "cmp" needs the token (its
 * keys are made here), "local" (also the default) can do without one, as the ca-bridge server. */
Test(cab_open, backend_chosen_by_name_cmp_needs_the_token)
{
	struct cab_err err;
	struct cab *cab;

	t.cfg.backend = "acme";
	cr_expect_null(cab_open(&t.cfg, &err));
	cr_expect_eq(err.code, CAB_E_INVALID);
	cr_expect_str_eq(err.field, "ca.backend");
	t.cfg.backend = "cmp";
	t.cfg.pkcs11_module = NULL;
	cr_expect_null(cab_open(&t.cfg, &err));
	cr_expect_eq(err.code, CAB_E_INVALID);
	cr_expect_str_eq(err.field, "pkcs11.module");
	t.cfg.backend = NULL;
	cab = cab_open(&t.cfg, &err);
	cr_expect_not_null(cab, "local without a token: %s", err.msg);
	cab_close(cab);
}

/* A back-end that fails half-way through opening is reported with the field; what it made
 * until then (token session, parsed URL) is freed, which LeakSanitizer sees. */
Test(cab_open, failed_open_of_either_backend_leaves_nothing)
{
	struct cab_err err;
	char file[400];
	FILE *f;

	snprintf(file, sizeof(file), "%s/not-a-dir", t.dir);
	f = fopen(file, "w");
	cr_assert_not_null(f);
	fclose(f);
	t.cfg.ca_dir = file; /* local: the CA's directory cannot be made */
	cr_expect_null(cab_open(&t.cfg, &err));
	cr_expect_eq(err.code, CAB_E_IO, "%s", err.msg);
	cr_expect_str_eq(err.field, "ca.dir");
	t.cfg.ca_dir = t.ca_dir; /* cmp: the URL is parsed, then the trust anchors are missing */
	t.cfg.backend = "cmp";
	t.cfg.cmp_url = "http://127.0.0.1:1/cmp";
	t.cfg.cmp_trusted = file;
	t.cfg.cmp_secret = "s3cret";
	t.cfg.cmp_reference = "ra";
	cr_expect_null(cab_open(&t.cfg, &err));
	cr_expect_eq(err.code, CAB_E_INVALID, "%s", err.msg);
	cr_expect_str_eq(err.field, "cmp.trusted");
}

Test(cab_open, missing_config_key_is_named)
{
	struct cab_err err;

	t.cfg.policy_oid = NULL;
	cr_expect_null(cab_open(&t.cfg, &err));
	cr_expect_eq(err.code, CAB_E_INVALID);
	cr_expect_str_eq(err.field, "ca.policy_oid");
}

Test(cab_open, ca_created_once_key_file_owner_only)
{
	struct cab_err err;
	struct stat st;
	char path[400];
	char *pem1 = NULL, *pem2 = NULL;

	t.cab = cab_open(&t.cfg, &err);
	cr_assert_not_null(t.cab, "%s", err.msg);
	snprintf(path, sizeof(path), "%s/ca.key", t.ca_dir);
	cr_assert_eq(stat(path, &st), 0);
	cr_expect_eq(st.st_mode & 0777, 0600);
	cr_assert_eq(cab_chain_pem(t.cab, &pem1, &err), 0);
	cr_assert_eq(ts_cab_reopen(&t), 0, "%s", t.err.msg);
	cr_assert_eq(cab_chain_pem(t.cab, &pem2, &err), 0);
	cr_expect_str_eq(pem1, pem2, "the CA was made again on the second open");
	free(pem1);
	free(pem2);
}
