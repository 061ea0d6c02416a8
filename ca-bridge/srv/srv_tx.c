/*
 * srv_tx.c - the ca-bridge server's store of CMP transactions that wait for the client's
 * certConf (RFC 9483 4.1, RFC 4210 5.3.18): keyed by transactionID, bounded (a slot is
 * reserved before the CA issues, so a full store refuses the request instead of issuing a
 * certificate it cannot track), each entry expiring after the confirmation timeout.  In
 * memory: a restart ends the open transactions (docs/ca-bridge.md says what that means).
 * A linked list: at most a few thousand entries, each looked at under one mutex.
 */
#include "ca-bridge/srv/srv_int.h"

#include <string.h>

static time_t mono_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec;
}

void cab_srv_txs_init(struct cab_srv_txs *t, int max, unsigned timeout_s)
{
	memset(t, 0, sizeof(*t));
	pthread_mutex_init(&t->lock, NULL);
	t->max = max;
	t->timeout_s = timeout_s;
}

int cab_srv_txs_reserve(struct cab_srv_txs *t)
{
	int ok;

	pthread_mutex_lock(&t->lock);
	ok = t->used < t->max;
	if (ok)
		t->used++;
	pthread_mutex_unlock(&t->lock);
	return ok ? 0 : -1;
}

void cab_srv_txs_release(struct cab_srv_txs *t)
{
	pthread_mutex_lock(&t->lock);
	if (t->used > 0)
		t->used--;
	pthread_mutex_unlock(&t->lock);
}

void cab_srv_txs_put(struct cab_srv_txs *t, struct cab_srv_tx *tx)
{
	tx->deadline = mono_s() + (time_t)t->timeout_s;
	pthread_mutex_lock(&t->lock);
	tx->next = t->head;
	t->head = tx;
	pthread_mutex_unlock(&t->lock);
}

void cab_srv_txs_put_back(struct cab_srv_txs *t, struct cab_srv_tx *tx)
{
	pthread_mutex_lock(&t->lock);
	tx->next = t->head;
	t->head = tx;
	pthread_mutex_unlock(&t->lock);
}

/* Unlinks the first entry that matches (id, or expired when id is NULL); under the lock. */
static struct cab_srv_tx *unlink_first(struct cab_srv_txs *t, const char *id, time_t now, int all)
{
	for (struct cab_srv_tx **pp = &t->head; *pp != NULL; pp = &(*pp)->next) {
		struct cab_srv_tx *tx = *pp;

		if (id != NULL ? strcmp(tx->id, id) == 0 : (all || tx->deadline <= now)) {
			*pp = tx->next;
			tx->next = NULL;
			return tx;
		}
	}
	return NULL;
}

struct cab_srv_tx *cab_srv_txs_take(struct cab_srv_txs *t, const char *id)
{
	struct cab_srv_tx *tx;

	pthread_mutex_lock(&t->lock);
	tx = unlink_first(t, id, 0, 0);
	pthread_mutex_unlock(&t->lock);
	return tx;
}

struct cab_srv_tx *cab_srv_txs_take_expired(struct cab_srv_txs *t, int all)
{
	struct cab_srv_tx *tx;
	time_t now = mono_s();

	pthread_mutex_lock(&t->lock);
	tx = unlink_first(t, NULL, now, all);
	pthread_mutex_unlock(&t->lock);
	return tx;
}

int cab_srv_txs_due(struct cab_srv_txs *t)
{
	time_t now = mono_s();
	int due = 0;

	pthread_mutex_lock(&t->lock);
	for (struct cab_srv_tx *tx = t->head; tx != NULL && !due; tx = tx->next)
		due = tx->deadline <= now;
	pthread_mutex_unlock(&t->lock);
	return due;
}

void cab_srv_txs_destroy(struct cab_srv_txs *t)
{
	struct cab_srv_tx *tx;

	while ((tx = cab_srv_txs_take_expired(t, 1)) != NULL)
		cab_srv_tx_free(tx);
	pthread_mutex_destroy(&t->lock);
}
