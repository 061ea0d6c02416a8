/*
 * cab_key.c - a public key as the service stores it: DER SubjectPublicKeyInfo and its
 * SHA-256 fingerprint (the database's unique index that keeps one key to one certificate, R2),
 * and the wrapped form stored beside the certificate (key_storage "wrapped", issue #15).
 *
 * OpenSSL 3.0 turns an EVP_PKEY into DER and back through its encoder and decoder framework,
 * which looks every encoder or decoder up again on each call: i2d_PUBKEY takes about 140 µs,
 * d2i_PUBKEY and X509_PUBKEY_set about 270 µs here, against under 1 µs for i2d_X509_PUBKEY
 * (tests/bench, scenario 2).  Issuing a certificate went through eight of them, all for a key
 * whose bytes were at hand.  So a key travels as its SPKI bytes: written once from the
 * key's parameters (cab_spki_der), copied into requests and certificates as fields
 * (cab_spki_set), and made an EVP_PKEY only where a signature is verified (cab_spki_key).
 */
#include "ca-bridge/cab_int.h"

#include <openssl/core_names.h>
#include <openssl/objects.h>
#include <openssl/sha.h>
#include <stdlib.h>
#include <string.h>

int cab_spki_der(EVP_PKEY *pub, unsigned char **der)
{
	char group[64];
	unsigned char pt[160], *enc;
	size_t glen = 0, ptlen = 0;
	X509_PUBKEY *pk;
	int nid, n;

	*der = NULL;
	/* an EC key on a named curve with uncompressed points (every key the token makes and
	 * every blob holds): the same bytes i2d_PUBKEY writes, from its parameters; any other
	 * encoding through i2d_PUBKEY */
	if (EVP_PKEY_get_base_id(pub) == EVP_PKEY_EC &&
	    EVP_PKEY_get_utf8_string_param(pub, OSSL_PKEY_PARAM_EC_ENCODING, group, sizeof(group), &glen) &&
	    strcmp(group, OSSL_PKEY_EC_ENCODING_GROUP) == 0 &&
	    EVP_PKEY_get_utf8_string_param(pub, OSSL_PKEY_PARAM_EC_POINT_CONVERSION_FORMAT, group,
					   sizeof(group), &glen) &&
	    strcmp(group, OSSL_PKEY_EC_POINT_CONVERSION_FORMAT_UNCOMPRESSED) == 0 &&
	    EVP_PKEY_get_utf8_string_param(pub, OSSL_PKEY_PARAM_GROUP_NAME, group, sizeof(group), &glen) &&
	    (nid = OBJ_txt2nid(group)) != NID_undef &&
	    EVP_PKEY_get_octet_string_param(pub, OSSL_PKEY_PARAM_ENCODED_PUBLIC_KEY, pt, sizeof(pt),
					    &ptlen) &&
	    ptlen > 0) {
		pk = X509_PUBKEY_new();
		enc = OPENSSL_memdup(pt, ptlen);
		if (pk == NULL || enc == NULL ||
		    !X509_PUBKEY_set0_param(pk, OBJ_nid2obj(NID_X9_62_id_ecPublicKey), V_ASN1_OBJECT,
					    OBJ_nid2obj(nid), enc, (int)ptlen)) {
			OPENSSL_free(enc);
			X509_PUBKEY_free(pk);
			return -1;
		}
		n = i2d_X509_PUBKEY(pk, der);
		X509_PUBKEY_free(pk);
		return n;
	}
	return i2d_PUBKEY(pub, der);
}

/* 0 if alg and bits encode back to exactly der: DER, not some other BER form of the key. */
static int spki_is_der(const X509_ALGOR *alg, const ASN1_BIT_STRING *bits, const unsigned char *der,
		       size_t len)
{
	unsigned char *buf, *p;
	int n1 = i2d_X509_ALGOR(alg, NULL), n2 = i2d_ASN1_BIT_STRING(bits, NULL), total, rc;

	if (n1 <= 0 || n2 <= 0 || (total = ASN1_object_size(1, n1 + n2, V_ASN1_SEQUENCE)) <= 0 ||
	    (size_t)total != len || (buf = OPENSSL_malloc((size_t)total)) == NULL)
		return -1;
	p = buf;
	ASN1_put_object(&p, 1, n1 + n2, V_ASN1_SEQUENCE, V_ASN1_UNIVERSAL);
	i2d_X509_ALGOR(alg, &p);
	i2d_ASN1_BIT_STRING(bits, &p);
	rc = p == buf + total && memcmp(buf, der, len) == 0 ? 0 : -1;
	OPENSSL_free(buf);
	return rc;
}

/* The algorithm and key bits of a DER SPKI, without decoding the key; anything but DER (other
 * length forms, a constructed string, trailing bytes) is refused, as d2i_PUBKEY would. */
