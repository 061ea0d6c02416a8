/*
 * server.h - `ra serve`: builds the app (config, database pool, HTTP, job runner), runs the
 * libuv loop, and drains on SIGTERM/SIGINT: no new requests or jobs, in-flight ones finish,
 * then exit 0.
 */
#ifndef RA_SERVER_H
#define RA_SERVER_H

#include "ra/base/config.h"

/* Runs until drained; 0 on a clean stop, 1 when start-up failed (the reason on stderr). */
int server_run(struct config *cfg);

#endif
