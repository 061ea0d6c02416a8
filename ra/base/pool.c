/* pool.c - thread-pool offload; see pool.h. */
#include "ra/base/pool.h"

#include "ra/base/log.h"

#include <errno.h>
#include <pthread.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/resource.h>
#include <unistd.h>

/* work queued and not yet back (loop thread only: pool_run and on_after both run there) */
static unsigned inflight;
static void (*drain_cb)(void *);
static void *drain_data;

struct pool_job {
	struct pool_job *next; /* background queue and done list */
	uv_work_t req;
	void (*work)(void *);
	void (*after)(void *);
	void *data;
};

static void on_work(uv_work_t *w)
{
	struct pool_job *j = w->data;

	j->work(j->data);
}

/* On the loop thread: a job is back. */
static void finish(struct pool_job *j)
{
	j->after(j->data);
	free(j);
	/* after() may have queued more: inflight counts it already */
	if (--inflight == 0 && drain_cb != NULL) {
		void (*cb)(void *) = drain_cb;

		drain_cb = NULL;
		cb(drain_data);
	}
}

static void on_after(uv_work_t *w, int status)
{
	(void)status; /* never cancelled: we do not call uv_cancel */
	finish(w->data);
}

void pool_drain(void (*cb)(void *data), void *data)
{
	if (inflight == 0) {
		cb(data);
		return;
	}
	drain_cb = cb;
	drain_data = data;
}

static struct pool_job *job_new(void (*work)(void *), void (*after)(void *), void *data)
{
	struct pool_job *j = calloc(1, sizeof(*j));

	if (j != NULL) {
		j->work = work;
		j->after = after;
		j->data = data;
		j->req.data = j;
	}
	return j;
}

int pool_run(uv_loop_t *loop, void (*work)(void *), void (*after)(void *), void *data)
{
	struct pool_job *j = job_new(work, after, data);
	int rc;

	if (j == NULL)
		return UV_ENOMEM;
	rc = uv_queue_work(loop, &j->req, on_work, on_after);
	if (rc != 0)
		free(j);
	else
		inflight++;
	return rc;
}

/* ---- background threads ---- */

static struct {
	pthread_mutex_t mu;
	pthread_cond_t cv;
	struct pool_job *head, *tail; /* queued, FIFO */
	struct pool_job *done; /* finished, newest first */
	uv_async_t async;
	uv_loop_t *loop; /* the loop the completions go to: the first caller's, the only one */
	unsigned want, started;
	unsigned out; /* queued or running (loop thread only): keeps the loop alive like a request */
	int ready;
} bg = {.mu = PTHREAD_MUTEX_INITIALIZER, .cv = PTHREAD_COND_INITIALIZER, .want = 1};

void pool_background_threads(unsigned n)
{
	long cores = sysconf(_SC_NPROCESSORS_ONLN);

	if (n == 0)
		n = cores > 0 ? (unsigned)cores : 1;
	bg.want = n > 64 ? 64 : n;
}

static void *bg_main(void *arg)
{
	struct pool_job *j;
	int cur;

	(void)arg;
	/* Linux: the policy and nice value are per thread; lowering one's own priority needs no
	 * privilege.  SCHED_IDLE: these threads run only on a core nothing else wants, so a
	 * batch of PIN hashes (~150 ms of CPU each) takes only the time the token, CA, database
	 * and HTTP work leave (at nice 10 it still took ~10% of a busy core and its 32 MiB of
	 * scrypt memory the caches); nice 10 stays as the fallback where the policy is refused
	 * (a process already nicer than 10 stays as it is).  If both fail the work still runs. */
	errno = 0;
	cur = getpriority(PRIO_PROCESS, (id_t)gettid());
	if (errno != 0 || cur < 10)
		(void)setpriority(PRIO_PROCESS, (id_t)gettid(), 10);
	(void)pthread_setschedparam(pthread_self(), SCHED_IDLE, &(struct sched_param){0});
	pthread_mutex_lock(&bg.mu);
	for (;;) {
		while (bg.head == NULL)
			pthread_cond_wait(&bg.cv, &bg.mu);
		j = bg.head;
		bg.head = j->next;
		if (bg.head == NULL)
			bg.tail = NULL;
		pthread_mutex_unlock(&bg.mu);
		j->work(j->data);
		pthread_mutex_lock(&bg.mu);
		j->next = bg.done;
		bg.done = j;
		/* the wake-up outside the lock: the loop thread takes bg.mu too, and a thread under
		 * SCHED_IDLE preempted while holding it would stall the loop (sends coalesce, and
		 * on_bg_done takes the whole list under the lock, so none is missed) */
		pthread_mutex_unlock(&bg.mu);
		uv_async_send(&bg.async);
		pthread_mutex_lock(&bg.mu);
	}
	return NULL;
}

/* On the loop thread: what the background threads finished, oldest first. */
static void on_bg_done(uv_async_t *a)
{
	struct pool_job *list, *rev = NULL, *j;

	(void)a;
	pthread_mutex_lock(&bg.mu);
	list = bg.done;
	bg.done = NULL;
	pthread_mutex_unlock(&bg.mu);
	while (list != NULL) {
		j = list;
		list = j->next;
		j->next = rev;
		rev = j;
	}
	while (rev != NULL) {
		j = rev;
		rev = j->next;
		if (--bg.out == 0)
			uv_unref((uv_handle_t *)&bg.async);
		finish(j);
	}
}

/* The threads are started at the first use and live until the process exits (blocked on the
 * queue when idle); pool_drain waits for their work like for libuv's. */
static int bg_start(uv_loop_t *loop)
{
	pthread_attr_t at;
	pthread_t t;
	int rc;

	if (bg.ready)
		return bg.loop == loop ? 0 : UV_EINVAL; /* ra serve has one loop */
	rc = uv_async_init(loop, &bg.async, on_bg_done);
	if (rc != 0)
		return rc;
	uv_unref((uv_handle_t *)&bg.async); /* referenced only while work is out (bg.out) */
	pthread_attr_init(&at);
	pthread_attr_setdetachstate(&at, PTHREAD_CREATE_DETACHED);
	for (bg.started = 0; bg.started < bg.want; bg.started++)
		if (pthread_create(&t, &at, bg_main, NULL) != 0)
			break;
	pthread_attr_destroy(&at);
	if (bg.started < bg.want) {
		char want[16], got[16];

		snprintf(want, sizeof(want), "%u", bg.want);
		snprintf(got, sizeof(got), "%u", bg.started);
		/* with none, the work goes to libuv's pool (pool_run_background) */
		log_warn("pool.background_threads_short", "wanted", want, "started", got, NULL);
	}
	bg.loop = loop;
	bg.ready = 1;
	return 0;
}

int pool_run_background(uv_loop_t *loop, void (*work)(void *), void (*after)(void *), void *data)
{
	struct pool_job *j;
	int rc = bg_start(loop);

	if (rc != 0 || bg.started == 0)
		return rc != 0 ? rc : pool_run(loop, work, after, data); /* no thread: libuv's pool */
	j = job_new(work, after, data);
	if (j == NULL)
		return UV_ENOMEM;
	pthread_mutex_lock(&bg.mu);
	if (bg.tail != NULL)
		bg.tail->next = j;
	else
		bg.head = j;
	bg.tail = j;
	pthread_cond_signal(&bg.cv);
	pthread_mutex_unlock(&bg.mu);
	if (bg.out++ == 0)
		uv_ref((uv_handle_t *)&bg.async);
	inflight++;
	return 0;
}
