/*
 * ident_run.h - one run of the ident_result job: the context that the job (ident_job.c)
 * fills and hands to the transaction that stores its decision (ident_apply.c), and the one
 * place that ends and frees it (ident_run.c).  Internal to the identification flow.
 */
#ifndef RA_IDENT_RUN_H
#define RA_IDENT_RUN_H

#include "ra/flows/ident/ident_decide.h"
#include "ra/flows/ident/idnow.h"
#include "ra/jobs/jobs.h"

struct ident_run {
	struct job *job;
	struct app *app;
	char order_id[24];
	char tx[128];
	char claimed[48]; /* the result the callback body claimed: only a hint, never acted on */
	char *first, *last; /* the order's names */
	int attempts;
	int needs_proof;
	int cert_class; /* enum wf_class of the order's requests (R1) */
	int validity_max; /* longest validity among the order's requests (retention until issued) */
	struct idnow_ident *id;
	struct ident_decision d;
};

void ident_run_free(struct ident_run *r);
/* Ends the run with job_done / job_fail and frees it. */
void ident_run_done(struct ident_run *r, json_t *result);
void ident_run_fail(struct ident_run *r, int retryable, const struct ra_err *err);

#endif
