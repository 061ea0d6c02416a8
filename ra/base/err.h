/*
 * err.h - the RA's error values.  Functions return 0 or a negative RA_E_* code and fill an
 * optional struct ra_err with the field concerned and a human message.  The HTTP layer maps
 * codes to statuses (http_status_for), the CLI maps them to exit codes.
 */
#ifndef RA_ERR_H
#define RA_ERR_H

#include <stdarg.h>

enum ra_errcode {
	RA_OK = 0,
	RA_E_INVALID = -1, /* malformed input: 400 */
	RA_E_NOTFOUND = -2, /* 404 */
	RA_E_CONFLICT = -3, /* state does not allow it: 409 */
	RA_E_RULE = -4, /* refused by a domain rule: 422 */
	RA_E_UNAVAILABLE = -5, /* database or peer away: 503 */
	RA_E_AUTH = -6, /* unauthenticated: 401 */
	RA_E_FORBIDDEN = -7, /* authenticated, not allowed: 403 */
	RA_E_TOOLARGE = -8, /* 413 */
	RA_E_INTERNAL = -9, /* bug or unexpected state: 500 */
	RA_E_CONFIG = -10, /* configuration missing or malformed */
	RA_E_NOMEM = -11,
	RA_E_IO = -12,
	RA_E_TIMEOUT = -13,
	RA_E_METHOD = -14, /* the path exists, not with this method: 405 (with Allow) */
	RA_E_MEDIATYPE = -15, /* a JSON route got another Content-Type: 415 */
	RA_E_HEADERS = -16, /* request headers over http.max_header_bytes: 431 */
	RA_E_BUSY = -17, /* a peer's call bound is full or its circuit breaker is open: try later (503) */
};

struct ra_err {
	int code;
	char field[64];
	char msg[256];
};

/* Fills err (if not NULL) and returns code, so callers can `return ra_err_set(...)`. */
int ra_err_set(struct ra_err *err, int code, const char *field, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));
const char *ra_strerror(int code);
/* Short machine-readable name: "invalid", "not_found", ... (JSON error codes). */
const char *ra_errname(int code);

#endif
