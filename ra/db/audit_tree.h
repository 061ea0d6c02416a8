/*
 * audit_tree.h - the Merkle tree over the audit chain (RFC 9162 section 2.1, SHA-256): leaf i
 * is the chained record seq = i + 1, its leaf data the 32 bytes of that record's `hash`
 * (docs/audit.md "Checkpoints").  Tree head, inclusion proof and consistency proof, computed
 * from the leaves' hashes; pure functions, no I/O.
 */
#ifndef RA_AUDIT_TREE_H
#define RA_AUDIT_TREE_H

#include <stddef.h>

#define AT_HASH 32
#define AT_MAX_PROOF 64 /* a proof has at most 2 log2(n) nodes */

/* Leaf hash: SHA-256(0x00 || data[32]).  Returns 0, or -1 on an OpenSSL failure. */
int at_leaf_hash(const unsigned char data[AT_HASH], unsigned char out[AT_HASH]);
/* A record's hex `hash` (64 lower-case hex digits) as leaf data; -1 when malformed. */
int at_from_hex(const char *hex, unsigned char out[AT_HASH]);
void at_to_hex(const unsigned char h[AT_HASH], char out[2 * AT_HASH + 1]);

/* Interior node: SHA-256(0x01 || l || r). */
int at_node(const unsigned char l[AT_HASH], const unsigned char r[AT_HASH], unsigned char out[AT_HASH]);

/* MTH(D[0:n]) over n leaf hashes; n = 0 gives SHA-256 of the empty string. */
int at_root(const unsigned char (*leaves)[AT_HASH], size_t n, unsigned char out[AT_HASH]);
/* PATH(m, D[0:n]): the inclusion proof of leaf m (0-based) in the tree of size n; *len nodes. */
int at_inclusion(const unsigned char (*leaves)[AT_HASH], size_t n, size_t m, unsigned char (*proof)[AT_HASH],
		 size_t *len);
/* PROOF(m, D[0:n]): the consistency proof from size m to size n (0 < m <= n); *len nodes. */
int at_consistency(const unsigned char (*leaves)[AT_HASH], size_t n, size_t m,
		   unsigned char (*proof)[AT_HASH], size_t *len);

/* The tree head while leaves are added one by one (a verifier's walk): the roots of the
 * perfect subtrees ("peaks"), at most one per bit of the size; O(1) memory per leaf. */
struct at_peaks {
	unsigned char h[AT_MAX_PROOF][AT_HASH];
	unsigned long long size[AT_MAX_PROOF];
	int n, failed;
};
void at_peaks_add(struct at_peaks *p, const unsigned char leaf[AT_HASH]); /* leaf: its leaf hash */
int at_peaks_root(const struct at_peaks *p, unsigned char out[AT_HASH]); /* MTH of the leaves so far */

#endif
