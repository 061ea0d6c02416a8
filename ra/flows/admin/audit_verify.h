/*
 * audit_verify.h - verification of the audit chain (R16) for `ra audit verify`: walks the
 * whole chain and recomputes every hash (ra/db/audit.h's audit_hash); docs/audit.md.
 */
#ifndef RA_AUDIT_VERIFY_H
#define RA_AUDIT_VERIFY_H

#include "ra/base/config.h"
#include "ra/base/err.h"
#include "ra/db/audit.h"

struct audit_report {
	long long count; /* records checked */
	long long bad_seq; /* first broken record, 0 when the chain is whole */
	char head_hash[65]; /* hash of the newest record (anchor it outside the database) */
	long long head_seq;
	char why[256]; /* what is wrong with bad_seq */
	long long pending; /* committed records not chained yet (docs/audit.md "Sequencer") */
	double pending_oldest_s; /* age of the oldest of them; 0 when none */
	long long checkpoints; /* signed checkpoints whose tree head and signature were checked */
};

/* Walks the whole chain in seq order (blocking libpq: for the CLI, never the loop).
 * Returns 0 when whole, RA_E_RULE when broken (report says where), or another error. */
int audit_verify(const char *conninfo, struct audit_report *rep, struct ra_err *err);

/* `ra audit verify`: argv[0] is the subcommand.  Exit status 0 whole, 1 broken, 2 error. */
int audit_cmd(struct config *cfg, int argc, char **argv);

#endif
