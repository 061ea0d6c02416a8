/*
 * test_audit_tree.c - the RFC 9162 Merkle tree of the audit log (ra/db/audit_tree.h): the
 * empty and one-leaf heads from the RFC's definitions written out by hand, the incremental
 * head (peaks) equal to the recursive one for every size, and every inclusion and consistency
 * proof up to 40 leaves checked with the RFC's verification algorithms (2.1.3.2, 2.1.4.2),
 * written here independently of the code that makes the proofs; a changed leaf fails both.
 */
#include <criterion/criterion.h>
#include <openssl/evp.h>
#include <string.h>

#include "ra/db/audit_tree.h"

#define N 40

static void sha(const unsigned char *in, size_t len, unsigned char out[AT_HASH])
{
	cr_assert_eq(EVP_Digest(in, len, out, NULL, EVP_sha256(), NULL), 1);
}

static void node(const unsigned char *l, const unsigned char *r, unsigned char out[AT_HASH])
{
	unsigned char b[1 + 2 * AT_HASH] = {0x01};

	memcpy(b + 1, l, AT_HASH);
	memcpy(b + 1 + AT_HASH, r, AT_HASH);
	sha(b, sizeof(b), out);
}

static unsigned char leaves[N][AT_HASH];

static void make_leaves(void)
{
	for (int i = 0; i < N; i++) {
		unsigned char data[AT_HASH];
		memset(data, i * 7 + 1, sizeof(data));
		cr_assert_eq(at_leaf_hash(data, leaves[i]), 0);
	}
}

/* RFC 9162 2.1.3.2 */
static int verify_inclusion(size_t index, size_t size, const unsigned char *leaf,
			    unsigned char (*path)[AT_HASH], size_t plen, const unsigned char *root)
{
	size_t fn = index, sn = size - 1;
	unsigned char r[AT_HASH];

	if (index >= size)
		return 0;
	memcpy(r, leaf, AT_HASH);
	for (size_t i = 0; i < plen; i++) {
		if (sn == 0)
			return 0;
		if ((fn & 1) || fn == sn) {
			node(path[i], r, r);
			if (!(fn & 1))
				while (!(fn & 1) && fn != 0) {
					fn >>= 1;
					sn >>= 1;
				}
		} else {
			node(r, path[i], r);
		}
		fn >>= 1;
		sn >>= 1;
	}
	return sn == 0 && memcmp(r, root, AT_HASH) == 0;
}

/* RFC 9162 2.1.4.2 */
static int verify_consistency(size_t first, size_t second, const unsigned char *r1, const unsigned char *r2,
			      unsigned char (*proof)[AT_HASH], size_t plen)
{
	unsigned char p[AT_MAX_PROOF + 1][AT_HASH], fr[AT_HASH], sr[AT_HASH];
	size_t n = 0, fn = first - 1, sn = second - 1;

	if ((first & (first - 1)) == 0)
		memcpy(p[n++], r1, AT_HASH);
	for (size_t i = 0; i < plen; i++)
		memcpy(p[n++], proof[i], AT_HASH);
	if (n == 0)
		return 0;
	while (fn & 1) {
		fn >>= 1;
		sn >>= 1;
	}
	memcpy(fr, p[0], AT_HASH);
	memcpy(sr, p[0], AT_HASH);
	for (size_t i = 1; i < n; i++) {
		if (sn == 0)
			return 0;
		if ((fn & 1) || fn == sn) {
			node(p[i], fr, fr);
			node(p[i], sr, sr);
			if (!(fn & 1))
				while (!(fn & 1) && fn != 0) {
					fn >>= 1;
					sn >>= 1;
				}
		} else {
			node(sr, p[i], sr);
		}
		fn >>= 1;
		sn >>= 1;
	}
	return sn == 0 && memcmp(fr, r1, AT_HASH) == 0 && memcmp(sr, r2, AT_HASH) == 0;
}

