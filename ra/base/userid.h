/*
 * userid.h - public user IDs (R3): what the user types when signing and what support asks
 * for on the phone.  80 random bits from OpenSSL's CSPRNG in Crockford base32, grouped as
 * "7K3M-Q9ZD-1XWP-R4TB": not guessable, not derived from the phone number or a sequence,
 * and without I, L, O, U so it survives being read aloud.  Uniqueness, and that an ID is
 * never given out again, is the database's job (users.public_id UNIQUE, users never deleted).
 */
#ifndef RA_USERID_H
#define RA_USERID_H

#include <stddef.h>

#define USERID_LEN 19 /* 16 symbols and 3 dashes */
#define USERID_MAX (USERID_LEN + 1)

/* Writes a fresh ID to out (cap >= USERID_MAX).  0, RA_E_INVALID (cap) or RA_E_INTERNAL (RNG). */
int userid_generate(char *out, size_t cap);

/* 1 when s has the form of a user ID (for lookups: reject junk before touching the database). */
int userid_valid(const char *s);

#endif
