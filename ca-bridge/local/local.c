/*
 * local.c - the "local" back-end: the embedded OpenSSL CA under ca_dir.  Its operations
 * table (cab_local_backend), its configuration check, open and close, and the chain.  The
 * work is in local_store.c (files, lock, index), local_ca.c (the CA key and certificate),
 * local_issue.c, local_revoke.c, local_crl.c and local_profile.c (the extensions).
 */
#include "ca-bridge/local/local_int.h"

#include <openssl/objects.h>
#include <openssl/pem.h>
#include <stdlib.h>
#include <string.h>

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

/* The profile's OIDs and URLs: this CA writes them into every certificate and CRL. */
static int local_check(const struct cab_config *c, struct cab_err *err)
{
	ASN1_OBJECT *oid;
	int rc;

	if ((rc = cab_cfg_need(c->policy_oid, "ca.policy_oid", err)) != 0 ||
	    (rc = cab_cfg_need(c->qcpds_url, "ca.qcpds_url", err)) != 0 ||
	    (rc = cab_cfg_need(c->qcpds_lang, "ca.qcpds_lang", err)) != 0 ||
	    (rc = cab_cfg_need(c->crl_url, "ca.crl_url", err)) != 0)
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
		return cab_err_set(err, CAB_E_INVALID, "ca.qcpds_lang",
				   "must be an ISO 639-1 code such as \"en\"");
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

static void local_close(struct cab *cab)
{
	struct cab_local *l = cab_local_of(cab);

	if (l == NULL)
		return;
	cab_local_store_close(l);
	pthread_mutex_destroy(&l->lock);
	pthread_mutex_destroy(&l->rec_lock);
	pthread_cond_destroy(&l->rec_done);
	free(l->ca_dir);
	free(l->policy_oid);
	free(l->qcpds_url);
	free(l->qcpds_lang);
	free(l->crl_url);
	free(l);
	cab->be_ctx = NULL;
}

static int local_open(struct cab *cab, const struct cab_config *cfg, struct cab_err *err)
{
	struct cab_local *l = calloc(1, sizeof(*l));
	int fail = 0;

	if (l == NULL)
		return cab_err_set(err, CAB_E_NOMEM, "", "out of memory");
	pthread_mutex_init(&l->lock, NULL);
	pthread_mutex_init(&l->rec_lock, NULL);
	pthread_cond_init(&l->rec_done, NULL);
	l->lock_fd = -1;
	cab->be_ctx = l; /* from here on local_close frees it, also after a failure below */
	l->ca_dir = dup_or_null(cfg->ca_dir, &fail);
	l->policy_oid = dup_or_null(cfg->policy_oid, &fail);
	l->qcpds_url = dup_or_null(cfg->qcpds_url, &fail);
	l->qcpds_lang = dup_or_null(cfg->qcpds_lang, &fail);
	l->crl_url = dup_or_null(cfg->crl_url, &fail);
	l->ncp_plus = cfg->advanced_ncp_plus != 0;
	l->adv_digital_signature = cfg->advanced_digital_signature != 0;
	l->crl_hours = cfg->crl_validity_hours > 0 ? cfg->crl_validity_hours : 24;
	if (fail)
		return cab_err_set(err, CAB_E_NOMEM, "", "out of memory");
	return cab_local_store_open(l, cfg->ca_subject ? cfg->ca_subject : "CN=RA Local CA", err);
}

static int local_chain_pem(struct cab *cab, char **pem, struct cab_err *err)
{
	struct cab_local *l = cab_local_of(cab);
	BIO *mem = BIO_new(BIO_s_mem());
	char *data;
	long len;
	int rc = 0;

	/* the CA certificate never changes after cab_open: no lock needed */
	if (mem == NULL || !PEM_write_bio_X509(mem, l->ca_cert)) {
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

const struct cab_backend cab_local_backend = {
	.name = "local",
	.needs_token = 0, /* a CA that only signs CSRs made elsewhere (the ca-bridge server) has none */
	.check = local_check,
	.open = local_open,
	.close = local_close,
	.issue = cab_local_issue,
	.revoke = cab_local_revoke,
	.crl = cab_local_crl,
	.chain_pem = local_chain_pem,
};
