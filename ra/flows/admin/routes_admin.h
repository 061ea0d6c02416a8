/* routes_admin.h - the admin API (support desk): routes under /v1/admin/. */
#ifndef RA_ROUTES_ADMIN_H
#define RA_ROUTES_ADMIN_H

#include "ra/base/app.h"
#include "ra/base/err.h"

int routes_admin_init(struct app *app, struct ra_err *err);

#endif
