/*
 * local_ca.c - the local CA's own key and certificate: made on first open under ca_dir
 * (ca.key, PKCS#8 PEM, mode 0600; ca.pem, self-signed), loaded afterwards.  Also random
 * serial numbers.  Called with the ca_dir lock held, so two first starts cannot race.
 *
 * The CA key lives in a file, not on the token: the token holds subscriber keys, and the
 * design moves the CA out of the internet-facing process (ca-bridge over CMP) rather than
 * onto the same token.  docs/ca-bridge.md says so.
 */
#include "ca-bridge/local/local_int.h"

#include <errno.h>
#include <openssl/bn.h>
#include <openssl/ec.h>
#include <openssl/pem.h>
#include <openssl/rand.h>
#include <openssl/x509v3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define CA_YEARS 20

/* "C=AT,O=Example,CN=Example CA": attributes in the written order; no escapes. */
static int parse_name(const char *text, X509_NAME **out, struct cab_err *err)
{
	X509_NAME *name = X509_NAME_new();
	char *copy = strdup(text), *save = NULL;
	int rc = 0;

	if (name == NULL || copy == NULL) {
		rc = cab_err_set(err, CAB_E_NOMEM, "", "out of memory");
		goto out;
	}
	for (char *tok = strtok_r(copy, ",", &save); tok != NULL; tok = strtok_r(NULL, ",", &save)) {
		char *eq = strchr(tok, '=');

		while (*tok == ' ')
			tok++;
		if (eq == NULL || eq == tok) {
			rc = cab_err_set(err, CAB_E_INVALID, "ca.subject", "cannot parse the CA subject");
			goto out;
		}
		*eq = '\0';
		if (!X509_NAME_add_entry_by_txt(name, tok, MBSTRING_UTF8, (unsigned char *)eq + 1, -1, -1,
						0)) {
			rc = cab_err_set(err, CAB_E_INVALID, "ca.subject",
					 "unknown attribute %s in the CA subject", tok);
			goto out;
		}
	}
	if (X509_NAME_entry_count(name) == 0)
		rc = cab_err_set(err, CAB_E_INVALID, "ca.subject", "empty CA subject");
out:
	free(copy);
	if (rc == 0)
		*out = name;
	else
		X509_NAME_free(name);
	return rc;
}

int cab_local_serial_new(struct cab_local *l, ASN1_INTEGER **out, char hex[48])
{
	unsigned char rnd[16];
	BIGNUM *bn = NULL;
	char *h = NULL;
	int rc = CAB_E_CA;

	do {
		BN_free(bn);
		OPENSSL_free(h);
		h = NULL;
		/* 128 random bits, read as unsigned: positive, at most 17 octets in DER */
		if (RAND_bytes(rnd, sizeof(rnd)) != 1 || (bn = BN_bin2bn(rnd, sizeof(rnd), NULL)) == NULL)
			goto out;
		/* BN_bn2hex writes whole bytes ("0A1B..."); the index keys are canonical */
		if ((h = BN_bn2hex(bn)) == NULL || cab_serial_canon(h, hex) != 0)
			goto out;
	} while (BN_is_zero(bn) || (l != NULL && cab_local_index_get(&l->index, hex) != NULL));
	*out = BN_to_ASN1_INTEGER(bn, NULL);
	if (*out == NULL)
		goto out;
	rc = 0;
out:
	OPENSSL_free(h);
	BN_free(bn);
	return rc;
}

static int add_ext(X509V3_CTX *ctx, X509 *cert, int nid, const char *value)
{
	X509_EXTENSION *ext = X509V3_EXT_nconf_nid(NULL, ctx, nid, value);
	int ok = ext != NULL && X509_add_ext(cert, ext, -1);

	X509_EXTENSION_free(ext);
	return ok;
}

