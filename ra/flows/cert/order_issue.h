/*
 * order_issue.h - from an order whose identification passed to certificate requests for the CA
 * (issue #5): one certificates row (state 'requested', ident_id set: R7) and one cert_issue
 * job per certificate request of the order, in the transaction that moves the order to
 * 'issuing'.  Used by the identification result (ident_apply.c), by `ra order approve`
 * (review.c) and by the `order_issue` job that intake enqueues when an earlier
 * identification is reused (R17).
 *
 * Certificate ids are 'crq-<cert_requests.id>' and inserted ON CONFLICT DO NOTHING, so
 * whatever runs twice creates no second certificate for a request.
 */
#ifndef RA_ORDER_ISSUE_H
#define RA_ORDER_ISSUE_H

#include "ra/base/app.h"
#include "ra/db/outbox.h"
#include "ra/jobs/jobs.h"

/* Adds the certificate-creating statements for an order already in 'issuing' to the caller's
 * outbox unit (params copied).  The subject's serialNumber is the user's public ID, the same
 * on all their certificates.  The first statement added returns one row per certificate it
 * created; none (the order had nothing left to issue) fails the unit with RA_E_CONFLICT.
 * Then, for each certificate, its cert_issue job and its audit record.  Returns the index of
 * the certificate statement in the unit (rows[] of the callback: how many), -1 if full. */
int order_issue_plan(struct outbox *ob, const char *order_id, const char *given, const char *surname,
		     const char *country, const char *ident_id);

#define ORDER_ISSUE_MAX_ATTEMPTS 20

/* The order_issue job (payload {"order_id": N}). */
void order_issue_run(struct job *job);

#endif
