/*
 * server.h - `ra serve`: builds the app (config, database pool, HTTP, job runner), runs the
 * libuv loop, and drains on SIGTERM/SIGINT: no new requests or jobs, in-flight ones finish,
 * then exit 0.
 */
#ifndef RA_SERVER_H
#define RA_SERVER_H

#include "ra/base/config.h"

int server_run(struct config *cfg);

/* Feature modules hook in here: each registers its routes and job kinds.  Called once, in
 * order, after the pool and HTTP server exist and before the loop runs. */
struct app;
typedef int (*server_module_init)(struct app *app, struct ra_err *err);

#endif