static int make_cert(EVP_PKEY *key, const char *subject, X509 **out, struct cab_err *err)
{
	X509 *cert = X509_new();
	X509_NAME *name = NULL;
	ASN1_INTEGER *serial = NULL;
	X509V3_CTX ctx;
	char hex[48];
	int rc;

	if ((rc = parse_name(subject, &name, err)) != 0)
		goto out;
	if (cert == NULL || cab_local_serial_new(NULL, &serial, hex) != 0 ||
	    !X509_set_version(cert, X509_VERSION_3) || !X509_set_serialNumber(cert, serial) ||
	    !X509_set_subject_name(cert, name) || !X509_set_issuer_name(cert, name) ||
	    !X509_gmtime_adj(X509_getm_notBefore(cert), 0) ||
	    !X509_time_adj_ex(X509_getm_notAfter(cert), 365 * CA_YEARS + CA_YEARS / 4, 0, NULL) ||
	    !X509_set_pubkey(cert, key)) {
		rc = cab_err_ossl(err, CAB_E_CA, "cannot build the CA certificate");
		goto out;
	}
	X509V3_set_ctx(&ctx, cert, cert, NULL, NULL, 0);
	X509V3_set_ctx_nodb(&ctx);
	if (!add_ext(&ctx, cert, NID_basic_constraints, "critical,CA:TRUE,pathlen:0") ||
	    !add_ext(&ctx, cert, NID_key_usage, "critical,keyCertSign,cRLSign") ||
	    !add_ext(&ctx, cert, NID_subject_key_identifier, "hash") ||
	    !add_ext(&ctx, cert, NID_authority_key_identifier, "keyid:always") ||
	    X509_sign(cert, key, EVP_sha256()) <= 0) {
		rc = cab_err_ossl(err, CAB_E_CA, "cannot sign the CA certificate");
		goto out;
	}
	*out = cert;
	cert = NULL;
out:
	X509_free(cert);
	X509_NAME_free(name);
	ASN1_INTEGER_free(serial);
	return rc;
}

static int save_pem(struct cab_local *l, const char *name, EVP_PKEY *key, X509 *cert, struct cab_err *err)
{
	BIO *mem = BIO_new(BIO_s_mem());
	char *data;
	long len;
	int rc;

	if (mem == NULL || (key != NULL && !PEM_write_bio_PrivateKey(mem, key, NULL, NULL, 0, NULL, NULL)) ||
	    (cert != NULL && !PEM_write_bio_X509(mem, cert))) {
		BIO_free(mem);
		return cab_err_ossl(err, CAB_E_CA, "cannot encode the CA files");
	}
	len = BIO_get_mem_data(mem, &data);
	/* R2 spirit for the CA key: owner-only from the first byte (mkstemp + fchmod) */
	rc = cab_write_atomic(l->ca_dir, name, data, (size_t)len, key ? 0600 : 0644, err);
	BIO_free(mem);
	return rc;
}

static int load_key(const char *path, EVP_PKEY **key)
{
	FILE *f = fopen(path, "r");

	if (f == NULL)
		return errno == ENOENT ? CAB_E_NOTFOUND : CAB_E_IO;
	*key = PEM_read_PrivateKey(f, NULL, NULL, NULL);
	fclose(f);
	return *key ? 0 : CAB_E_CA;
}

static int load_cert(const char *path, X509 **cert)
{
	FILE *f = fopen(path, "r");

	if (f == NULL)
		return errno == ENOENT ? CAB_E_NOTFOUND : CAB_E_IO;
	*cert = PEM_read_X509(f, NULL, NULL, NULL);
	fclose(f);
	return *cert ? 0 : CAB_E_CA;
}

int cab_local_ca_load_or_create(struct cab_local *l, const char *subject, struct cab_err *err)
{
	char kpath[4096], cpath[4096];
	int rc;

	snprintf(kpath, sizeof(kpath), "%s/ca.key", l->ca_dir);
	snprintf(cpath, sizeof(cpath), "%s/ca.pem", l->ca_dir);
	rc = load_key(kpath, &l->ca_key);
	if (rc == CAB_E_NOTFOUND) {
		if (load_cert(cpath, &l->ca_cert) != CAB_E_NOTFOUND)
			return cab_err_set(err, CAB_E_CA, "ca.dir", "%s exists without its key", cpath);
		l->ca_key = EVP_EC_gen("P-256");
		if (l->ca_key == NULL)
			return cab_err_ossl(err, CAB_E_CA, "cannot generate the CA key");
		if ((rc = save_pem(l, "ca.key", l->ca_key, NULL, err)) != 0)
			return rc;
	} else if (rc != 0) {
		return cab_err_set(err, rc, "ca.dir", "cannot read %s", kpath);
	}
	rc = load_cert(cpath, &l->ca_cert);
	if (rc == CAB_E_NOTFOUND) {
		/* first start, or a crash between writing the key and the certificate */
		if ((rc = make_cert(l->ca_key, subject, &l->ca_cert, err)) != 0 ||
		    (rc = save_pem(l, "ca.pem", NULL, l->ca_cert, err)) != 0)
			return rc;
	} else if (rc != 0) {
		return cab_err_set(err, rc, "ca.dir", "cannot read %s", cpath);
	}
	if (X509_check_private_key(l->ca_cert, l->ca_key) != 1)
		return cab_err_ossl(err, CAB_E_CA, "the CA certificate does not match ca.key");
	return 0;
}
