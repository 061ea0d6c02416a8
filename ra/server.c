/*
 * server.c - `ra serve`, the composition root: one libuv loop for HTTP, database and jobs;
 * SIGTERM/SIGINT drain.  The modules are wired from the one table `modules` below: each
 * module's init adds its routes and checks its configuration, and its job kinds are
 * registered with the runner here, so no layer below ever calls up into a flow.
 */
#include "ra/server.h"

#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ra/base/app.h"
#include "ra/base/config.h"
#include "ra/base/log.h"
#include "ra/base/pool.h"
#include "ra/db/audit_seq.h"
#include "ra/db/db.h"
#include "ra/db/migrate.h"
#include "ra/flows/admin/audit_ckpt.h"
#include "ra/flows/admin/bulk.h"
#include "ra/flows/admin/routes_admin.h"
#include "ra/flows/cert/cert.h"
#include "ra/flows/ident/ident.h"
#include "ra/flows/intake/intake.h"
#include "ra/flows/lifecycle/lifecycle.h"
#include "ra/flows/signing/signing.h"
#include "ra/jobs/jobs.h"
#include "ra/jobs/jobs_builtin.h"
#include "ra/jobs/sched.h"
#include "ra/net/http.h"
#include "ra/net/httpc.h"
#include "ra/net/peer.h"
#include "ra/ops.h"

struct module {
	const char *name;
	int (*init)(struct app *app, struct ra_err *err); /* routes, configuration checks */
	const struct job_kind *jobs; /* registered after init; may be NULL */
	const struct sched_task *tasks; /* periodic tasks; may be NULL */
};

static const struct module modules[] = {
	{"ops", ops_init, NULL, NULL},
	{"jobs", jobs_init, jobs_builtin_kinds, NULL}, /* the runner first: the others' kinds need it */
	{"sched", sched_init, NULL, NULL}, /* and the scheduler: the others' tasks need it */
	{"audit", audit_seq_init, NULL, NULL}, /* the audit sequencer (docs/audit.md) */
	{"ident", ident_init, ident_job_kinds, NULL},
	{"admin", routes_admin_init, admin_job_kinds, NULL},
	{"cert", cert_init, cert_job_kinds, NULL},
	{"audit_ckpt", audit_ckpt_init, NULL, NULL}, /* after cert: it signs with the token */
	{"intake", intake_init, NULL, NULL},
	{"signing", signing_init, NULL, NULL},
	{"lifecycle", lifecycle_init, lifecycle_job_kinds, lifecycle_tasks},
};

/* The peers with a call bound and a circuit breaker (ra/net/peer.h), by the key naming their
 * URL; httpc puts them in front of every call to that origin. */
static const struct {
	const char *name, *url_key;
} peers[] = {
	{"ident", "ident.base_url"},
	{"sms", "sms.url"},
	{"smtp", "smtp.url"},
};

static int add_peers(struct app *app, struct ra_err *err)
{
	struct peer_limits lim = {(int)cfg_int(app->cfg, "peers.max_inflight"),
				  (int)cfg_int(app->cfg, "peers.breaker_failures"),
				  cfg_int(app->cfg, "peers.breaker_open_ms")};
	char origin[256];

	if (lim.max_inflight < 1 || lim.max_inflight > 1000)
		return ra_err_set(err, RA_E_CONFIG, "peers.max_inflight",
				  "peers.max_inflight must be 1..1000");
	if (lim.failures < 1)
		return ra_err_set(err, RA_E_CONFIG, "peers.breaker_failures",
				  "peers.breaker_failures must be at least 1");
	if (lim.open_ms < 10)
		return ra_err_set(err, RA_E_CONFIG, "peers.breaker_open_ms",
				  "peers.breaker_open_ms must be at least 10");
	for (size_t i = 0; i < sizeof(peers) / sizeof(peers[0]); i++) {
		const char *url = cfg_str(app->cfg, peers[i].url_key);
		struct peer *p;

		if (url == NULL || peer_origin_of(url, origin, sizeof(origin)) != 0)
			continue;
		/* lives as long as the process: the metrics read it */
		p = peer_new(peers[i].name, origin, &lim);
		if (p == NULL || httpc_peer_add(app->httpc, p) != 0)
			return ra_err_set(err, RA_E_NOMEM, "", "cannot set up peer %s", peers[i].name);
	}
	return 0;
}

