/*
 * pool.h - run blocking work on libuv's thread pool and come back to the loop.
 * work(data) runs on a pool thread (no loop, no libpq pool access there); after(data) runs on
 * the loop thread once it is done.  The caller owns data and frees it in `after`.
 */
#ifndef RA_POOL_H
#define RA_POOL_H

#include <uv.h>

int pool_run(uv_loop_t *loop, void (*work)(void *data), void (*after)(void *data), void *data);
/* Calls cb(data) on the loop thread once no work queued by pool_run is in flight (at once if
 * none is): shutdown waits for it before the loop stops, so no pool thread still uses what the
 * process frees after the loop (the CA, the token).  Callers stop queueing new work first. */
void pool_drain(void (*cb)(void *data), void *data);

#endif