static int spki_parts(const unsigned char *der, size_t len, X509_ALGOR **alg, ASN1_BIT_STRING **bits)
{
	const unsigned char *p = der, *end;
	long clen;
	int tag, cls;

	*alg = NULL;
	*bits = NULL;
	if (len == 0 || len > 0xffff || (ASN1_get_object(&p, &clen, &tag, &cls, (long)len) & 0x80) ||
	    tag != V_ASN1_SEQUENCE || cls != V_ASN1_UNIVERSAL || p + clen != der + len)
		return -1;
	end = p + clen;
	*alg = d2i_X509_ALGOR(NULL, &p, end - p);
	if (*alg != NULL)
		*bits = d2i_ASN1_BIT_STRING(NULL, &p, end - p);
	/* a public key is whole bytes: no unused bits */
	if (*bits == NULL || p != end ||
	    ((*bits)->flags & ASN1_STRING_FLAG_BITS_LEFT && ((*bits)->flags & 0x07) != 0) ||
	    spki_is_der(*alg, *bits, der, len) != 0) {
		X509_ALGOR_free(*alg);
		ASN1_BIT_STRING_free(*bits);
		*alg = NULL;
		*bits = NULL;
		return -1;
	}
	return 0;
}

int cab_spki_set(X509_PUBKEY *pk, const unsigned char *der, size_t len)
{
	X509_ALGOR *alg;
	ASN1_BIT_STRING *bits;
	const ASN1_OBJECT *aobj;
	const void *pval;
	ASN1_OBJECT *o = NULL;
	void *pv = NULL;
	unsigned char *enc = NULL;
	int ptype, rc = -1;

	if (spki_parts(der, len, &alg, &bits) != 0)
		return -1;
	X509_ALGOR_get0(&aobj, &ptype, &pval, alg);
	o = OBJ_dup(aobj);
	if (ptype == V_ASN1_OBJECT)
		pv = OBJ_dup(pval);
	else if (ptype == V_ASN1_SEQUENCE)
		pv = ASN1_STRING_dup(pval);
	else if (ptype != V_ASN1_NULL && ptype != V_ASN1_UNDEF)
		goto out; /* no key the profiles accept has other parameters */
	enc = OPENSSL_memdup(bits->data, (size_t)bits->length);
	if (o == NULL || (ptype != V_ASN1_NULL && ptype != V_ASN1_UNDEF && pv == NULL) || enc == NULL)
		goto out;
	if (X509_PUBKEY_set0_param(pk, o, ptype, pv, enc, bits->length)) {
		o = NULL;
		pv = NULL;
		enc = NULL;
		rc = 0;
	}
out:
	if (pv != NULL)
		ptype == V_ASN1_OBJECT ? ASN1_OBJECT_free(pv) : ASN1_STRING_free(pv);
	ASN1_OBJECT_free(o);
	OPENSSL_free(enc);
	X509_ALGOR_free(alg);
	ASN1_BIT_STRING_free(bits);
	return rc;
}

int cab_spki_copy(X509_PUBKEY *dst, X509_PUBKEY *src)
{
	unsigned char *der = NULL;
	int n = i2d_X509_PUBKEY(src, &der), rc;

	rc = n > 0 ? cab_spki_set(dst, der, (size_t)n) : -1;
	OPENSSL_free(der);
	return rc;
}

EVP_PKEY *cab_spki_key(const unsigned char *der, size_t len)
{
	X509_ALGOR *alg;
	ASN1_BIT_STRING *bits;
	const ASN1_OBJECT *aobj;
	const void *pval;
	int ptype, nid;
	EVP_PKEY_CTX *ctx = NULL;
	EVP_PKEY *key = NULL;
	const unsigned char *p = der;

	if (spki_parts(der, len, &alg, &bits) != 0)
		return NULL;
	X509_ALGOR_get0(&aobj, &ptype, &pval, alg);
	if (OBJ_obj2nid(aobj) == NID_X9_62_id_ecPublicKey && ptype == V_ASN1_OBJECT &&
	    (nid = OBJ_obj2nid(pval)) != NID_undef && OBJ_nid2sn(nid) != NULL) {
		/* EC on a named curve: imported from its parameters (the import checks that the point
		 * is on the curve, as decoding does) */
		OSSL_PARAM params[3] = {OSSL_PARAM_construct_utf8_string(OSSL_PKEY_PARAM_GROUP_NAME,
									 (char *)OBJ_nid2sn(nid), 0),
					OSSL_PARAM_construct_octet_string(OSSL_PKEY_PARAM_PUB_KEY, bits->data,
									  (size_t)bits->length),
					OSSL_PARAM_construct_end()};

		ctx = EVP_PKEY_CTX_new_from_name(NULL, "EC", NULL);
		if (ctx == NULL || EVP_PKEY_fromdata_init(ctx) <= 0 ||
		    EVP_PKEY_fromdata(ctx, &key, EVP_PKEY_PUBLIC_KEY, params) <= 0)
			key = NULL;
	} else {
		key = d2i_PUBKEY(NULL, &p, (long)len);
		if (key != NULL && p != der + len) {
			EVP_PKEY_free(key);
			key = NULL;
		}
	}
	EVP_PKEY_CTX_free(ctx);
	X509_ALGOR_free(alg);
	ASN1_BIT_STRING_free(bits);
	return key;
}

