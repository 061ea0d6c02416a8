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

static const struct cab_backend *const backends[] = { &cab_local_backend, &cab_cmp_backend };

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
	if (cfg->pkcs11_module != NULL &&
	    cab_p11_open(&cab->p11, cfg->pkcs11_module, cfg->pkcs11_token, cfg->pkcs11_pin, err) != 0)
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

int cab_keygen(struct cab *cab, const char *key_id, enum cab_alg alg, struct cab_key *out,
	       struct cab_err *err)
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
	/* find-or-create is one step per id inside cab_p11.c (token lock) */
	rc = cab_p11_keygen(cab->p11, key_id, alg == CAB_ALG_DEFAULT ? cab->key_alg : alg, &pub, &got, &existed,
			    &remnants, err);
	if (rc != 0)
		goto out;
	if (existed && alg != CAB_ALG_DEFAULT && got != alg) {
		rc = cab_err_set(err, CAB_E_CONFLICT, "alg", "a key with this id exists with another algorithm");
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
		return cab_err_set(err, CAB_E_INVALID, "request_id", "request id must be 1..64 of [A-Za-z0-9._-]");
	if ((req->key_id != NULL) == (req->csr_der != NULL))
		return cab_err_set(err, CAB_E_INVALID, "key_id", "give exactly one of key_id and csr");
	/* the same profile checks for every back-end: a request outside it never reaches a CA */
	if ((rc = cab_profile_check(req, &years, err)) == 0 &&
	    (rc = cab_profile_subject(&req->subject, req->cls, &subject, err)) == 0)
		rc = cab->be->issue(cab, req, subject, years, out, err);
	X509_NAME_free(subject);
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
