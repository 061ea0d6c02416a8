/*
 * crl_watch.c - watches what relying parties see (R14): every ca.crl_check_s seconds it takes
 * the CRL the RA serves (cab_crl, the same as GET /v1/ca/crl) and the certificates revoked in
 * the last seven days, and exposes for Prometheus the CRL's thisUpdate and nextUpdate and how
 * many revocations are missing from it and for how long (docs/operations.md "Alerts").
 * The query runs on the pool; the CRL fetch and parse on the thread pool.  See crl_watch.h.
 */
#include "ra/flows/cert/crl_watch.h"

#include <openssl/bn.h>
#include <openssl/x509.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "ca-bridge/cab.h"
#include "ra/base/config.h"
#include "ra/base/log.h"
#include "ra/base/metrics.h"
#include "ra/base/pool.h"
#include "ra/db/db.h"
#include "workflows/wf_cert.h"

/* revocations from the last week: older ones have been alerted on long since */
static const char *sql_revoked =
	"SELECT serial, extract(epoch FROM revoked_at)::float8 FROM certificates"
	" WHERE state = $1 AND serial IS NOT NULL AND revoked_at > now() - interval '7 days'";

struct crl_watch {
	struct app *app;
	uv_timer_t timer;
	int busy;
	/* one check in flight: the rows, then what the thread pool found */
	char **serials;
	double *revoked_at;
	int n;
	int rc;
	struct cab_err err;
	double found_this, found_next, found_at, found_missing, found_oldest; /* the pool's */
	/* the gauges: read on the loop thread, set there by check_after */
	double this_update, next_update, last_ok, missing, oldest_missing;
	unsigned long long failures;
};

/* the module's one watcher; reachable for the whole run (h2o and the loop are, too) */
static struct crl_watch *watch;

static double g_this(void *d)
{
	return ((struct crl_watch *)d)->this_update;
}
static double g_next(void *d)
{
	return ((struct crl_watch *)d)->next_update;
}
static double g_ok(void *d)
{
	return ((struct crl_watch *)d)->last_ok;
}
static double g_missing(void *d)
{
	return ((struct crl_watch *)d)->missing;
}
static double g_oldest(void *d)
{
	return ((struct crl_watch *)d)->oldest_missing;
}
static double g_failures(void *d)
{
	return (double)((struct crl_watch *)d)->failures;
}

static double asn1_epoch(const ASN1_TIME *t)
{
	struct tm tm;

	if (t == NULL || ASN1_TIME_to_tm(t, &tm) != 1)
		return 0;
	return (double)timegm(&tm);
}

static int cmp_str(const void *a, const void *b)
{
	return strcmp((const char *)a, (const char *)b);
}

/* The CRL's serials in cab_serial_canon's form, sorted: *n of them, 48 bytes each. */
static char (*crl_serials(const X509_CRL *crl, int *n))[48]
{
	STACK_OF(X509_REVOKED) *rev = X509_CRL_get_REVOKED((X509_CRL *)crl);
	int count = rev ? sk_X509_REVOKED_num(rev) : 0;
	char(*out)[48] = calloc((size_t)count + 1, sizeof(*out));

	*n = 0;
	for (int i = 0; out != NULL && i < count; i++) {
		BIGNUM *bn = ASN1_INTEGER_to_BN(X509_REVOKED_get0_serialNumber(sk_X509_REVOKED_value(rev, i)),
						NULL);
		char *hex = bn ? BN_bn2hex(bn) : NULL;

		if (hex != NULL && cab_serial_canon(hex, out[*n]) == 0)
			(*n)++;
		OPENSSL_free(hex);
		BN_free(bn);
	}
	if (out != NULL)
		qsort(out, (size_t)*n, sizeof(*out), cmp_str);
	return out;
}

int crl_watch_missing(const X509_CRL *crl, char *const *serials, const double *revoked_at, int n, double now,
		      double *oldest)
{
	int nlisted = 0, missing = 0;
	char(*listed)[48] = crl_serials(crl, &nlisted);

	*oldest = 0;
	if (listed == NULL)
		return -1;
	for (int i = 0; i < n; i++) {
		char key[48];

		/* a serial that is no serial is listed nowhere: missing */
		if (cab_serial_canon(serials[i], key) == 0 &&
		    bsearch(key, listed, (size_t)nlisted, sizeof(*listed), cmp_str) != NULL)
			continue;
		missing++;
		if (now - revoked_at[i] > *oldest)
			*oldest = now - revoked_at[i];
	}
	free(listed);
	return missing;
}

/* On the thread pool: the CRL and what it lacks into the found_* fields (check_after
 * publishes them on the loop thread, where /metrics reads them). */