Test(audit_tree, empty_and_one_leaf_heads_as_rfc_9162_defines_them)
{
	unsigned char got[AT_HASH], want[AT_HASH], data[AT_HASH], b[1 + AT_HASH] = {0x00};
	char hex[2 * AT_HASH + 1];

	cr_assert_eq(at_root(NULL, 0, got), 0);
	at_to_hex(got, hex);
	cr_expect_str_eq(hex, "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
	cr_assert_eq(at_from_hex("00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff", data),
		     0);
	memcpy(b + 1, data, AT_HASH);
	sha(b, sizeof(b), want);
	cr_assert_eq(at_leaf_hash(data, got), 0);
	cr_expect_eq(memcmp(got, want, AT_HASH), 0, "leaf = SHA-256(0x00 || data)");
	cr_assert_eq(at_root((const unsigned char(*)[AT_HASH]) & want, 1, got), 0);
	cr_expect_eq(memcmp(got, want, AT_HASH), 0, "a one-leaf tree's head is its leaf hash");
	cr_expect_neq(at_from_hex("00112233", data), 0, "short hex refused");
	cr_expect_neq(at_from_hex("00112233445566778899aabbccddeeff00112233445566778899AABBCCDDEEFF", data),
		      0, "upper-case hex refused (the stored hashes are lower-case)");
}

Test(audit_tree, three_leaves_by_hand)
{
	unsigned char ab[AT_HASH], want[AT_HASH], got[AT_HASH];

	make_leaves();
	node(leaves[0], leaves[1], ab);
	node(ab, leaves[2], want);
	cr_assert_eq(at_root((const unsigned char(*)[AT_HASH])leaves, 3, got), 0);
	cr_expect_eq(memcmp(got, want, AT_HASH), 0, "MTH(3) = H(1 || H(1 || d0 || d1) || d2)");
}

Test(audit_tree, incremental_head_equals_the_recursive_one_for_every_size)
{
	struct at_peaks p = {0};
	unsigned char a[AT_HASH], b[AT_HASH];

	make_leaves();
	for (size_t n = 1; n <= N; n++) {
		at_peaks_add(&p, leaves[n - 1]);
		cr_assert_eq(at_root((const unsigned char(*)[AT_HASH])leaves, n, a), 0);
		cr_assert_eq(at_peaks_root(&p, b), 0);
		cr_expect_eq(memcmp(a, b, AT_HASH), 0, "size %zu", n);
	}
}

Test(audit_tree, every_inclusion_proof_verifies_and_fails_for_a_changed_leaf)
{
	unsigned char root[AT_HASH], path[AT_MAX_PROOF][AT_HASH], other[AT_HASH];
	size_t plen;

	make_leaves();
	memset(other, 0xee, sizeof(other));
	for (size_t n = 1; n <= N; n++) {
		cr_assert_eq(at_root((const unsigned char(*)[AT_HASH])leaves, n, root), 0);
		for (size_t m = 0; m < n; m++) {
			cr_assert_eq(at_inclusion((const unsigned char(*)[AT_HASH])leaves, n, m, path, &plen),
				     0);
			cr_expect(verify_inclusion(m, n, leaves[m], path, plen, root), "leaf %zu of %zu", m,
				  n);
			cr_expect(!verify_inclusion(m, n, other, path, plen, root), "changed leaf %zu of %zu",
				  m, n);
			if (n > 1)
				cr_expect(!verify_inclusion((m + 1) % n, n, leaves[m], path, plen, root),
					  "wrong index for leaf %zu of %zu", m, n);
		}
		cr_expect_neq(at_inclusion((const unsigned char(*)[AT_HASH])leaves, n, n, path, &plen), 0);
	}
}

Test(audit_tree, every_consistency_proof_verifies_and_fails_for_a_rewritten_old_leaf)
{
	unsigned char r1[AT_HASH], r2[AT_HASH], r2x[AT_HASH], proof[AT_MAX_PROOF][AT_HASH], saved[AT_HASH];
	size_t plen;

	make_leaves();
	for (size_t n = 2; n <= N; n++) {
		cr_assert_eq(at_root((const unsigned char(*)[AT_HASH])leaves, n, r2), 0);
		for (size_t m = 1; m < n; m++) {
			cr_assert_eq(at_root((const unsigned char(*)[AT_HASH])leaves, m, r1), 0);
			cr_assert_eq(
				at_consistency((const unsigned char(*)[AT_HASH])leaves, n, m, proof, &plen),
				0);
			cr_expect(verify_consistency(m, n, r1, r2, proof, plen), "%zu -> %zu", m, n);
			/* the log rewritten below m: the proof of the new tree cannot join the old head */
			memcpy(saved, leaves[m - 1], AT_HASH);
			memset(leaves[m - 1], 0xab, AT_HASH);
			cr_assert_eq(at_root((const unsigned char(*)[AT_HASH])leaves, n, r2x), 0);
			cr_assert_eq(
				at_consistency((const unsigned char(*)[AT_HASH])leaves, n, m, proof, &plen),
				0);
			cr_expect(!verify_consistency(m, n, r1, r2x, proof, plen), "rewritten %zu -> %zu", m,
				  n);
			memcpy(leaves[m - 1], saved, AT_HASH);
		}
	}
}
