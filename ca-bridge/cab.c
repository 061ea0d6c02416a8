/*
 * cab.c - opening and closing the CA bridge, configuration checks, and the token key calls.
 * The back-end is chosen here: "local" (store.c, issue.c, revoke.c, crl.c) or "cmp"
 * (cmp_client.c and friends); both share the token, the CSR and the profile checks.
 */
#include "ca-bridge/cab_int.h"

#include <openssl/objects.h>
#include <openssl/pem.h>
#include <stdlib.h>
#include <string.h>

void cab_config_defaults(struct cab_config *cfg)
{
	memset(cfg, 0, sizeof(*cfg));
	cfg->backend = "local";
	cfg->key_alg = "ec-p256";
	cfg->advanced_ncp_plus = 1;
	cfg->crl_validity_hours = 24;
}

static int need(const char *v, const char *field, struct cab_err *err)
{
	if (v != NULL && v[0] != '\0')
		return 0;
	return cab_err_set(err, CAB_E_INVALID, field, "%s is required", field);
}

/* A URL that goes into a certificate as IA5String: printable ASCII, no spaces or commas
 * (commas would split OpenSSL's extension syntax). */
static int url_ok(const char *u)
{
	if (strncmp(u, "http://", 7) != 0 && strncmp(u, "https://", 8) != 0)
		return 0;
	for (; *u != '\0'; u++) {
		if (*u <= ' ' || *u > '~' || *u == ',')
			return 0;
	}
	return 1;
}

static int set(const char *v)
{
	return v != NULL && v[0] != '\0';
}

/* Backend "cmp": where the CA is, how we protect our messages, what we trust. */
static int check_cmp(const struct cab_config *c, struct cab_err *err)
{
	int rc;

	if ((rc = need(c->cmp_url, "cmp.url", err)) != 0 || (rc = need(c->cmp_trusted, "cmp.trusted", err)) != 0)
		return rc;
	if (strncmp(c->cmp_url, "http://", 7) != 0)
		return cab_err_set(err, CAB_E_INVALID, "cmp.url",
				   "must be http://host:port/path (CMP messages are protected end to end; "
				   "https is not built, see docs/ca-bridge.md)");
	if (set(c->cmp_secret) == (set(c->cmp_client_cert) || set(c->cmp_client_key)))
		return cab_err_set(err, CAB_E_INVALID, "cmp.secret",
				   "give either cmp.secret (PBM) or cmp.client_cert and cmp.client_key (signature)");
	if (set(c->cmp_secret))
		return need(c->cmp_reference, "cmp.reference", err);
	if ((rc = need(c->cmp_client_cert, "cmp.client_cert", err)) != 0)
		return rc;
	return need(c->cmp_client_key, "cmp.client_key", err);
}

static int check_config(const struct cab_config *c, int *cmp, enum cab_alg *alg, struct cab_err *err)
{
	ASN1_OBJECT *oid;
	int rc;

	*cmp = c->backend != NULL && strcmp(c->backend, "cmp") == 0;
	if (c->backend != NULL && !*cmp && strcmp(c->backend, "local") != 0)
		return cab_err_set(err, CAB_E_INVALID, "ca.backend", "unknown CA backend (local or cmp)");
	if ((rc = need(c->ca_dir, "ca.dir", err)) != 0)
		return rc;
	/* a token is optional only for a local CA that signs CSRs made elsewhere (ca-bridge) */
	if ((*cmp || c->pkcs11_module != NULL) &&
	    ((rc = need(c->pkcs11_module, "pkcs11.module", err)) != 0 ||
	     (rc = need(c->pkcs11_token, "pkcs11.token", err)) != 0 || (rc = need(c->pkcs11_pin, "pkcs11.pin", err)) != 0))
		return rc;
	*alg = CAB_ALG_EC_P256;
	if (c->key_alg != NULL && cab_alg_parse(c->key_alg, alg) != 0)
		return cab_err_set(err, CAB_E_INVALID, "ca.key_alg", "must be ec-p256 or rsa-3072");
	if (*cmp)
		return check_cmp(c, err); /* the profile's OIDs and URLs are the CA's business */
	if ((rc = need(c->policy_oid, "ca.policy_oid", err)) != 0 || (rc = need(c->qcpds_url, "ca.qcpds_url", err)) != 0 ||
	    (rc = need(c->qcpds_lang, "ca.qcpds_lang", err)) != 0 || (rc = need(c->crl_url, "ca.crl_url", err)) != 0)
		return rc;
	oid = OBJ_txt2obj(c->policy_oid, 1);
	if (oid == NULL || strchr(c->policy_oid, ',') != NULL) {
		ASN1_OBJECT_free(oid);
		return cab_err_set(err, CAB_E_INVALID, "ca.policy_oid", "not a dotted OID");
	}
	ASN1_OBJECT_free(oid);
	if (!url_ok(c->qcpds_url))
		return cab_err_set(err, CAB_E_INVALID, "ca.qcpds_url", "not an http(s) URL");
	if (!url_ok(c->crl_url))
		return cab_err_set(err, CAB_E_INVALID, "ca.crl_url", "not an http(s) URL");
	if (strlen(c->qcpds_lang) != 2 || c->qcpds_lang[0] < 'a' || c->qcpds_lang[0] > 'z' ||
	    c->qcpds_lang[1] < 'a' || c->qcpds_lang[1] > 'z')
		return cab_err_set(err, CAB_E_INVALID, "ca.qcpds_lang", "must be an ISO 639-1 code such as \"en\"");
	if (c->crl_validity_hours < 0 || c->crl_validity_hours > 240)
		return cab_err_set(err, CAB_E_INVALID, "ca.crl_validity_hours", "must be 1..240");
	return 0;
}

