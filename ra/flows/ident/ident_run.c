/*
 * ident_run.c - the end of an ident_result run: job_done or job_fail, then free.  See ident_run.h.
 */
#include "ra/flows/ident/ident_run.h"

#include <stdlib.h>

#include "ra/base/log.h"

void ident_run_free(struct ident_run *r)
{
	if (r == NULL)
		return;
	free(r->first);
	free(r->last);
	idnow_ident_free(r->id);
	free(r);
}

void ident_run_done(struct ident_run *r, json_t *result)
{
	job_done(r->job, result);
	ident_run_free(r);
}

void ident_run_fail(struct ident_run *r, int retryable, const struct ra_err *err)
{
	log_warn("ident.job_failed", "order", r->order_id, "tx", r->tx, "message", err->msg, "retry",
		 retryable ? "yes" : "no", NULL);
	job_fail(r->job, err, retryable);
	ident_run_free(r);
}
