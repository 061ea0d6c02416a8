/*
 * expiry.c - the `expiry` task: at notAfter a certificate moves to 'expired' (wf_cert's EXPIRE
 * from issued, active or superseding; expired is final), with an audit record 'cert.expired'
 * in the same statement.  The signing service sees it at once: credentials/list and info show
 * the certificate expired and its key disabled (ra/flows/signing/csc_cred.c).  A revoked
 * certificate is not touched: it stays revoked, and on the CRL, after its notAfter.
 */
#include "ra/flows/lifecycle/expiry.h"

#include <stdio.h>
#include <stdlib.h>

#include "ra/base/log.h"
#include "ra/db/db.h"

/* $1 batch.  SKIP LOCKED: a certificate another transaction holds (a revocation in flight)
 * is left for the next tick, which finds it expired or revoked. */
static const char *sql_expire =
	"WITH due AS (SELECT id FROM certificates"
	"  WHERE state IN ('issued', 'active', 'superseding') AND not_after <= now()"
	"  ORDER BY not_after, id LIMIT $1::int FOR UPDATE SKIP LOCKED),"
	" c AS (UPDATE certificates x SET state = 'expired' FROM due"
	"  WHERE x.id = due.id AND x.state IN ('issued', 'active', 'superseding')"
	"  RETURNING x.id, x.serial, x.not_after, x.user_id),"
	" a AS (INSERT INTO audit_log (actor, action, object_type, object_id, reason, details)"
	"  SELECT 'system', 'cert.expired', 'certificate', c.id, 'notAfter passed',"
	"   jsonb_build_object('serial', c.serial, 'not_after', c.not_after, 'user_id', c.user_id) FROM c)"
	" SELECT count(*) FROM c";

static void on_expired(PGresult *res, const struct ra_err *err, void *data)
{
	struct sched_tick *t = data;

	if (err != NULL) {
		sched_tick_done(t, 0, -1, err);
		return;
	}
	sched_tick_done(t, atoi(PQgetvalue(res, 0, 0)), -1, NULL);
}

void expiry_tick(struct sched_tick *t)
{
	char batch[16];
	const char *p[] = {batch};

	snprintf(batch, sizeof(batch), "%d", t->batch);
	db_query(t->app->db, sql_expire, 1, p, on_expired, t);
}
