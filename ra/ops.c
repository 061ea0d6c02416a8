/* ops.c - operability endpoints: GET /healthz (200 only when the database answers; the
 * parts that may fail on their own, e.g. the CA, are listed with their health, and a failed
 * one makes the status "degraded", not 503: intake and support still work) and GET /metrics
 * (Prometheus text). */
#include "ra/ops.h"

#include <stdlib.h>

#include "ra/base/health.h"
#include "ra/db/db.h"
#include "ra/net/http.h"
#include "ra/base/metrics.h"
#include "ra/base/version.h"

#define HEALTH_TIMEOUT_MS 500

struct health {
	struct http_req *hr;
	uv_timer_t timer;
	int answered; /* reply sent (by the query or the timer) */
	int pending; /* query callback still to come */
};

static void health_closed(uv_handle_t *h)
{
	struct health *c = h->data;

	if (!c->pending)
		free(c);
}

static void health_reply(struct health *c, int ok, const char *why)
{
	if (c->answered)
		return;
	c->answered = 1;
	json_t *parts = health_json();
	int degraded = 0;
	const char *k;
	json_t *v;

	json_object_foreach (parts, k, v)
		degraded |= !json_is_true(json_object_get(v, "healthy"));
	if (ok)
		http_reply_json(c->hr, 200,
				json_pack("{s:s, s:s, s:o}", "status", degraded ? "degraded" : "ok",
					  "database", "up", "components", parts));
	else
		http_reply_json(c->hr, 503,
				json_pack("{s:s, s:s, s:s, s:s, s:o}", "error", "unavailable", "message", why,
					  "field", "", "database", "down", "components", parts));
	uv_timer_stop(&c->timer);
}

static void on_timeout(uv_timer_t *t)
{
	health_reply(t->data, 0, "database did not answer in time");
}

static void on_ping(PGresult *res, const struct ra_err *err, void *data)
{
	struct health *c = data;

	(void)res;
	c->pending = 0;
	health_reply(c, err == NULL, err ? err->msg : "");
	if (!uv_is_closing((uv_handle_t *)&c->timer))
		uv_close((uv_handle_t *)&c->timer, health_closed);
	else
		free(c);
}

static void healthz(struct http_req *hr)
{
	struct health *c = calloc(1, sizeof(*c));

	if (c == NULL) {
		http_reply_errorf(hr, RA_E_NOMEM, "", "out of memory");
		return;
	}
	c->hr = hr;
	c->pending = 1;
	uv_timer_init(hr->app->loop, &c->timer);
	c->timer.data = c;
	uv_timer_start(&c->timer, on_timeout, HEALTH_TIMEOUT_MS, 0);
	db_query(hr->app->db, "SELECT 1", 0, NULL, on_ping, c);
}

static void metrics(struct http_req *hr)
{
	size_t len = 0;
	char *text = metrics_render(&len);

	http_reply_text(hr, 200, "text/plain; version=0.0.4", text ? text : "", text ? len : 0);
	free(text);
}

static double g_db(struct db_pool *p, int which)
{
	struct db_stats s;

	db_pool_stats(p, &s);
	switch (which) {
	case 0:
		return s.size;
	case 1:
		return s.connected;
	case 2:
		return s.leased;
	case 3:
		return s.waiting;
	default:
		return (double)s.reconnects;
	}
}
static double g_size(void *d)
{
	return g_db(d, 0);
}
static double g_conn(void *d)
{
	return g_db(d, 1);
}
static double g_leased(void *d)
{
	return g_db(d, 2);
}
static double g_wait(void *d)
{
	return g_db(d, 3);
}
static double g_reconn(void *d)
{
	return g_db(d, 4);
}

int ops_init(struct app *app, struct ra_err *err)
{
	(void)err;
	http_route(app->http, "GET", "/healthz", 0, "healthz", healthz, NULL);
	http_route(app->http, "GET", "/metrics", 0, "metrics", metrics, NULL);
	metrics_gauge("ra_db_pool_size", "Configured database connections.", "", g_size, app->db);
	metrics_gauge("ra_db_pool_connected", "Database connections up.", "", g_conn, app->db);
	metrics_gauge("ra_db_pool_leased", "Database connections in use.", "", g_leased, app->db);
	metrics_gauge("ra_db_pool_waiting", "Requests waiting for a database connection.", "", g_wait,
		      app->db);
	metrics_counter_fn("ra_db_reconnects_total", "Database reconnections since start.", "", g_reconn,
			   app->db);
	metrics_build_info(version_string());
	return 0;
}
