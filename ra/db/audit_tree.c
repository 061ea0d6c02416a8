/*
 * audit_tree.c - RFC 9162 Merkle tree hash, inclusion and consistency proofs over leaf
 * hashes (see audit_tree.h).  Recursive as the RFC writes them: each call splits at k, the
 * largest power of two smaller than n; O(n) hashing per call, enough for the audit log's
 * sizes (a checkpoint is made seconds apart, a proof is asked for now and then).
 */
#include "ra/db/audit_tree.h"

#include <openssl/evp.h>
#include <stdio.h>
#include <string.h>

static int sha(const unsigned char *a, size_t alen, const unsigned char *b, size_t blen,
	       const unsigned char *c, size_t clen, unsigned char out[AT_HASH])
{
	EVP_MD_CTX *md = EVP_MD_CTX_new();
	unsigned int n = 0;
	int ok = md && EVP_DigestInit_ex(md, EVP_sha256(), NULL) && EVP_DigestUpdate(md, a, alen) &&
		 (blen == 0 || EVP_DigestUpdate(md, b, blen)) &&
		 (clen == 0 || EVP_DigestUpdate(md, c, clen)) && EVP_DigestFinal_ex(md, out, &n) &&
		 n == AT_HASH;

	EVP_MD_CTX_free(md);
	return ok ? 0 : -1;
}

int at_leaf_hash(const unsigned char data[AT_HASH], unsigned char out[AT_HASH])
{
	static const unsigned char zero = 0x00;

	return sha(&zero, 1, data, AT_HASH, NULL, 0, out);
}

int at_node(const unsigned char l[AT_HASH], const unsigned char r[AT_HASH], unsigned char out[AT_HASH])
{
	static const unsigned char one = 0x01;

	return sha(&one, 1, l, AT_HASH, r, AT_HASH, out);
}

int at_from_hex(const char *hex, unsigned char out[AT_HASH])
{
	if (hex == NULL || strlen(hex) != 2 * AT_HASH)
		return -1;
	for (int i = 0; i < AT_HASH; i++) {
		unsigned v = 0;
		for (int j = 0; j < 2; j++) {
			char c = hex[2 * i + j];
			v <<= 4;
			if (c >= '0' && c <= '9')
				v |= (unsigned)(c - '0');
			else if (c >= 'a' && c <= 'f')
				v |= (unsigned)(c - 'a' + 10);
			else
				return -1;
		}
		out[i] = (unsigned char)v;
	}
	return 0;
}

void at_to_hex(const unsigned char h[AT_HASH], char out[2 * AT_HASH + 1])
{
	for (int i = 0; i < AT_HASH; i++)
		snprintf(out + 2 * i, 3, "%02x", h[i]);
}

/* the largest power of two smaller than n (n >= 2) */
static size_t split(size_t n)
{
	size_t k = 1;

	while (k << 1 < n)
		k <<= 1;
	return k;
}

static int mth(const unsigned char (*d)[AT_HASH], size_t n, unsigned char out[AT_HASH])
{
	unsigned char l[AT_HASH], r[AT_HASH];
	size_t k;

	if (n == 1) {
		memcpy(out, d[0], AT_HASH);
		return 0;
	}
	k = split(n);
	if (mth(d, k, l) != 0 || mth(d + k, n - k, r) != 0)
		return -1;
	return at_node(l, r, out);
}

int at_root(const unsigned char (*leaves)[AT_HASH], size_t n, unsigned char out[AT_HASH])
{
	if (n == 0)
		return sha((const unsigned char *)"", 0, NULL, 0, NULL, 0, out);
	return mth(leaves, n, out);
}

static int push(unsigned char (*proof)[AT_HASH], size_t *len, const unsigned char h[AT_HASH])
{
	if (*len >= AT_MAX_PROOF)
		return -1;
	memcpy(proof[(*len)++], h, AT_HASH);
	return 0;
}

/* PATH(m, D[n]) = PATH(m, D[0:k]) : MTH(D[k:n]) for m < k, else PATH(m - k, D[k:n]) : MTH(D[0:k]) */
static int path(const unsigned char (*d)[AT_HASH], size_t n, size_t m, unsigned char (*proof)[AT_HASH],
		size_t *len)
{
	unsigned char h[AT_HASH];
	size_t k;

	if (n == 1)
		return 0;
	k = split(n);
	if (m < k)
		return path(d, k, m, proof, len) || mth(d + k, n - k, h) || push(proof, len, h) ? -1 : 0;
	return path(d + k, n - k, m - k, proof, len) || mth(d, k, h) || push(proof, len, h) ? -1 : 0;
}

int at_inclusion(const unsigned char (*leaves)[AT_HASH], size_t n, size_t m, unsigned char (*proof)[AT_HASH],
		 size_t *len)
{
	*len = 0;
	if (m >= n)
		return -1;
	return path(leaves, n, m, proof, len);
}

/* SUBPROOF(m, D[n], b) of RFC 9162 2.1.4.1 */
static int subproof(const unsigned char (*d)[AT_HASH], size_t n, size_t m, int b,
		    unsigned char (*proof)[AT_HASH], size_t *len)
{
	unsigned char h[AT_HASH];
	size_t k;

	if (m == n) {
		if (b)
			return 0;
		return mth(d, n, h) || push(proof, len, h) ? -1 : 0;
	}
	k = split(n);
	if (m <= k)
		return subproof(d, k, m, b, proof, len) || mth(d + k, n - k, h) || push(proof, len, h) ? -1
												       : 0;
	return subproof(d + k, n - k, m - k, 0, proof, len) || mth(d, k, h) || push(proof, len, h) ? -1 : 0;
}

int at_consistency(const unsigned char (*leaves)[AT_HASH], size_t n, size_t m,
		   unsigned char (*proof)[AT_HASH], size_t *len)
{
	*len = 0;
	if (m == 0 || m > n)
		return -1;
	return subproof(leaves, n, m, 1, proof, len);
}

void at_peaks_add(struct at_peaks *p, const unsigned char leaf[AT_HASH])
{
	memcpy(p->h[p->n], leaf, AT_HASH);
	p->size[p->n++] = 1;
	while (p->n >= 2 && p->size[p->n - 1] == p->size[p->n - 2]) {
		if (at_node(p->h[p->n - 2], p->h[p->n - 1], p->h[p->n - 2]) != 0)
			p->failed = 1;
		p->size[p->n - 2] *= 2;
		p->n--;
	}
}

int at_peaks_root(const struct at_peaks *p, unsigned char out[AT_HASH])
{
	unsigned char r[AT_HASH];

	if (p->failed)
		return -1;
	if (p->n == 0)
		return at_root(NULL, 0, out);
	memcpy(r, p->h[p->n - 1], AT_HASH);
	for (int i = p->n - 2; i >= 0; i--)
		if (at_node(p->h[i], r, r) != 0)
			return -1;
	memcpy(out, r, AT_HASH);
	return 0;
}