struct run {
	uv_loop_t loop;
	struct app app;
	uv_signal_t sigterm, sigint;
	int stage; /* 0 running, 1 draining http, 2 draining jobs, 3 closing db */
	uv_timer_t drain_timer;
};

/* not static: a store to a never-read static would be optimised away */
struct run *server_last_run;

static void stop_loop(void *data)
{
	struct run *r = data;

	uv_stop(r->app.loop);
}

/* the database is closed; thread-pool work still running (a CRL check, a signature) comes back
 * first, so nothing on a pool thread outlives the loop and the CA it uses */
static void on_db_closed(void *data)
{
	pool_drain(stop_loop, data);
}

static void on_seq_stopped(void *data)
{
	struct run *r = data;

	db_pool_close(r->app.db, on_db_closed, r);
}

static void close_db(struct run *r)
{
	if (r->stage >= 3)
		return;
	r->stage = 3;
	uv_timer_stop(&r->drain_timer);
	uv_close((uv_handle_t *)&r->drain_timer, NULL);
	uv_close((uv_handle_t *)&r->sigterm, NULL);
	uv_close((uv_handle_t *)&r->sigint, NULL);
	/* jobs have finished, so nothing waits on the client any more; leftovers are cancelled */
	if (r->app.httpc) {
		httpc_free(r->app.httpc);
		r->app.httpc = NULL;
	}
	audit_seq_stop(on_seq_stopped, r); /* then the pool */
}

static void on_jobs_stopped(void *data)
{
	close_db(data);
}

static void on_sched_stopped(void *data)
{
	struct run *r = data;

	if (r->stage != 2)
		return;
	if (r->app.jobs)
		jobs_stop(&r->app, on_jobs_stopped, r);
	else
		close_db(r);
}

static void on_http_drained(void *data)
{
	struct run *r = data;

	if (r->stage != 1)
		return;
	r->stage = 2;
	log_info("server.http_drained", NULL);
	sched_stop(&r->app, on_sched_stopped, r); /* no tick more; the running one ends first */
}

static void on_drain_timeout(uv_timer_t *t)
{
	struct run *r = t->data;

	log_warn("server.drain_timeout", NULL);
	close_db(r);
}

static void on_signal(uv_signal_t *s, int signum)
{
	struct run *r = s->data;

	if (r->stage != 0)
		return;
	r->stage = 1;
	r->app.draining = 1;
	log_info("server.draining", "signal", signum == SIGTERM ? "TERM" : "INT", NULL);
	uv_timer_start(&r->drain_timer, on_drain_timeout,
		       (uint64_t)cfg_int(r->app.cfg, "http.drain_timeout_ms"), 0);
	http_drain(r->app.http, on_http_drained, r);
}

static int conf_log(struct config *cfg, struct ra_err *err)
{
	const char *fmt = cfg_str(cfg, "log.format");
	const char *lvl = cfg_str(cfg, "log.level");

	if (strcmp(fmt, "json") && strcmp(fmt, "logfmt"))
		return ra_err_set(err, RA_E_CONFIG, "log.format", "log.format must be 'logfmt' or 'json'");
	log_set_json(strcmp(fmt, "json") == 0);
	if (!strcmp(lvl, "debug"))
		log_set_level(LOG_DEBUG);
	else if (!strcmp(lvl, "warn"))
		log_set_level(LOG_WARN);
	else if (!strcmp(lvl, "error"))
		log_set_level(LOG_ERROR);
	else if (strcmp(lvl, "info"))
		return ra_err_set(err, RA_E_CONFIG, "log.level",
				  "log.level must be debug, info, warn or error");
	return 0;
}

