/* health.c - the parts' health of health.h: a short list, read by /healthz and the metrics. */
#include "ra/base/health.h"

#include <stdio.h>
#include <string.h>

#include "ra/base/metrics.h"

#define MAX_PARTS 8

struct part {
	char name[32];
	int healthy;
	char why[256];
};

static struct part parts[MAX_PARTS];
static int nparts;

static double g_healthy(void *d)
{
	return ((const struct part *)d)->healthy;
}

static struct part *find(const char *name, int create)
{
	char labels[64];

	for (int i = 0; i < nparts; i++)
		if (strcmp(parts[i].name, name) == 0)
			return &parts[i];
	if (!create || nparts == MAX_PARTS)
		return NULL;
	snprintf(parts[nparts].name, sizeof(parts[nparts].name), "%s", name);
	snprintf(labels, sizeof(labels), "component=\"%s\"", name);
	metrics_gauge(
		"ra_component_healthy",
		"1 when the part works, 0 when it failed on its own while the rest serves (see /healthz).",
		labels, g_healthy, &parts[nparts]);
	return &parts[nparts++];
}

void health_set(const char *name, int healthy, const char *why)
{
	struct part *p = find(name, 1);

	if (p == NULL)
		return;
	p->healthy = healthy != 0;
	snprintf(p->why, sizeof(p->why), "%s", healthy || why == NULL ? "" : why);
}

int health_ok(const char *name, const char **why)
{
	struct part *p = find(name, 0);

	if (why != NULL)
		*why = p ? p->why : NULL;
	return p == NULL || p->healthy;
}

json_t *health_json(void)
{
	json_t *o = json_object();

	for (int i = 0; i < nparts; i++) {
		json_t *v = json_pack("{s:b}", "healthy", parts[i].healthy);

		if (!parts[i].healthy)
			json_object_set_new(v, "why", json_string(parts[i].why));
		json_object_set_new(o, parts[i].name, v);
	}
	return o;
}
