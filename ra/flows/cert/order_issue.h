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
#include "ra/db/dbtx.h"
#include "ra/jobs/jobs.h"

/* Fills st with the certificate-creating statement for an order already in 'issuing', for
 * the caller's transaction (st->sql is static; the params are borrowed).  The subject's
 * serialNumber is the user's public ID, the same on all their certificates.  It returns one
 * row per certificate it created, none when the order had nothing left to issue. */
void order_issue_stmt(struct dbtx_stmt *st, const char *order_id, const char *given, const char *surname,
		 const char *country, const char *ident_id);

#define ORDER_ISSUE_MAX_ATTEMPTS 20

/* The order_issue job (payload {"order_id": N}). */
void order_issue_run(struct job *job);

#endif
