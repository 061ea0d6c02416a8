/*
 * bulk.h - bulk revocation (issue #17): the admin API routes (POST /v1/admin/bulk-revocations,
 * GET /v1/admin/bulk-revocations/{id}, in routes_admin.c's tables) and the job kind
 * 'bulk_revoke' that revokes one certificate of a bulk revocation (server.c registers it).
 * admin_job_kinds also carries the phone-change jobs (phone_jobs.h).
 */
#ifndef RA_BULK_H
#define RA_BULK_H

#include "ra/jobs/jobs.h"

extern const struct job_kind admin_job_kinds[];

#endif
