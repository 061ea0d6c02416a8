/*
 * cab.c - opening and closing the CA bridge, and the calls every back-end shares.
 *
 * cab_open checks the configuration common to all back-ends, picks the back-end's
 * operations table (struct cab_backend, cab_int.h) once from ca.backend, and from then on
 * the public calls check their arguments and the profile here and dispatch through it:
 * "local" (local/, the embedded OpenSSL CA) or "cmp" (cmp/, a CA over CMP).  Both share the
 * token, the CSR and the profile checks; the token key calls (cab_keygen) are here.
 */
#include "ca-bridge/cab_int.h"

#include <stdlib.h>
#include <string.h>

static const struct cab_backend *const backends[] = {&cab_local_backend, &cab_cmp_backend};

void cab_config_defaults(struct cab_config *cfg)
{
	memset(cfg, 0, sizeof(*cfg));
	cfg->backend = "local";
	cfg->key_alg = "ec-p256";
	cfg->advanced_ncp_plus = 1;
	cfg->crl_validity_hours = 24;
}

int cab_cfg_set(const char *v)
{
	return v != NULL && v[0] != '\0';
}

int cab_cfg_need(const char *v, const char *field, struct cab_err *err)
{
	if (cab_cfg_set(v))
		return 0;
	return cab_err_set(err, CAB_E_INVALID, field, "%s is required", field);
}

/* The back-end named by ca.backend (NULL: "local"), or NULL when there is none. */
static const struct cab_backend *backend_of(const char *name)
{
	for (size_t i = 0; i < sizeof(backends) / sizeof(backends[0]); i++) {
		if (strcmp(name != NULL ? name : "local", backends[i]->name) == 0)
			return backends[i];
	}
	return NULL;
}

static int check_config(const struct cab_config *c, const struct cab_backend **be, enum cab_alg *alg,
			struct cab_err *err)
{
	int rc;

	*be = backend_of(c->backend);
	if (*be == NULL)
		return cab_err_set(err, CAB_E_INVALID, "ca.backend", "unknown CA backend (local or cmp)");
	if ((rc = cab_cfg_need(c->ca_dir, "ca.dir", err)) != 0)
		return rc;
	/* a token is optional only for a local CA that signs CSRs made elsewhere (ca-bridge) */
	if (((*be)->needs_token || c->pkcs11_module != NULL) &&
	    ((rc = cab_cfg_need(c->pkcs11_module, "pkcs11.module", err)) != 0 ||
	     (rc = cab_cfg_need(c->pkcs11_token, "pkcs11.token", err)) != 0 ||
	     (rc = cab_cfg_need(c->pkcs11_pin, "pkcs11.pin", err)) != 0))
		return rc;
	if (c->key_storage != NULL && strcmp(c->key_storage, "token") != 0 &&
	    strcmp(c->key_storage, "wrapped") != 0)
		return cab_err_set(err, CAB_E_INVALID, "pkcs11.key_storage", "must be wrapped or token");
	if (c->key_storage != NULL && strcmp(c->key_storage, "wrapped") == 0 &&
	    (rc = cab_cfg_need(c->pkcs11_module, "pkcs11.module", err)) != 0)
		return rc;
	if (c->pkcs11_sessions < 0 || c->pkcs11_sessions > 256)
		return cab_err_set(err, CAB_E_INVALID, "pkcs11.sessions", "must be 1..256");
	if (c->kek_label != NULL && (strlen(c->kek_label) == 0 || strlen(c->kek_label) > 32))
		return cab_err_set(err, CAB_E_INVALID, "pkcs11.kek_label", "must be 1..32 characters");
	*alg = CAB_ALG_EC_P256;
	if (c->key_alg != NULL && cab_alg_parse(c->key_alg, alg) != 0)
		return cab_err_set(err, CAB_E_INVALID, "ca.key_alg", "must be ec-p256 or rsa-3072");
	return (*be)->check(c, err);
}

struct cab *cab_open(const struct cab_config *cfg, struct cab_err *err)
{
	const struct cab_backend *be;
	struct cab *cab;
	enum cab_alg alg;

