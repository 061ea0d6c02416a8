/*
 * contract.h - contract numbers (R6) from the command line: `ra contract create`.
 *
 * A company that orders several certificates gets a contract number from support in advance;
 * orders quoting it are bound to its organisation and count against its quota (the order
 * side is in intake_tx.c).  Blocking libpq: CLI only, never on the service's loop.
 */
#ifndef RA_CONTRACT_H
#define RA_CONTRACT_H

#include "ra/base/config.h"
#include "ra/base/err.h"

/* Creates an open contract, audited (R16) in the same transaction; writes its number
 * ("RA-C-000001") to number.  actor names who did it (the support user). */
int contract_create(const char *conninfo, const char *org, const char *org_id, int quota, const char *actor,
		    char *number, size_t cap, struct ra_err *err);

/* `ra contract create --org NAME [--org-id ID] --quota N [--actor NAME]`: argv[0] is "create".
 * Prints the number; returns the process exit status. */
int contract_cmd(struct config *cfg, int argc, char **argv);

#endif
