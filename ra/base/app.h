/*
 * app.h - the running service: everything a request or job handler needs, passed in the
 * context struct of every callback (no globals for request state).  Filled and owned by the
 * composition root (server.c).  Only forward declarations here, so that every layer may
 * carry a struct app without including the layers above it.
 */
#ifndef RA_APP_H
#define RA_APP_H

#include <uv.h>

struct config;
struct db_pool;
struct http_server;
struct jobs;
struct sched;
struct cab;
struct httpc;

struct app {
	uv_loop_t *loop;
	struct config *cfg;
	struct db_pool *db;
	struct http_server *http;
	struct jobs *jobs; /* NULL until the job runner is started */
	struct sched *sched; /* periodic tasks (ra/jobs/sched.h); NULL until started */
	struct cab *cab; /* CA bridge; NULL when not configured */
	struct httpc *httpc; /* async HTTP/SMTP client on the loop */
	int draining; /* SIGTERM seen: no new work */
};

#endif
