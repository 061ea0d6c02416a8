/*
 * admin.h - authentication of the admin API (support desk, issue #7).
 *
 * Callers send `Authorization: Bearer <token>`.  Tokens are stored only as SHA-256 hashes
 * (support_tokens); the lookup is by hash, so the secret itself is never compared byte by
 * byte against stored data.  Roles: `support` (look up, revoke, reissue, unlock, PINs,
 * approve reviews) and `admin` (also contracts and tokens); admin includes support.  `signing`
 * is the signing service (ra/flows/signing/): only the signing routes take it, and they take
 * nothing else.  401 without a valid token, 403 without the role.
 */
#ifndef RA_ADMIN_H
#define RA_ADMIN_H

#include <stdint.h>

#include "ra/net/http.h"

struct admin_user {
	int64_t token_id;
	char name[65]; /* the support user's name: the audit actor is "support:<name>" */
	char role[16];
	char user_id[32]; /* R19: the support user's own users.public_id, "" when they have none */
};

/* On success calls cb(hr, who, data); otherwise replies 401/403/503 itself and cb never runs. */
typedef void (*admin_cb)(struct http_req *hr, const struct admin_user *who, void *data);
void admin_authorize(struct http_req *hr, const char *need_role, admin_cb cb, void *data);

/* The same check for callers that answer refusals in their own format (the CSC API): cb runs
 * exactly once, with who (err NULL) or with err (RA_E_AUTH, RA_E_FORBIDDEN, RA_E_UNAVAILABLE,
 * ...; who NULL), and replies itself either way. */
typedef void (*admin_auth_cb)(struct http_req *hr, const struct admin_user *who, const struct ra_err *err,
			      void *data);
void admin_authenticate(struct http_req *hr, const char *need_role, admin_auth_cb cb, void *data);

/* `ra token create --name NAME --role ROLE [--user-id ID]`: prints a new token once (blocking
 * libpq; CLI).  ROLE: support, admin or signing (a signing token never has a user_id).
 * user_id (may be NULL) links the support user to their own customer account,
 * so the admin API refuses them that account (R19); it is kept per name (support_staff).
 * expires_days > 0: the token is refused that many days from now (0: no expiry). */
int admin_token_create(const char *conninfo, const char *name, const char *role, const char *user_id,
		       int expires_days, char *token_out, size_t cap, struct ra_err *err);

#endif
