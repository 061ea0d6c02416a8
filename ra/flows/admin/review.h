/*
 * review.h - deciding an order's manual review (R7, R19) from the command line:
 * `ra order approve ORDER --by NAME` and `ra order reject ORDER --by NAME` (the admin API and
 * ractl take this over in #7).  An approval moves the order through the order machine
 * (review_approve, then issue_start with the proof approved) and creates its certificates
 * and cert_issue jobs in the same transaction as the state change and its audit record.
 * R19: the approver may be neither the order's subject (support_staff links a support user
 * to their own customer account; a support name that reads as the customer's name counts
 * too) nor whoever opened the review or created the order's contract.
 * Blocking libpq: CLI only, never on the service's loop.
 */
#ifndef RA_REVIEW_H
#define RA_REVIEW_H

#include <stddef.h>

#include "ra/base/config.h"
#include "ra/base/err.h"

/* approve = 1 approves, 0 rejects.  order_ref: the RA order id or the shop's order number
 * (the RA id wins, as in order show); the RA order id decided goes to order_id.  by: the
 * support user's name (audit actor "support:<by>").  dry_run: everything is checked and
 * written, then rolled back.  0, or RA_E_NOTFOUND, RA_E_CONFLICT (not in review), RA_E_RULE
 * (err->field names the rule: "R19", "R7"), RA_E_UNAVAILABLE, RA_E_INTERNAL. */
int review_decide(const struct config *cfg, const char *order_ref, int approve, const char *by,
		  const char *comment, int dry_run, char *order_id, size_t cap, struct ra_err *err);

/* `ra order approve|reject ORDER --by NAME [--comment TEXT]`: argv[0] is the subcommand.
 * Exit status 0 done, 1 refused, 2 usage or error. */
int review_cmd(struct config *cfg, int argc, char **argv);

#endif
