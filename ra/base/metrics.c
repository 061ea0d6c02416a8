/* metrics.c - Prometheus counters, histograms and gauges; see metrics.h. */
#include "ra/base/metrics.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const double buckets[] = {0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5};
#define NB (sizeof(buckets) / sizeof(buckets[0]))
#define MAXROWS 256

struct reqrow {
	const char *route; /* static strings from the route table */
	int status;
	unsigned long long n;
};
struct histo {
	const char *route;
	unsigned long long b[NB + 1];
	double sum;
	unsigned long long n;
};
struct gauge {
	char name[64], help[128], labels[128];
	metrics_gauge_fn fn;
	void *data;
};
struct counter {
	char name[64], labels[128];
	double v;
};

static struct reqrow reqs[MAXROWS];
static int nreqs;
static struct histo histos[64];
static int nhistos;
static struct gauge gauges[64];
static int ngauges;
static struct counter counters[MAXROWS];
static int ncounters;

void metrics_reset(void)
{
	nreqs = nhistos = ngauges = ncounters = 0;
}

void metrics_observe_request(const char *route, int status, double s)
{
	int i;

	for (i = 0; i < nreqs; i++)
		if (reqs[i].status == status && strcmp(reqs[i].route, route) == 0)
			break;
	if (i == nreqs && nreqs < MAXROWS) {
		reqs[nreqs].route = route;
		reqs[nreqs].status = status;
		nreqs++;
	}
	if (i < nreqs)
		reqs[i].n++;
	for (i = 0; i < nhistos; i++)
		if (strcmp(histos[i].route, route) == 0)
			break;
	if (i == nhistos) {
		if (nhistos == (int)(sizeof(histos) / sizeof(histos[0])))
			return;
		memset(&histos[i], 0, sizeof(histos[i]));
		histos[i].route = route;
		nhistos++;
	}
	for (size_t b = 0; b < NB; b++)
		if (s <= buckets[b])
			histos[i].b[b]++;
	histos[i].b[NB]++;
	histos[i].sum += s;
	histos[i].n++;
}

void metrics_gauge(const char *name, const char *help, const char *labels, metrics_gauge_fn fn, void *data)
{
	struct gauge *g;

	if (ngauges == (int)(sizeof(gauges) / sizeof(gauges[0])))
		return;
	g = &gauges[ngauges++];
	snprintf(g->name, sizeof(g->name), "%s", name);
	snprintf(g->help, sizeof(g->help), "%s", help);
	snprintf(g->labels, sizeof(g->labels), "%s", labels ? labels : "");
	g->fn = fn;
	g->data = data;
}

void metrics_count(const char *name, const char *labels, double by)
{
	int i;

	labels = labels ? labels : "";
	for (i = 0; i < ncounters; i++)
		if (!strcmp(counters[i].name, name) && !strcmp(counters[i].labels, labels))
			break;
	if (i == ncounters) {
		if (ncounters == MAXROWS)
			return;
		snprintf(counters[i].name, sizeof(counters[i].name), "%s", name);
		snprintf(counters[i].labels, sizeof(counters[i].labels), "%s", labels);
		counters[i].v = 0;
		ncounters++;
	}
	counters[i].v += by;
}

char *metrics_render(size_t *len)
{
	char *buf = NULL;
	size_t sz = 0;
	FILE *f = open_memstream(&buf, &sz);
	const char *last = "";

	if (f == NULL)
		return NULL;
	fputs("# HELP ra_http_requests_total HTTP requests by route and status.\n"
	      "# TYPE ra_http_requests_total counter\n", f);
	for (int i = 0; i < nreqs; i++)
		fprintf(f, "ra_http_requests_total{route=\"%s\",status=\"%d\"} %llu\n", reqs[i].route,
			reqs[i].status, reqs[i].n);
	fputs("# HELP ra_http_request_duration_seconds HTTP request latency.\n"
	      "# TYPE ra_http_request_duration_seconds histogram\n", f);
	for (int i = 0; i < nhistos; i++) {
		for (size_t b = 0; b < NB; b++)
			fprintf(f, "ra_http_request_duration_seconds_bucket{route=\"%s\",le=\"%g\"} %llu\n",
				histos[i].route, buckets[b], histos[i].b[b]);
		fprintf(f, "ra_http_request_duration_seconds_bucket{route=\"%s\",le=\"+Inf\"} %llu\n",
			histos[i].route, histos[i].b[NB]);
		fprintf(f, "ra_http_request_duration_seconds_sum{route=\"%s\"} %.6f\n", histos[i].route,
			histos[i].sum);
		fprintf(f, "ra_http_request_duration_seconds_count{route=\"%s\"} %llu\n", histos[i].route,
			histos[i].n);
	}
	for (int i = 0; i < ngauges; i++) {
		struct gauge *g = &gauges[i];
		if (strcmp(last, g->name) != 0)
			fprintf(f, "# HELP %s %s\n# TYPE %s gauge\n", g->name, g->help, g->name);
		last = g->name;
		if (g->labels[0])
			fprintf(f, "%s{%s} %g\n", g->name, g->labels, g->fn(g->data));
		else
			fprintf(f, "%s %g\n", g->name, g->fn(g->data));
	}
	last = "";
	for (int i = 0; i < ncounters; i++) {
		struct counter *c = &counters[i];
		if (strcmp(last, c->name) != 0)
			fprintf(f, "# TYPE %s counter\n", c->name);
		last = c->name;
		if (c->labels[0])
			fprintf(f, "%s{%s} %g\n", c->name, c->labels, c->v);
		else
			fprintf(f, "%s %g\n", c->name, c->v);
	}
	fclose(f);
	*len = sz;
	return buf;
}