static char *dup_or_null(const char *s, int *fail)
{
	char *d;

	if (s == NULL)
		return NULL;
	d = strdup(s);
	if (d == NULL)
		*fail = 1;
	return d;
}

struct cab *cab_open(const struct cab_config *cfg, struct cab_err *err)
{
	struct cab *cab;
	enum cab_alg alg;
	int cmp = 0, fail = 0;

	if (cfg == NULL) {
		cab_err_set(err, CAB_E_INVALID, "", "missing configuration");
		return NULL;
	}
	if (check_config(cfg, &cmp, &alg, err) != 0)
		return NULL;
	cab = calloc(1, sizeof(*cab));
	if (cab == NULL) {
		cab_err_set(err, CAB_E_NOMEM, "", "out of memory");
		return NULL;
	}
	pthread_mutex_init(&cab->lock, NULL);
	cab->lock_fd = cab->issued_fd = cab->revoked_fd = -1;
	cab->ca_dir = dup_or_null(cfg->ca_dir, &fail);
	cab->policy_oid = dup_or_null(cfg->policy_oid, &fail);
	cab->qcpds_url = dup_or_null(cfg->qcpds_url, &fail);
	cab->qcpds_lang = dup_or_null(cfg->qcpds_lang, &fail);
	cab->crl_url = dup_or_null(cfg->crl_url, &fail);
	cab->key_alg = alg;
	cab->ncp_plus = cfg->advanced_ncp_plus != 0;
	cab->adv_digital_signature = cfg->advanced_digital_signature != 0;
	cab->crl_hours = cfg->crl_validity_hours > 0 ? cfg->crl_validity_hours : 24;
	if (fail) {
		cab_err_set(err, CAB_E_NOMEM, "", "out of memory");
		goto fail;
	}
	if (cfg->pkcs11_module != NULL &&
	    cab_p11_open(&cab->p11, cfg->pkcs11_module, cfg->pkcs11_token, cfg->pkcs11_pin, err) != 0)
		goto fail;
	if (cmp ? cab_cmp_open(cab, cfg, err) != 0
		: cab_store_open(cab, cfg->ca_subject ? cfg->ca_subject : "CN=RA Local CA", err) != 0)
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
	cab_store_close(cab);
	cab_cmp_close(cab->cmp);
	cab_p11_close(cab->p11);
	pthread_mutex_destroy(&cab->lock);
	free(cab->ca_dir);
	free(cab->policy_oid);
	free(cab->qcpds_url);
	free(cab->qcpds_lang);
	free(cab->crl_url);
	free(cab);
}

int cab_keygen(struct cab *cab, const char *key_id, enum cab_alg alg, struct cab_key *out,
	       struct cab_err *err)
{
	EVP_PKEY *pub = NULL;
	enum cab_alg got = CAB_ALG_DEFAULT;
	int existed = 0, rc;

	if (cab == NULL || out == NULL)
		return cab_err_set(err, CAB_E_INVALID, "", "missing argument");
	memset(out, 0, sizeof(*out));
	if (!cab_id_ok(key_id))
		return cab_err_set(err, CAB_E_INVALID, "key_id", "key id must be 1..64 of [A-Za-z0-9._-]");
	if (alg != CAB_ALG_DEFAULT && alg != CAB_ALG_EC_P256 && alg != CAB_ALG_RSA_3072)
		return cab_err_set(err, CAB_E_INVALID, "alg", "unknown key algorithm");
	/* find-or-create is one step per id inside p11.c (token lock) */
	rc = cab_p11_keygen(cab->p11, key_id, alg == CAB_ALG_DEFAULT ? cab->key_alg : alg, &pub, &got, &existed, err);
	if (rc != 0)
		goto out;
	if (existed && alg != CAB_ALG_DEFAULT && got != alg) {
		rc = cab_err_set(err, CAB_E_CONFLICT, "alg", "a key with this id exists with another algorithm");
		goto out;
	}
	if ((rc = cab_key_fill(pub, got, out, err)) == 0)
		out->existed = existed;
out:
	EVP_PKEY_free(pub);
	return rc;
}

int cab_chain_pem(struct cab *cab, char **pem, struct cab_err *err)
{
	BIO *mem = BIO_new(BIO_s_mem());
	char *data;
	long len;
	int rc = 0;

	if (cab == NULL || pem == NULL) {
		BIO_free(mem);
		return cab_err_set(err, CAB_E_INVALID, "", "missing argument");
	}
	if (cab->cmp != NULL) {
		BIO_free(mem);
		return cab_cmp_chain_pem(cab, pem, err);
	}
	/* the CA certificate never changes after cab_open: no lock needed */
	if (mem == NULL || !PEM_write_bio_X509(mem, cab->ca_cert)) {
		rc = cab_err_ossl(err, CAB_E_CA, "cannot encode the CA chain");
		goto out;
	}
	len = BIO_get_mem_data(mem, &data);
	*pem = malloc((size_t)len + 1);
	if (*pem == NULL) {
		rc = cab_err_set(err, CAB_E_NOMEM, "", "out of memory");
		goto out;
	}
	memcpy(*pem, data, (size_t)len);
	(*pem)[len] = '\0';
out:
	BIO_free(mem);
	return rc;
}
