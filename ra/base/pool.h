/*
 * pool.h - run blocking work on libuv's thread pool and come back to the loop.
 * work(data) runs on a pool thread (no loop, no libpq pool access there); after(data) runs on
 * the loop thread once it is done.  The caller owns data and frees it in `after`.
 */
#ifndef RA_POOL_H
#define RA_POOL_H

#include <uv.h>

int pool_run(uv_loop_t *loop, void (*work)(void *data), void (*after)(void *data), void *data);
/* The same for CPU-bound work nobody waits for at once (hashing the PIN a job sends): it runs
 * on threads of its own (pool_background_threads, default one per core) at the lowest CPU priority (SCHED_IDLE: only on a core nothing else wants; nice 10 where that is refused),
 * so it neither queues in front of libuv's pool work (token, CA, PIN checks a caller waits for)
 * nor takes the cores from the loop and the database.  Counted by pool_drain like pool_run. */
int pool_run_background(uv_loop_t *loop, void (*work)(void *data), void (*after)(void *data), void *data);
/* How many background threads (1..64; 0: one per online CPU core); before the first
 * pool_run_background. */
void pool_background_threads(unsigned n);
/* Calls cb(data) on the loop thread once no work queued by pool_run is in flight (at once if
 * none is): shutdown waits for it before the loop stops, so no pool thread still uses what the
 * process frees after the loop (the CA, the token).  Callers stop queueing new work first. */
void pool_drain(void (*cb)(void *data), void *data);

#endif
