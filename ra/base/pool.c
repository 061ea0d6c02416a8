/* pool.c - thread-pool offload; see pool.h. */
#include "ra/base/pool.h"

#include <stdlib.h>

/* work queued and not yet back (loop thread only: pool_run and on_after both run there) */
static unsigned inflight;
static void (*drain_cb)(void *);
static void *drain_data;

struct pool_job {
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

static void on_after(uv_work_t *w, int status)
{
	struct pool_job *j = w->data;

	(void)status; /* never cancelled: we do not call uv_cancel */
	j->after(j->data);
	free(j);
	/* after() may have queued more: inflight counts it already */
	if (--inflight == 0 && drain_cb != NULL) {
		void (*cb)(void *) = drain_cb;

		drain_cb = NULL;
		cb(drain_data);
	}
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

int pool_run(uv_loop_t *loop, void (*work)(void *), void (*after)(void *), void *data)
{
	struct pool_job *j = calloc(1, sizeof(*j));
	int rc;

	if (j == NULL)
		return UV_ENOMEM;
	j->work = work;
	j->after = after;
	j->data = data;
	j->req.data = j;
	rc = uv_queue_work(loop, &j->req, on_work, on_after);
	if (rc != 0)
		free(j);
	else
		inflight++;
	return rc;
}