int cab_spki_sha256(X509_PUBKEY *pk, char hex[65])
{
	unsigned char *der = NULL, md[SHA256_DIGEST_LENGTH];
	int n = i2d_X509_PUBKEY(pk, &der);

	if (n <= 0)
		return CAB_E_CA;
	SHA256(der, (size_t)n, md);
	cab_hex(md, sizeof(md), hex);
	OPENSSL_free(der);
	return 0;
}

int cab_key_fill_der(const unsigned char *spki, size_t n, enum cab_alg alg, struct cab_key *out,
		     struct cab_err *err)
{
	unsigned char md[SHA256_DIGEST_LENGTH];

	out->spki_der = malloc(n);
	if (out->spki_der == NULL)
		return cab_err_set(err, CAB_E_NOMEM, "", "out of memory");
	memcpy(out->spki_der, spki, n);
	out->spki_len = n;
	SHA256(spki, n, md);
	cab_hex(md, sizeof(md), out->sha256_hex);
	out->alg = alg;
	return 0;
}

int cab_key_fill(EVP_PKEY *pub, enum cab_alg alg, struct cab_key *out, struct cab_err *err)
{
	unsigned char *der = NULL;
	int n = cab_spki_der(pub, &der), rc;

	if (n <= 0) {
		OPENSSL_free(der);
		return cab_err_ossl(err, CAB_E_CA, "cannot encode the public key");
	}
	rc = cab_key_fill_der(der, (size_t)n, alg, out, err);
	OPENSSL_free(der);
	return rc;
}

void cab_key_free(struct cab_key *key)
{
	if (key == NULL)
		return;
	free(key->spki_der);
	key->spki_der = NULL;
	key->spki_len = 0;
	free(key->blob);
	key->blob = NULL;
	key->blob_len = 0;
	OPENSSL_free(key->first_sig);
	key->first_sig = NULL;
	key->first_sig_len = 0;
}

/* The public key travels in the blob because the token cannot give it back: an unwrapped EC
 * private key has no CKA_EC_POINT.  It is not secret; a changed one gives a CSR whose
 * signature does not verify (cab_csr_build checks) and a fingerprint the database refuses. */
static const unsigned char blob_magic[4] = {'C', 'A', 'B', '1'};

int cab_blob_pack(enum cab_alg alg, const unsigned char *spki, size_t n, const unsigned char *w, size_t wlen,
		  unsigned char **blob, size_t *len, struct cab_err *err)
{
	size_t total;

	if (n == 0 || n > 0xffff)
		return cab_err_set(err, CAB_E_CA, "", "cannot encode the public key");
	total = sizeof(blob_magic) + 3 + n + wlen;
	*blob = malloc(total);
	if (*blob == NULL)
		return cab_err_set(err, CAB_E_NOMEM, "", "out of memory");
	memcpy(*blob, blob_magic, sizeof(blob_magic));
	(*blob)[4] = (unsigned char)alg;
	(*blob)[5] = (unsigned char)(n >> 8);
	(*blob)[6] = (unsigned char)(n & 0xff);
	memcpy(*blob + 7, spki, n);
	memcpy(*blob + 7 + n, w, wlen);
	*len = total;
	return 0;
}

int cab_blob_unpack(const unsigned char *blob, size_t len, enum cab_alg *alg, const unsigned char **spki,
		    size_t *spki_len, const unsigned char **w, size_t *wlen, struct cab_err *err)
{
	size_t n;

	if (len < 7 + 16 || memcmp(blob, blob_magic, sizeof(blob_magic)) != 0 ||
	    (blob[4] != CAB_ALG_EC_P256 && blob[4] != CAB_ALG_RSA_3072))
		return cab_err_set(err, CAB_E_INVALID, "key_blob", "not a wrapped key blob");
	n = ((size_t)blob[5] << 8) | blob[6];
	if (n == 0 || 7 + n + 16 > len)
		return cab_err_set(err, CAB_E_INVALID, "key_blob", "wrapped key blob is truncated");
	*alg = (enum cab_alg)blob[4];
	*spki = blob + 7;
	*spki_len = n;
	*w = blob + 7 + n;
	*wlen = len - 7 - n;
	return 0;
}
