/*
 * conncount.c - open connections per peer address; see conncount.h.
 */
#include "ra/net/conncount.h"

#include <netinet/in.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#define NBUCKETS 1024

struct entry {
	struct entry *next;
	unsigned char key[16];
	int n;
};

struct conncount {
	struct entry *bucket[NBUCKETS];
	size_t addresses;
};

struct conncount *conncount_new(void)
{
	return calloc(1, sizeof(struct conncount));
}

void conncount_free(struct conncount *c)
{
	if (c == NULL)
		return;
	for (size_t i = 0; i < NBUCKETS; i++) {
		struct entry *e = c->bucket[i];
		while (e != NULL) {
			struct entry *next = e->next;
			free(e);
			e = next;
		}
	}
	free(c);
}

void conncount_key(const struct sockaddr *sa, unsigned char key[16])
{
	memset(key, 0, 16);
	if (sa->sa_family == AF_INET) {
		const struct sockaddr_in *in = (const struct sockaddr_in *)sa;
		key[10] = key[11] = 0xff;
		memcpy(key + 12, &in->sin_addr, 4);
	} else if (sa->sa_family == AF_INET6) {
		memcpy(key, &((const struct sockaddr_in6 *)sa)->sin6_addr, 16);
	}
}

/* FNV-1a: the keys are addresses a client chooses only within its own networks; the table
 * holds at most http.max_connections entries, so a skewed spread costs little */
static size_t slot(const unsigned char key[16])
{
	uint32_t h = 2166136261u;

	for (int i = 0; i < 16; i++)
		h = (h ^ key[i]) * 16777619u;
	return h % NBUCKETS;
}

static struct entry **find(struct conncount *c, const unsigned char key[16])
{
	struct entry **p = &c->bucket[slot(key)];

	while (*p != NULL && memcmp((*p)->key, key, 16) != 0)
		p = &(*p)->next;
	return p;
}

int conncount_add(struct conncount *c, const unsigned char key[16])
{
	struct entry **p = find(c, key);

	if (*p == NULL) {
		struct entry *e = calloc(1, sizeof(*e));
		if (e == NULL)
			return -1;
		memcpy(e->key, key, 16);
		*p = e;
		c->addresses++;
	}
	return ++(*p)->n;
}

void conncount_del(struct conncount *c, const unsigned char key[16])
{
	struct entry **p = find(c, key), *e = *p;

	if (e == NULL)
		return;
	if (--e->n > 0)
		return;
	*p = e->next;
	free(e);
	c->addresses--;
}

size_t conncount_addresses(const struct conncount *c)
{
	return c->addresses;
}
