/*
 * signing_req.h - one call of the signing service, shared by the files of this flow only:
 * authentication (role `signing`), the JSON body, the audit actor, and the replies in the two
 * formats this flow speaks: the RA's {"error","message","field"} (plus "reason", a stable
 * machine-readable word, and "rule" where a domain rule refused) on /v1/signing/..., and the CSC
 * API's {"error","error_description"} on /csc/v2/...  Each handler gets a struct sg_call and
 * ends it with exactly one sg_reply / sg_fail / sg_csc_fail, which free it.
 */
#ifndef RA_SIGNING_REQ_H
#define RA_SIGNING_REQ_H

#include <jansson.h>
#include <stdarg.h>

#include "ra/flows/admin/admin.h"
#include "ra/net/http.h"

#define SG_ROLE "signing"

struct sg_call {
	struct http_req *hr;
	struct admin_user who;
	char actor[80]; /* "signing:<token name>" (R16) */
	json_t *body; /* the request's JSON object */
	int csc; /* errors in the CSC format */
};

typedef void (*sg_handler)(struct sg_call *c);

/* Checks the token (role signing) and parses the body as one JSON object, then runs fn with a
 * new call; a refusal is answered in the route's format (csc) and fn never runs. */
void sg_start(struct http_req *hr, int csc, sg_handler fn);

/* Replies (and frees c).  body is stolen. */
void sg_reply(struct sg_call *c, int status, json_t *body);
/* An RA-format refusal: status from e->code, "field" from e->field, "reason" (may be NULL),
 * "rule" (may be NULL) and the members of extra (stolen, may be NULL). */
void sg_fail(struct sg_call *c, const struct ra_err *e, const char *reason, const char *rule, json_t *extra);
/* sg_fail with the error made here: code, field and the message from fmt and ap (for the
 * flows' own printf-like refusal helpers). */
void sg_failv(struct sg_call *c, int code, const char *field, const char *reason, const char *rule,
	      json_t *extra, const char *fmt, va_list ap) __attribute__((format(printf, 7, 0)));
/* A CSC-format refusal: {"error": error, "error_description": ...} with status. */
void sg_csc_fail(struct sg_call *c, int status, const char *error, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));
/* The CSC error for an RA error (database away: 503 temporarily_unavailable, ...). */
void sg_csc_fail_err(struct sg_call *c, const struct ra_err *e);

/* Body helpers.  sg_only_members: 0, or RA_E_INVALID naming the first member not in allowed
 * (NULL-terminated) in e. */
int sg_only_members(const json_t *body, const char *const *allowed, struct ra_err *e);
/* The string member key, if it matches [A-Za-z0-9._:-]{1,max}; else NULL. */
const char *sg_plain(const json_t *body, const char *key, size_t max);

#endif
