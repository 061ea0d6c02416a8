/*
 * oissue.h - from an order whose identification passed to certificate requests for the CA
 * (issue #5): one certificates row (state 'requested', ident_id set: R7) and one cert_issue
 * job per certificate request of the order, in the transaction that moves the order to
 * 'issuing'.  Used by the identification result (ident_apply.c), by `ra order approve`
 * (review.c) and by the `order_issue` job that intake enqueues when an earlier
 * identification is reused (R17).
 *
 * Certificate ids are 'crq-<cert_requests.id>' and inserted ON CONFLICT DO NOTHING, so
 * whatever runs twice creates no second certificate for a request.
 */
#ifndef RA_OISSUE_H
#define RA_OISSUE_H

#include "ra/base/app.h"
#include "ra/db/dbtx.h"

/* The certificate-creating statement for an order already in 'issuing':
 * $1 order id, $2 given name, $3 surname, $4 country (ISO 3166-1 alpha-2), $5 ident id.
 * The subject's serialNumber is the user's public ID, the same on all their certificates. */
extern const char *const oissue_sql_certificates;

/* Fills st with that statement. */
void oissue_stmt(struct dbtx_stmt *st, const char *order_id, const char *given, const char *surname,
		 const char *country, const char *ident_id);

/* Registers the order_issue job kind (payload {"order_id": N}). */
int oissue_init(struct app *app, struct ra_err *err);

#endif