	if (cfg == NULL) {
		cab_err_set(err, CAB_E_INVALID, "", "missing configuration");
		return NULL;
	}
	if (check_config(cfg, &be, &alg, err) != 0)
		return NULL;
	cab = calloc(1, sizeof(*cab));
	if (cab == NULL) {
		cab_err_set(err, CAB_E_NOMEM, "", "out of memory");
		return NULL;
	}
	cab->key_alg = alg;
	cab->wrapped = cfg->key_storage != NULL && strcmp(cfg->key_storage, "wrapped") == 0;
	snprintf(cab->kek_label, sizeof(cab->kek_label), "%s", cfg->kek_label ? cfg->kek_label : "cab-kek");
	if (cfg->pkcs11_module != NULL &&
	    cab_p11_open(&cab->p11, cfg->pkcs11_module, cfg->pkcs11_token, cfg->pkcs11_pin,
			 cfg->pkcs11_sessions > 0 ? cfg->pkcs11_sessions : 4, err) != 0)
		goto fail;
	cab->be = be;
	if (be->open(cab, cfg, err) != 0)
		goto fail;
	return cab;
fail:
	cab_close(cab);
	return NULL;
}

void cab_close(struct cab *cab)
{
	if (cab == NULL)
		return;
	if (cab->be != NULL)
		cab->be->close(cab);
	cab_p11_close(cab->p11);
	free(cab);
}

/* key_storage "wrapped": a token pair with the id stays the key (made before the switch);
 * otherwise a fresh pair, wrapped.  Idempotence is the caller's: it stores the blob under
 * the certificate once and passes it back instead of asking again (see cab.h). */
static int first_digest(void *ctx, EVP_PKEY *pub, unsigned char dgst[32], struct cab_err *err)
{
	return cab_csr_first_digest(ctx, pub, dgst, err);
}

static int keygen_wrapped(struct cab *cab, const char *key_id, enum cab_alg alg,
			  const struct cab_subject *subject, int search, int want, struct cab_key *out,
			  struct cab_err *err)
{
	EVP_PKEY *pub = NULL;
	unsigned char *w = NULL;
	size_t wlen = 0;
	int existed = 0, remnants = 0, version = 0, rc;
	struct cab_p11_first_sign first = {first_digest, (void *)subject, NULL, 0};

	rc = cab_p11_keygen_wrapped(cab->p11, key_id, alg, cab->kek_label, search, want,
				    subject ? &first : NULL, &pub, &existed, &remnants, &w, &wlen, &version,
				    err);
	if (rc != 0)
		goto out;
	/* the token key's algorithm: the public key says */
	if (existed)
		alg = EVP_PKEY_get_base_id(pub) == EVP_PKEY_RSA ? CAB_ALG_RSA_3072 : CAB_ALG_EC_P256;
	if ((rc = cab_key_fill(pub, alg, out, err)) != 0 ||
	    (!existed && (rc = cab_blob_pack(alg, out->spki_der, out->spki_len, w, wlen, &out->blob,
					     &out->blob_len, err)) != 0))
		goto out;
	out->existed = existed;
	out->remnants = remnants;
	if (!existed) {
		snprintf(out->kek_label, sizeof(out->kek_label), "%s", cab->kek_label);
		out->kek_version = version;
		out->first_sig = first.sig;
		out->first_sig_len = first.siglen;
		first.sig = NULL;
	}
out:
	if (rc != 0)
		cab_key_free(out);
	OPENSSL_free(first.sig);
	free(w);
	EVP_PKEY_free(pub);
	return rc;
}