static void check_work(void *data)
{
	struct crl_watch *w = data;
	unsigned char *der = NULL;
	const unsigned char *p;
	size_t len = 0;
	X509_CRL *crl;
	struct timespec ts;
	double now;
	int missing;

	clock_gettime(CLOCK_REALTIME, &ts);
	now = (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;

	w->rc = cab_crl(w->app->cab, &der, &len, &w->err);
	if (w->rc != 0)
		return;
	p = der;
	crl = d2i_X509_CRL(NULL, &p, (long)len);
	free(der);
	if (crl == NULL) {
		w->rc = -1;
		snprintf(w->err.msg, sizeof(w->err.msg), "the CRL does not parse");
		return;
	}
	w->found_this = asn1_epoch(X509_CRL_get0_lastUpdate(crl));
	w->found_next = asn1_epoch(X509_CRL_get0_nextUpdate(crl));
	missing = crl_watch_missing(crl, w->serials, w->revoked_at, w->n, now, &w->found_oldest);
	X509_CRL_free(crl);
	if (missing < 0) {
		w->rc = -1;
		snprintf(w->err.msg, sizeof(w->err.msg), "out of memory");
		return;
	}
	w->found_missing = missing;
	w->found_at = now;
}

static void clear_rows(struct crl_watch *w)
{
	for (int i = 0; i < w->n; i++)
		free(w->serials[i]);
	free(w->serials);
	free(w->revoked_at);
	w->serials = NULL;
	w->revoked_at = NULL;
	w->n = 0;
}

static void check_after(void *data)
{
	struct crl_watch *w = data;

	if (w->rc != 0) {
		w->failures++;
		log_warn("crl_watch.failed", "message", w->err.msg, NULL);
	} else {
		w->this_update = w->found_this;
		w->next_update = w->found_next;
		w->missing = w->found_missing;
		w->oldest_missing = w->found_oldest;
		w->last_ok = w->found_at;
	}
	if (w->rc == 0 && w->missing > 0) {
		char n[32], age[32];
		snprintf(n, sizeof(n), "%.0f", w->missing);
		snprintf(age, sizeof(age), "%.0f", w->oldest_missing);
		log_warn("crl_watch.missing", "revocations", n, "oldest_s", age, NULL);
	}
	clear_rows(w);
	w->busy = 0;
}

static void on_rows(PGresult *res, const struct ra_err *err, void *data)
{
	struct crl_watch *w = data;
	int n = err == NULL ? PQntuples(res) : 0;

	if (err != NULL) {
		w->failures++;
		w->busy = 0;
		return;
	}
	w->serials = calloc((size_t)n + 1, sizeof(*w->serials));
	w->revoked_at = calloc((size_t)n + 1, sizeof(*w->revoked_at));
	for (int i = 0; w->serials != NULL && w->revoked_at != NULL && i < n; i++) {
		w->serials[w->n] = strdup(PQgetvalue(res, i, 0));
		if (w->serials[w->n] == NULL)
			break;
		w->revoked_at[w->n++] = atof(PQgetvalue(res, i, 1));
	}
	/* a list cut short by memory would check only part of the revocations and publish a count
	 * too low (0 missing on a CA that lost some): a failed check instead, the gauges unchanged */
	if (w->serials == NULL || w->revoked_at == NULL || w->n != n ||
	    pool_run(w->app->loop, check_work, check_after, w) != 0) {
		log_warn("crl_watch.failed", "message", "no memory or thread for the check", NULL);
		clear_rows(w);
		w->failures++;
		w->busy = 0;
	}
}

static void on_tick(uv_timer_t *t)
{
	struct crl_watch *w = t->data;

	if (w->busy || w->app->draining || w->app->cab == NULL)
		return;
	if (!db_pool_up(w->app->db)) {
		w->failures++;
		return;
	}
	w->busy = 1;
	db_query(w->app->db, sql_revoked, 1, (const char *const[]){wf_state_name(&wf_cert, WF_CERT_REVOKED)},
		 on_rows, w);
}

int crl_watch_start(struct app *app, struct ra_err *err)
{
	long long every = cfg_int(app->cfg, "ca.crl_check_s");
	struct crl_watch *w;

	if (every <= 0 || app->cab == NULL || watch != NULL)
		return 0;
	w = calloc(1, sizeof(*w));
	if (w == NULL)
		return ra_err_set(err, RA_E_NOMEM, "", "out of memory");
	w->app = app;
	watch = w;
	metrics_gauge("ra_crl_this_update_timestamp_seconds", "thisUpdate of the CRL the RA serves.", "",
		      g_this, w);
	metrics_gauge("ra_crl_next_update_timestamp_seconds",
		      "nextUpdate of the CRL the RA serves: relying parties reject it after that.", "",
		      g_next, w);
	metrics_gauge("ra_crl_last_check_timestamp_seconds", "When the CRL was last fetched and checked.", "",
		      g_ok, w);
	metrics_gauge("ra_revocations_missing_from_crl",
		      "Certificates revoked in the last 7 days that the CRL does not list (R14).", "",
		      g_missing, w);
	metrics_gauge("ra_revocation_missing_from_crl_oldest_age_seconds",
		      "How long the oldest revocation missing from the CRL has waited (0: none).", "",
		      g_oldest, w);
	metrics_counter_fn("ra_crl_check_failures_total", "CRL checks that failed (CA, CRL or database).", "",
			   g_failures, w);
	uv_timer_init(app->loop, &w->timer);
	w->timer.data = w;
	uv_unref((uv_handle_t *)&w->timer); /* a watcher never keeps the loop alive */
	uv_timer_start(&w->timer, on_tick, 1000, (uint64_t)every * 1000);
	return 0;
}
