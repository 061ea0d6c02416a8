/*
 * expiry.c - the `expiry` task: at notAfter a certificate moves to 'expired' (wf_cert's EXPIRE
 * from issued, active or superseding; expired is final), with an audit record 'cert.expired'
 * in the same transaction.  The signing service sees it at once: credentials/list and info show
 * the certificate expired and its key disabled (ra/flows/signing/csc_cred.c).  A revoked
 * certificate is not touched: it stays revoked, and on the CRL, after its notAfter.
 */
#include "ra/flows/lifecycle/expiry.h"

#include <stdio.h>
#include <stdlib.h>

#include "ra/base/log.h"
#include "ra/db/db.h"
#include "ra/db/outbox.h"
#include "workflows/wf_cert.h"

/* One outbox unit (ra/db/outbox.h): $2 'expired', $3 the states it comes from, $4 batch; $1
 * NULL (every due certificate) or one id.  Each row: the certificate and its audit record's
 * details.  SKIP LOCKED: a certificate another transaction holds (a revocation in flight) is
 * left for the next tick, which finds it expired or revoked. */
static const char *sql_expire =
	"WITH due AS (SELECT id FROM certificates"
	"  WHERE ($1::text IS NULL OR id = $1) AND state = ANY($3::text[]) AND not_after <= now()"
	"  ORDER BY not_after, id LIMIT $4::int FOR UPDATE SKIP LOCKED)"
	" UPDATE certificates x SET state = $2 FROM due"
	" WHERE x.id = due.id AND x.state = ANY($3::text[])"
	" RETURNING x.id, jsonb_build_object('serial', x.serial, 'not_after', x.not_after, 'user_id', x.user_id)::text";

static void on_expired(const int *rows, const struct ra_err *err, void *data)
{
	struct sched_tick *t = data;

	if (err != NULL) {
		sched_tick_done(t, 0, -1, err);
		return;
	}
	sched_tick_done(t, rows[0], -1, NULL);
}

void expiry_tick(struct sched_tick *t)
{
	struct outbox ob = {0};
	char batch[16];
	int c;

	snprintf(batch, sizeof(batch), "%d", t->batch);
	/* wf_cert EXPIRE: from issued, active or superseding; expired is final */
	c = ob_move_set(&ob, sql_expire, &wf_cert,
			1u << WF_CERT_ISSUED | 1u << WF_CERT_ACTIVE | 1u << WF_CERT_SUPERSEDING,
			WF_CERT_EXPIRED, NULL, 1, (const char *const[]){batch});
	ob_audit_each(&ob, c, "system", "cert.expired", "certificate", "notAfter passed");
	ob_commit(&ob, t->app->db, on_expired, t);
}