int server_run(struct config *cfg)
{
	struct run *r = calloc(1, sizeof(*r));
	struct ra_err err = {0};
	int dbver = 0;
	char port[16], ops_port[16];

	if (r == NULL)
		return 1;
	signal(SIGPIPE, SIG_IGN);
	/* libuv's pool (4 threads by default) runs token, CA, scrypt and admin work; read when
	 * the pool first starts.  An operator's own setting wins. */
	setenv("UV_THREADPOOL_SIZE", "16", 0);
	/* the PIN hashes jobs send (scrypt) run beside it, at a lower priority (pool.h) */
	pool_background_threads((unsigned)cfg_int(cfg, "jobs.background_threads"));
	if (conf_log(cfg, &err) != 0)
		goto fail;
	if (migrate_check(cfg_str(cfg, "database_url"), &dbver, &err) != 0)
		goto fail;
	{
		int filled;
		if (migrate_fill(cfg_str(cfg, "database_url"), &filled, &err) != 0)
			goto fail;
	}
	uv_loop_init(&r->loop);
	r->app.loop = &r->loop;
	r->app.cfg = cfg;
	r->app.db = db_pool_new(&r->loop, cfg_str(cfg, "database_url"), (int)cfg_int(cfg, "db.pool_size"),
				(int)cfg_int(cfg, "db.connect_timeout_ms"));
	if (http_server_new(&r->app, &err) == NULL)
		goto fail_loop;
	r->app.httpc = httpc_new(&r->loop); /* before the modules: they keep it for their peers */
	if (r->app.httpc == NULL) {
		ra_err_set(&err, RA_E_INTERNAL, "", "cannot start the HTTP/SMTP client (libcurl)");
		goto fail_loop;
	}
	if (add_peers(&r->app, &err) != 0)
		goto fail_loop;
	for (size_t i = 0; i < sizeof(modules) / sizeof(modules[0]); i++) {
		if (modules[i].init(&r->app, &err) != 0) {
			log_error("server.module_failed", "module", modules[i].name, NULL);
			goto fail_loop;
		}
		if (modules[i].jobs != NULL)
			jobs_register_kinds(r->app.jobs, cfg, modules[i].jobs);
		if (modules[i].tasks != NULL)
			sched_register_tasks(r->app.sched, cfg, modules[i].tasks);
	}
	if (http_listen(r->app.http, cfg_str(cfg, "listen"), &err) != 0)
		goto fail_loop;
	uv_signal_init(&r->loop, &r->sigterm);
	uv_signal_init(&r->loop, &r->sigint);
	uv_timer_init(&r->loop, &r->drain_timer);
	r->sigterm.data = r->sigint.data = r->drain_timer.data = r;
	uv_signal_start(&r->sigterm, on_signal, SIGTERM);
	uv_signal_start(&r->sigint, on_signal, SIGINT);
	snprintf(port, sizeof(port), "%d", http_port(r->app.http));
	snprintf(ops_port, sizeof(ops_port), "%d", http_ops_port(r->app.http));
	log_info("server.listening", "listen", cfg_str(cfg, "listen"), "port", port, "tls",
		 cfg_str(cfg, "tls.cert") ? "on" : "off", "ops_port", ops_port, NULL);
	uv_run(&r->loop, UV_RUN_DEFAULT);
	log_info("server.stopped", NULL);
	/* h2o 2.2 cannot dispose a context while keep-alive connections are open, so the loop
	 * and the HTTP context are left for the process exit to reclaim.  `last_run` keeps them
	 * reachable so leak checkers report only what really leaked. */
	server_last_run = r;
	return 0;
fail_loop:
	/* start-up failed after the loop and HTTP context exist: the process exits now, and as
	 * above they stay reachable rather than half-disposed */
	server_last_run = r;
	r = NULL;
fail:
	fprintf(stderr, "ra: %s%s%s\n", err.field[0] ? err.field : "", err.field[0] ? ": " : "", err.msg);
	free(r);
	return 1;
}
