/*
 * ractl_http.h - ractl's side of the admin API: where the server is and which token to send
 * (RACTL_URL / RACTL_TOKEN, else ~/.config/ractl/config), one blocking request with libcurl,
 * and the exit status a reply maps to (docs/ractl.md):
 *   0 ok, 1 refused (a domain rule, a state that does not allow it, 401/403), 2 usage (also a
 *   400 from the server), 3 not found, 4 server unreachable (or 503), 5 server error.
 * Used only by ractl (it links this from libra.a); nothing here touches the database.
 */
#ifndef RA_RACTL_HTTP_H
#define RA_RACTL_HTTP_H

#include <jansson.h>

enum rctl_exit { RCTL_OK = 0, RCTL_REFUSED = 1, RCTL_USAGE = 2, RCTL_NOTFOUND = 3, RCTL_UNREACHABLE = 4, RCTL_SERVER = 5 };

struct rctl_conf {
	char url[512];
	char token[256];
};

/* Environment first, then the config file ("url = ...", "token = ..." lines; '#' comments).
 * 0, or RCTL_USAGE with a message on stderr when no token is configured. */
int rctl_conf_load(struct rctl_conf *c);

struct rctl_resp {
	long status;  /* 0 when the server was not reached */
	json_t *body; /* parsed JSON answer or NULL; caller json_decref's */
	char *raw;    /* the answer's bytes (NUL-terminated); caller frees */
	char error[800];
};

/* method "GET"/"POST"; path starts with "/v1/"; body (may be NULL) is sent as JSON. */
int rctl_call(const struct rctl_conf *c, const char *method, const char *path, const json_t *body,
	      struct rctl_resp *out);
void rctl_resp_free(struct rctl_resp *r);

/* Percent-encodes one path segment or query value (caller frees). */
char *rctl_escape(const char *s);

/* The exit status of a reply (see above). */
int rctl_exit_for(const struct rctl_resp *r);

#endif
