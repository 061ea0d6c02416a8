/* metrics.c - Prometheus counters, histograms and gauges, the process_* figures and
 * ra_build_info; see metrics.h. */
#include "ra/base/metrics.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ra/base/procstat.h"

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
	int counter; /* a monotonic value read from fn: typed counter */
	metrics_gauge_fn fn;
	void *data;
};
struct counter {
	char name[64], labels[128];
	double v;
};
struct help {
	char name[64], text[128];
};

static struct reqrow reqs[MAXROWS];
static int nreqs;
static struct histo histos[64];
static int nhistos;
static struct gauge gauges[96];
static int ngauges;
static struct counter counters[MAXROWS];
static int ncounters;
static struct help helps[32];
static int nhelps;
static char build_version[64] = "unknown";

void metrics_reset(void)
{
	nreqs = nhistos = ngauges = ncounters = nhelps = 0;
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

static void add_fn(const char *name, const char *help, const char *labels, int counter, metrics_gauge_fn fn,
		   void *data)
{
	struct gauge *g;

	if (ngauges == (int)(sizeof(gauges) / sizeof(gauges[0])))
		return;
	g = &gauges[ngauges++];
	snprintf(g->name, sizeof(g->name), "%s", name);
	snprintf(g->help, sizeof(g->help), "%s", help);
	snprintf(g->labels, sizeof(g->labels), "%s", labels ? labels : "");
	g->counter = counter;
	g->fn = fn;
	g->data = data;
}

void metrics_gauge(const char *name, const char *help, const char *labels, metrics_gauge_fn fn, void *data)
{
	add_fn(name, help, labels, 0, fn, data);
}

void metrics_counter_fn(const char *name, const char *help, const char *labels, metrics_gauge_fn fn,
			void *data)
{
	add_fn(name, help, labels, 1, fn, data);
}

void metrics_help(const char *name, const char *help)
{
	for (int i = 0; i < nhelps; i++)
		if (strcmp(helps[i].name, name) == 0)
			return;
	if (nhelps == (int)(sizeof(helps) / sizeof(helps[0])))
		return;
	snprintf(helps[nhelps].name, sizeof(helps[nhelps].name), "%s", name);
	snprintf(helps[nhelps].text, sizeof(helps[nhelps].text), "%s", help);
	nhelps++;
}

void metrics_build_info(const char *version)
{
	snprintf(build_version, sizeof(build_version), "%s", version && *version ? version : "unknown");
}

static const char *help_of(const char *name)
{
	for (int i = 0; i < nhelps; i++)
		if (strcmp(helps[i].name, name) == 0)
			return helps[i].text;
	return "Counter (no description registered).";
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

/* Prometheus text: integers exactly (timestamps need all their digits), NaN and ±Inf by name. */
static void put_value(FILE *f, double v)
{
	if (isnan(v))
		fputs("NaN", f);
	else if (isinf(v))
		fputs(v > 0 ? "+Inf" : "-Inf", f);
	else if (v == floor(v) && fabs(v) < 1e15)
		fprintf(f, "%.0f", v);
	else
		fprintf(f, "%.15g", v);
}

static void put_sample(FILE *f, const char *name, const char *labels, double v)
{
	if (labels != NULL && labels[0])
		fprintf(f, "%s{%s} ", name, labels);
	else
		fprintf(f, "%s ", name);
	put_value(f, v);
	fputc('\n', f);
}

static void put_family(FILE *f, const char *name, const char *type, const char *help, double v)
{
	fprintf(f, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, type);
	put_sample(f, name, "", v);
}

static void render_process(FILE *f)
{
	struct procstat ps;

	if (procstat_read(&ps) != 0)
		return;
	put_family(f, "process_cpu_seconds_total", "counter",
		   "Total user and system CPU time spent in seconds.", ps.cpu_seconds);
	put_family(f, "process_resident_memory_bytes", "gauge", "Resident memory size in bytes.",
		   ps.resident_bytes);
	put_family(f, "process_virtual_memory_bytes", "gauge", "Virtual memory size in bytes.",
		   ps.virtual_bytes);
	put_family(f, "process_open_fds", "gauge", "Number of open file descriptors.", ps.open_fds);
	if (ps.max_fds > 0)
		put_family(f, "process_max_fds", "gauge", "Maximum number of open file descriptors.",
			   ps.max_fds);
	put_family(f, "process_start_time_seconds", "gauge",
		   "Start time of the process since unix epoch in seconds.", ps.start_time);
}

static void render_http(FILE *f)
{
	fputs("# HELP ra_http_requests_total HTTP requests by route and status.\n"
	      "# TYPE ra_http_requests_total counter\n",
	      f);
	for (int i = 0; i < nreqs; i++)
		fprintf(f, "ra_http_requests_total{route=\"%s\",status=\"%d\"} %llu\n", reqs[i].route,
			reqs[i].status, reqs[i].n);
	fputs("# HELP ra_http_request_duration_seconds HTTP request latency.\n"
	      "# TYPE ra_http_request_duration_seconds histogram\n",
	      f);
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
}

char *metrics_render(size_t *len)
{
	char *buf = NULL;
	size_t sz = 0;
	FILE *f = open_memstream(&buf, &sz);

	if (f == NULL)
		return NULL;
	render_process(f);
	fprintf(f,
		"# HELP ra_build_info The running ra's version (value always 1).\n# TYPE ra_build_info gauge\n"
		"ra_build_info{version=\"%s\"} 1\n",
		build_version);
	render_http(f);
	/* a family's samples must stand together: each name once, with all its label sets */
	for (int i = 0; i < ngauges; i++) {
		struct gauge *g = &gauges[i];
		int first = 1;
		for (int k = 0; k < i && first; k++)
			first = strcmp(gauges[k].name, g->name) != 0;
		if (!first)
			continue;
		fprintf(f, "# HELP %s %s\n# TYPE %s %s\n", g->name, g->help, g->name,
			g->counter ? "counter" : "gauge");
		for (int k = i; k < ngauges; k++)
			if (strcmp(gauges[k].name, g->name) == 0)
				put_sample(f, g->name, gauges[k].labels, gauges[k].fn(gauges[k].data));
	}
	for (int i = 0; i < ncounters; i++) {
		struct counter *c = &counters[i];
		int first = 1;
		for (int k = 0; k < i && first; k++)
			first = strcmp(counters[k].name, c->name) != 0;
		if (!first)
			continue;
		fprintf(f, "# HELP %s %s\n# TYPE %s counter\n", c->name, help_of(c->name), c->name);
		for (int k = i; k < ncounters; k++)
			if (strcmp(counters[k].name, c->name) == 0)
				put_sample(f, c->name, counters[k].labels, counters[k].v);
	}
	/* described counters not yet counted: the family is announced, without samples */
	for (int i = 0; i < nhelps; i++) {
		int seen = 0;
		for (int k = 0; k < ncounters && !seen; k++)
			seen = strcmp(counters[k].name, helps[i].name) == 0;
		if (!seen)
			fprintf(f, "# HELP %s %s\n# TYPE %s counter\n", helps[i].name, helps[i].text,
				helps[i].name);
	}
	fclose(f);
	*len = sz;
	return buf;
}
