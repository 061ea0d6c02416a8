/*
 * conncount.h - open connections per peer address, for the HTTP server's per-address cap
 * (issue #20: two local processes held 21,000 idle connections and starved /healthz).
 * A small chained hash table keyed by the 16-byte address (IPv4 as IPv4-mapped IPv6); an
 * entry exists only while its count is above zero.  Loop thread only.
 */
#ifndef RA_CONNCOUNT_H
#define RA_CONNCOUNT_H

#include <stddef.h>
#include <sys/socket.h>

struct conncount;

struct conncount *conncount_new(void); /* NULL without memory; free with conncount_free */
void conncount_free(struct conncount *c);

/* The 16-byte key of a peer address (AF_INET or AF_INET6; anything else is all zeros). */
void conncount_key(const struct sockaddr *sa, unsigned char key[16]);
/* Adds one connection of key; returns the new count, or -1 without memory (then nothing
 * was added). */
int conncount_add(struct conncount *c, const unsigned char key[16]);
/* Removes one connection of key (one that conncount_add counted). */
void conncount_del(struct conncount *c, const unsigned char key[16]);
/* Addresses with at least one connection. */
size_t conncount_addresses(const struct conncount *c);

#endif
