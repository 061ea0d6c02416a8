/*
 * test_pool.c - thread-pool offload (ra/base/pool.c): background work (the PIN hashes jobs
 * send) runs on its own thread under SCHED_IDLE (and nice 10), off the loop thread, in the order it was queued,
 * its `after` on the loop thread; pool_drain waits for it as for libuv's pool; and libuv's pool
 * is not held up by it.
 */
#include <criterion/criterion.h>
#include <errno.h>
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>
#include <uv.h>

#include "ra/base/pool.h"

static uv_loop_t loop;
static pid_t loop_tid;
static int base_nice; /* the test process's own (a CI may run it niced) */

struct item {
	int n;
	int nice;
	int policy; /* sched_getscheduler of the thread it ran on */
	pid_t tid;
	int after_on_loop;
	int *order; /* where `after` writes n, in the order the afters ran */
	int *pos;
	atomic_int *release; /* a background work waits for this to become 1 */
};

static void work(void *data)
{
	struct item *it = data;

	it->tid = gettid();
	errno = 0;
	it->nice = getpriority(PRIO_PROCESS, (id_t)it->tid);
	it->policy = sched_getscheduler(it->tid);
	while (it->release != NULL && atomic_load(it->release) == 0) {
		struct timespec ts = {0, 1000000};
		nanosleep(&ts, NULL);
	}
}

static void after(void *data)
{
	struct item *it = data;

	it->after_on_loop = gettid() == loop_tid;
	it->order[(*it->pos)++] = it->n;
}

/* Whether this environment lets a thread take SCHED_IDLE (a seccomp filter may refuse it; the
 * pool then keeps nice 10 alone): tried on a thread of its own. */
static void *try_idle(void *arg)
{
	*(int *)arg = pthread_setschedparam(pthread_self(), SCHED_IDLE, &(struct sched_param){0}) == 0;
	return NULL;
}

static int idle_allowed(void)
{
	pthread_t th;
	int ok = 0;

	cr_assert_eq(pthread_create(&th, NULL, try_idle, &ok), 0);
	pthread_join(th, NULL);
	return ok;
}

static int drained;
static void on_drained(void *data)
{
	(void)data;
	drained = 1;
	uv_stop(&loop);
}

Test(pool, background_work_runs_idle_in_order_and_is_drained)
{
	struct item it[3];
	int order[3] = {0}, pos = 0, idle = idle_allowed();

	uv_loop_init(&loop);
	loop_tid = gettid();
	base_nice = getpriority(PRIO_PROCESS, 0);
	pool_background_threads(1);
	for (int i = 0; i < 3; i++) {
		it[i] = (struct item){.n = i + 1, .order = order, .pos = &pos};
		cr_assert_eq(pool_run_background(&loop, work, after, &it[i]), 0);
	}
	pool_drain(on_drained, NULL);
	cr_expect_eq(drained, 0, "the drain waits for the background work");
	uv_run(&loop, UV_RUN_DEFAULT);
	cr_assert_eq(drained, 1);
	cr_assert_eq(pos, 3);
	for (int i = 0; i < 3; i++) {
		cr_expect_eq(order[i], i + 1, "FIFO: after %d ran at %d", order[i], i);
		cr_expect_neq(it[i].tid, loop_tid, "not on the loop thread");
		cr_expect_eq(it[i].tid, it[0].tid, "one background thread");
		cr_expect_eq(it[i].nice, base_nice > 10 ? base_nice : 10, "nice %d", it[i].nice);
		if (idle)
			cr_expect_eq(it[i].policy, SCHED_IDLE, "SCHED_IDLE (policy %d)", it[i].policy);
		cr_expect(it[i].after_on_loop, "after() on the loop thread");
	}
}

/* Background work that takes long does not hold up libuv's pool: pool_run work queued after
 * it comes back while it still runs. */
Test(pool, background_work_does_not_hold_up_the_pool)
{
	struct item slow, quick;
	atomic_int release = 0;
	int order[2] = {0}, pos = 0;

	uv_loop_init(&loop);
	loop_tid = gettid();
	base_nice = getpriority(PRIO_PROCESS, 0);
	pool_background_threads(1);
	slow = (struct item){.n = 1, .order = order, .pos = &pos, .release = &release};
	quick = (struct item){.n = 2, .order = order, .pos = &pos};
	cr_assert_eq(pool_run_background(&loop, work, after, &slow), 0);
	cr_assert_eq(pool_run(&loop, work, after, &quick), 0);
	while (pos == 0)
		uv_run(&loop, UV_RUN_ONCE);
	cr_expect_eq(order[0], 2, "libuv's pool work came back first");
	cr_expect_eq(quick.nice, base_nice, "libuv's pool runs at the process's priority");
	cr_expect_eq(quick.policy, sched_getscheduler(0), "and under its policy");
	atomic_store(&release, 1);
	drained = 0;
	pool_drain(on_drained, NULL);
	uv_run(&loop, UV_RUN_DEFAULT);
	cr_expect_eq(drained, 1);
	cr_expect_eq(order[1], 1);
}