int cab_key_wrap_token(struct cab *cab, const char *key_id, struct cab_key *out, struct cab_err *err)
{
	EVP_PKEY *pub = NULL;
	enum cab_alg alg = CAB_ALG_EC_P256;
	unsigned char *w = NULL;
	size_t wlen = 0;
	int version = 0, rc;

	if (cab == NULL || out == NULL)
		return cab_err_set(err, CAB_E_INVALID, "", "missing argument");
	memset(out, 0, sizeof(*out));
	if (!cab->wrapped)
		return cab_err_set(err, CAB_E_INVALID, "pkcs11.key_storage", "key storage is token");
	if (!cab_id_ok(key_id))
		return cab_err_set(err, CAB_E_INVALID, "key_id", "key id must be 1..64 of [A-Za-z0-9._-]");
	rc = cab_p11_wrap_token(cab->p11, key_id, cab->kek_label, &pub, &alg, &w, &wlen, &version, err);
	if (rc == 0 && (rc = cab_key_fill(pub, alg, out, err)) == 0 &&
	    (rc = cab_blob_pack(alg, out->spki_der, out->spki_len, w, wlen, &out->blob, &out->blob_len,
				err)) == 0) {
		snprintf(out->kek_label, sizeof(out->kek_label), "%s", cab->kek_label);
		out->kek_version = version;
	}
	if (rc != 0)
		cab_key_free(out);
	free(w);
	EVP_PKEY_free(pub);
	return rc;
}

int cab_key_destroy(struct cab *cab, const char *key_id, int *destroyed, struct cab_err *err)
{
	if (cab == NULL || destroyed == NULL)
		return cab_err_set(err, CAB_E_INVALID, "", "missing argument");
	if (!cab_id_ok(key_id))
		return cab_err_set(err, CAB_E_INVALID, "key_id", "key id must be 1..64 of [A-Za-z0-9._-]");
	return cab_p11_destroy(cab->p11, key_id, destroyed, err);
}

void cab_stats(struct cab *cab, struct cab_stats *st)
{
	memset(st, 0, sizeof(*st));
	if (cab != NULL && cab->p11 != NULL)
		cab_p11_stats(cab->p11, &st->sessions, &st->sessions_max_used, &st->searches);
}

int cab_wraps(const struct cab *cab)
{
	return cab != NULL && cab->wrapped;
}

int cab_kek(struct cab *cab, enum cab_kek_op op, int *version, struct cab_err *err)
{
	if (cab == NULL || version == NULL)
		return cab_err_set(err, CAB_E_INVALID, "", "missing argument");
	return cab_p11_kek(cab->p11, cab->kek_label, (int)op, version, err);
}

int cab_wrapped_parts(struct cab *cab, const struct cab_wrapped *w, enum cab_alg *alg,
		      const unsigned char **spki, size_t *spki_len, const unsigned char **wk, size_t *wklen,
		      struct cab_err *err)
{
	if (w->blob == NULL || w->len == 0)
		return cab_err_set(err, CAB_E_DESTROYED, "key_blob", "the key was destroyed");
	if (w->kek_label == NULL || strcmp(w->kek_label, cab->kek_label) != 0)
		return cab_err_set(err, CAB_E_KEK, "kek_label",
				   "the key is wrapped under KEK \"%s\", not the configured \"%s\"",
				   w->kek_label ? w->kek_label : "", cab->kek_label);
	return cab_blob_unpack(w->blob, w->len, alg, spki, spki_len, wk, wklen, err);
}

int cab_rewrap(struct cab *cab, const struct cab_wrapped *w, struct cab_key *out, struct cab_err *err)
{
	EVP_PKEY *pub;
	enum cab_alg alg;
	const unsigned char *wk, *spki;
	unsigned char *nw = NULL;
	size_t wklen, nwlen = 0, spki_len;
	int to = 0, rc;

	if (cab == NULL || w == NULL || out == NULL)
		return cab_err_set(err, CAB_E_INVALID, "", "missing argument");
	memset(out, 0, sizeof(*out));
	if ((rc = cab_wrapped_parts(cab, w, &alg, &spki, &spki_len, &wk, &wklen, err)) != 0)
		return rc;
	/* the same key: its public half goes into the new blob as it was, once it is a valid key
	 * in DER (a damaged one is refused here, not carried on under a new KEK version) */
	if ((pub = cab_spki_key(spki, spki_len)) == NULL)
		return cab_err_ossl(err, CAB_E_INVALID, "cannot decode the blob's public key");
	EVP_PKEY_free(pub);
	if ((rc = cab_p11_rewrap(cab->p11, cab->kek_label, w->kek_version, alg, wk, wklen, &nw, &nwlen, &to,
				 err)) == 0 &&
	    (rc = cab_key_fill_der(spki, spki_len, alg, out, err)) == 0 &&
	    (rc = cab_blob_pack(alg, spki, spki_len, nw, nwlen, &out->blob, &out->blob_len, err)) == 0) {
		snprintf(out->kek_label, sizeof(out->kek_label), "%s", cab->kek_label);
		out->kek_version = to;
	}
	if (rc != 0)
		cab_key_free(out);
	free(nw);
	return rc;
}

