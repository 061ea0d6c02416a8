/*
 * ractl_http.h - ractl's side of the admin API: where the server is and which token to send
 * (RACTL_URL / RACTL_TOKEN, else ~/.config/ractl/config), one blocking request with libcurl,
 * and the exit status a reply maps to (docs/ractl.md, "Exit codes"):
 *   0 ok, 1 refused (a domain rule, a state that does not allow it, 401/403), 2 usage (also a
 *   400 from the server), 3 not found, 4 server unreachable (or 503), 5 server error,
 *   6 cancelled (a confirmation was not given; nothing was sent).
 * Nothing here touches the database: ractl only talks to `ra serve`.
 */
#ifndef RA_RACTL_HTTP_H
#define RA_RACTL_HTTP_H

#include <jansson.h>

enum ractl_exit {
	RACTL_OK = 0,
	RACTL_REFUSED = 1,
	RACTL_USAGE = 2,
	RACTL_NOTFOUND = 3,
	RACTL_UNREACHABLE = 4,
	RACTL_SERVER = 5,
	RACTL_CANCELLED = 6,
};

struct ractl_conf {
	char url[512];
	char token[256];
};

/* Environment first, then the config file ("url = ...", "token = ..." lines; '#' comments);
 * url (may be NULL) is --server and wins over both.  0, or RACTL_USAGE with *why set when
 * no token is configured. */
int ractl_conf_load(struct ractl_conf *c, const char *url, const char **why);

struct ractl_resp {
	long status; /* 0 when the server was not reached */
	json_t *body; /* parsed JSON answer or NULL; freed by ractl_resp_free */
	char *raw; /* the answer's bytes (NUL-terminated); freed by ractl_resp_free */
	char error[800];
};

/* method "GET"/"POST"; path starts with "/v1/"; body (may be NULL) is sent as JSON. */
int ractl_call(const struct ractl_conf *c, const char *method, const char *path, const json_t *body,
	       struct ractl_resp *out);
void ractl_resp_free(struct ractl_resp *r);

/* Percent-encodes one path segment or query value (caller frees). */
char *ractl_escape(const char *s);

/* The exit status of a reply (see above). */
int ractl_exit_for(const struct ractl_resp *r);

#endif
