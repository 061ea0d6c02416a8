/*
 * phone_jobs.h - the durable jobs of a phone-number change (R3, issue #17; the wf_phone
 * machine, workflows/wf_phone.h; routes in routes_admin_phone.c).  Every SMS and every call
 * to the ident provider of a change is one of these, enqueued through the outbox in the
 * transaction that decided it (ra/db/outbox.h), and each records what it did with its audit
 * record (R16).
 *
 *   phone_sms {"phone_change_id", "what": "code"}     a random confirmation code by SMS to the
 *                NEW number; only its scrypt hash is stored.  A re-run before the SMS is recorded
 *                makes a new code (the one of the run that crashed was never recorded as sent and
 *                no longer works); after it, nothing.
 *   phone_sms {"phone_change_id", "what": "notice"}   the OLD number is told the change completed
 *   phone_ident {"phone_change_id"}                    start the video identification at the
 *                provider under the change's own transaction number, mail the link to the user
 *   phone_ident_result {"phone_change_id", "tx", "claimed"}   enqueued by the ident callback
 *                (ra/flows/ident/ident_callback.c) for a change's transaction number: fetch the
 *                provider's record, match it to the user's identity data (names as R7 compares
 *                them, and the birth date), decide ident_passed (code to the new number) or
 *                ident_failed (the change is cancelled)
 */
#ifndef RA_PHONE_JOBS_H
#define RA_PHONE_JOBS_H

#include "ra/jobs/jobs.h"

#define PHONE_JOB_SMS "phone_sms"
#define PHONE_JOB_IDENT "phone_ident"
#define PHONE_JOB_IDENT_RESULT "phone_ident_result" /* the name ident_callback.c enqueues */
#define PHONE_CODE_DIGITS 8

void phone_sms_run(struct job *job);
void phone_ident_run(struct job *job);
void phone_ident_result_run(struct job *job);

#endif