static int keygen(struct cab *cab, const char *key_id, enum cab_alg alg, const struct cab_subject *subject,
		  struct cab_key *out, int wrap, int search, int want, struct cab_err *err);

int cab_keygen(struct cab *cab, const char *key_id, enum cab_alg alg, struct cab_key *out,
	       struct cab_err *err)
{
	return keygen(cab, key_id, alg, NULL, out, cab != NULL && cab->wrapped, 1, 0, err);
}

int cab_keygen_csr(struct cab *cab, const char *key_id, enum cab_alg alg, const struct cab_subject *subject,
		   struct cab_key *out, struct cab_err *err)
{
	if (subject == NULL)
		return cab_err_set(err, CAB_E_INVALID, "", "missing argument");
	return keygen(cab, key_id, alg, subject, out, cab != NULL && cab->wrapped, 1, 0, err);
}

int cab_keygen_csr_first(struct cab *cab, const char *key_id, enum cab_alg alg,
			 const struct cab_subject *subject, int kek_version, struct cab_key *out,
			 struct cab_err *err)
{
	if (subject == NULL || kek_version < 0)
		return cab_err_set(err, CAB_E_INVALID, "", "missing argument");
	return keygen(cab, key_id, alg, subject, out, cab != NULL && cab->wrapped, 0, kek_version, err);
}

int cab_keygen_token(struct cab *cab, const char *key_id, enum cab_alg alg, struct cab_key *out,
		     struct cab_err *err)
{
	return keygen(cab, key_id, alg, NULL, out, 0, 1, 0, err);
}

static int keygen(struct cab *cab, const char *key_id, enum cab_alg alg, const struct cab_subject *subject,
		  struct cab_key *out, int wrap, int search, int want, struct cab_err *err)
{
	EVP_PKEY *pub = NULL;
	enum cab_alg got = CAB_ALG_DEFAULT;
	int existed = 0, remnants = 0, rc;

	if (cab == NULL || out == NULL)
		return cab_err_set(err, CAB_E_INVALID, "", "missing argument");
	memset(out, 0, sizeof(*out));
	if (!cab_id_ok(key_id))
		return cab_err_set(err, CAB_E_INVALID, "key_id", "key id must be 1..64 of [A-Za-z0-9._-]");
	if (alg != CAB_ALG_DEFAULT && alg != CAB_ALG_EC_P256 && alg != CAB_ALG_RSA_3072)
		return cab_err_set(err, CAB_E_INVALID, "alg", "unknown key algorithm");
	if (wrap)
		return keygen_wrapped(cab, key_id, alg == CAB_ALG_DEFAULT ? cab->key_alg : alg, subject,
				      search, want, out, err);
	/* find-or-create is one step per id inside cab_p11.c (token lock) */
	rc = cab_p11_keygen(cab->p11, key_id, alg == CAB_ALG_DEFAULT ? cab->key_alg : alg, &pub, &got,
			    &existed, &remnants, err);
	if (rc != 0)
		goto out;
	if (existed && alg != CAB_ALG_DEFAULT && got != alg) {
		rc = cab_err_set(err, CAB_E_CONFLICT, "alg",
				 "a key with this id exists with another algorithm");
		goto out;
	}
	if ((rc = cab_key_fill(pub, got, out, err)) == 0) {
		out->existed = existed;
		out->remnants = remnants;
	}
out:
	EVP_PKEY_free(pub);
	return rc;
}

