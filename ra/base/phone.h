/*
 * phone.h - mobile numbers to E.164 (R3), through Google's libphonenumber.
 *
 * A user is identified by one mobile number, so every number that enters the RA (shop
 * orders, support commands) goes through phone_normalize() before it is stored or compared:
 * "+43 664 1234567", "0043 664 1234567" and "0664 1234567" (default country AT) all become
 * "+436641234567".  The implementation is the only C++ in the tree (phone_shim.cc); this
 * header is plain C.  Thread-safe: libphonenumber's PhoneNumberUtil is a read-only singleton.
 */
#ifndef RA_PHONE_H
#define RA_PHONE_H

#include <stddef.h>

#ifdef __cplusplus
extern "C" {
#endif

enum phone_errcode {
	PHONE_OK = 0,
	PHONE_E_PARSE = -1, /* not recognisable as a phone number at all */
	PHONE_E_INVALID = -2, /* parses, but is no valid number of its region */
	PHONE_E_NOT_MOBILE = -3, /* valid, but a landline, toll-free, ... (R3 needs a mobile) */
	PHONE_E_ARG = -4, /* NULL input, bad default country, or cap too small */
};

struct phone_err {
	int code;
	char field[64];
	char msg[256];
};

/* E.164 is at most 15 digits plus '+'; a buffer of this size always suffices. */
#define PHONE_E164_MAX 16

/*
 * Parses input (any common notation) with default_country (ISO 3166-1 alpha-2, e.g. "AT")
 * for numbers without a country code, checks it is a valid mobile number (MOBILE or
 * FIXED_LINE_OR_MOBILE) and writes its E.164 form to e164 (cap bytes incl. NUL, at least
 * PHONE_E164_MAX).  Returns 0 or a negative PHONE_E_* code; err (may be NULL) gets the code
 * and a message that does not repeat the number.
 */
int phone_normalize(const char *input, const char *default_country, char *e164, size_t cap,
		    struct phone_err *err);

/* Short text for a PHONE_E_* code. */
const char *phone_strerror(int code);

#ifdef __cplusplus
}
#endif

#endif
