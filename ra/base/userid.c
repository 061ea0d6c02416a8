/*
 * userid.c - random public user IDs; see userid.h.
 */
#include "ra/base/userid.h"

#include <openssl/rand.h>
#include <string.h>

#include "ra/base/err.h"

static const char alphabet[] = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"; /* Crockford base32 */

int userid_generate(char *out, size_t cap)
{
	unsigned char r[10]; /* 80 bits = 16 symbols of 5 bits */
	unsigned bits = 0, acc = 0;
	size_t o = 0, k = 0;

	if (out == NULL || cap < USERID_MAX)
		return RA_E_INVALID;
	if (RAND_bytes(r, sizeof(r)) != 1)
		return RA_E_INTERNAL;
	for (int sym = 0; sym < 16; sym++) {
		if (bits < 5) {
			acc = ((acc << 8) | r[k++]) & 0xffffu;
			bits += 8;
		}
		if (sym > 0 && sym % 4 == 0)
			out[o++] = '-';
		out[o++] = alphabet[(acc >> (bits - 5)) & 31u];
		bits -= 5;
	}
	out[o] = '\0';
	return 0;
}

int userid_valid(const char *s)
{
	if (s == NULL || strlen(s) != USERID_LEN)
		return 0;
	for (int i = 0; i < USERID_LEN; i++) {
		if (i % 5 == 4) {
			if (s[i] != '-')
				return 0;
		} else if (s[i] == '\0' || strchr(alphabet, s[i]) == NULL) {
			return 0;
		}
	}
	return 1;
}