int cab_sign_digest(struct cab *cab, const char *key_id, const unsigned char dgst[32], unsigned char **sig,
		    size_t *siglen, struct cab_err *err)
{
	EVP_PKEY *pub = NULL;
	enum cab_alg alg = CAB_ALG_DEFAULT;
	unsigned char *s = NULL;
	size_t n = 0;
	int rc;

	if (cab == NULL || dgst == NULL || sig == NULL || siglen == NULL)
		return cab_err_set(err, CAB_E_INVALID, "", "missing argument");
	if (cab->p11 == NULL)
		return cab_err_set(err, CAB_E_TOKEN, "pkcs11_module", "opened without a token");
	if (!cab_id_ok(key_id))
		return cab_err_set(err, CAB_E_INVALID, "key_id", "key id must be 1..64 of [A-Za-z0-9._-]");
	if ((rc = cab_p11_find(cab->p11, key_id, &pub, &alg, err)) != 0)
		return rc;
	EVP_PKEY_free(pub);
	if ((rc = cab_p11_sign_digest(cab->p11, key_id, alg, dgst, &s, &n, err)) != 0)
		return rc;
	*sig = malloc(n);
	if (*sig == NULL) {
		OPENSSL_free(s);
		return cab_err_set(err, CAB_E_NOMEM, "", "out of memory");
	}
	memcpy(*sig, s, n);
	*siglen = n;
	OPENSSL_free(s);
	return 0;
}

int cab_issue(struct cab *cab, const struct cab_request *req, struct cab_cert *out, struct cab_err *err)
{
	X509_NAME *subject = NULL;
	int years, rc;

	if (cab == NULL || req == NULL || out == NULL)
		return cab_err_set(err, CAB_E_INVALID, "", "missing argument");
	memset(out, 0, sizeof(*out));
	if (!cab_id_ok(req->request_id))
		return cab_err_set(err, CAB_E_INVALID, "request_id",
				   "request id must be 1..64 of [A-Za-z0-9._-]");
	if ((req->key_id != NULL) == (req->csr_der != NULL))
		return cab_err_set(err, CAB_E_INVALID, "key_id", "give exactly one of key_id and csr");
	/* the same profile checks for every back-end: a request outside it never reaches a CA */
	if ((rc = cab_profile_check(req, &years, err)) == 0 &&
	    (rc = cab_profile_subject(&req->subject, req->cls, &subject, err)) == 0)
		rc = cab->be->issue(cab, req, subject, years, out, err);
	X509_NAME_free(subject);
	return rc;
}

int cab_subject_check(const struct cab_subject *subject, enum cab_class cls, struct cab_err *err)
{
	struct cab_request req = {.request_id = "check", .cls = cls};
	X509_NAME *name = NULL;
	int years, rc;

	if (subject == NULL)
		return cab_err_set(err, CAB_E_INVALID, "", "missing argument");
	req.subject = *subject;
	if ((rc = cab_profile_check(&req, &years, err)) == 0)
		rc = cab_profile_subject(subject, cls, &name, err);
	X509_NAME_free(name);
	return rc;
}

int cab_revoke(struct cab *cab, const char *serial_hex, enum cab_reason reason, time_t when,
	       struct cab_err *err)
{
	char serial[48];

	if (cab == NULL)
		return cab_err_set(err, CAB_E_INVALID, "", "missing argument");
	if (cab_serial_canon(serial_hex, serial) != 0)
		return cab_err_set(err, CAB_E_INVALID, "serial", "serial must be 1..40 hex digits");
	if (cab_reason_name(reason) == NULL)
		return cab_err_set(err, CAB_E_INVALID, "reason", "not an RFC 5280 reason this CA uses");
	return cab->be->revoke(cab, serial, reason, when, err);
}

int cab_crl(struct cab *cab, unsigned char **der, size_t *len, struct cab_err *err)
{
	if (cab == NULL || der == NULL || len == NULL)
		return cab_err_set(err, CAB_E_INVALID, "", "missing argument");
	return cab->be->crl(cab, der, len, err);
}

int cab_chain_pem(struct cab *cab, char **pem, struct cab_err *err)
{
	if (cab == NULL || pem == NULL)
		return cab_err_set(err, CAB_E_INVALID, "", "missing argument");
	return cab->be->chain_pem(cab, pem, err);
}
