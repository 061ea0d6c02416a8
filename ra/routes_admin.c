/* routes_admin.c - admin API routes; every one authenticates with admin_authorize first. */
#include "ra/routes_admin.h"

#include "ra/admin.h"
#include "ra/http.h"

static void whoami_ok(struct http_req *hr, const struct admin_user *who, void *data)
{
	(void)data;
	http_reply_json(hr, 200, json_pack("{s:s, s:s}", "name", who->name, "role", who->role));
}

static void whoami(struct http_req *hr)
{
	admin_authorize(hr, "support", whoami_ok, NULL);
}

int routes_admin_init(struct app *app, struct ra_err *err)
{
	(void)err;
	http_route(app->http, "GET", "/v1/admin/whoami", 0, "admin_whoami", whoami, NULL);
	return 0;
}
