/*
 * ident_decide.h - what an identification result means for its order (R7): the pure
 * decision, kept apart from I/O so every branch is unit-tested.  The order machine
 * (workflows/wf_order.c) is asked for every transition, so its guards (R7 match, R7 passed
 * with proof, attempts) are the ones that decide.
 */
#ifndef RA_IDENT_DECIDE_H
#define RA_IDENT_DECIDE_H

#include "ra/flows/ident/idnow.h"
#include "ra/base/names.h"

enum ident_outcome {
	IDENT_WAIT, /* a pending result: nothing changes */
	IDENT_ISSUE, /* ident_passed, then issuing: certificates for every request */
	IDENT_REVIEW, /* in_review: support decides (data changed, names, proof) */
	IDENT_REJECT, /* rejected for good (fraud) */
	IDENT_RETRY, /* failed, new invitation (attempts left) */
	IDENT_FAILED, /* failed, no attempt left */
};

struct ident_case {
	enum idnow_result result;
	const char *order_first, *order_last; /* from the shop */
	const char *ident_first, *ident_last; /* verified by the provider */
	const char *order_birth, *ident_birth; /* YYYY-MM-DD; order_birth NULL when the shop sent none */
	int needs_proof; /* variant 2 whose organisation no contract vouches for */
	int cert_class; /* enum wf_class of the order's requests (R1) */
	int attempts; /* identification attempts made, this one included */
	int max_attempts; /* ident.max_attempts */
};

struct ident_decision {
	enum ident_outcome outcome;
	int next_state; /* enum wf_order_state the order ends in */
	enum name_match names; /* the worse of first and last name */
	const char *why; /* static text for audit and review */
	const char *event; /* the first order event fired (its name), NULL for IDENT_WAIT */
};

/* Decides for an order in ident_invited.  0, or a negative WF_E_* when the order machine
 * refuses something it should not (a bug: the caller fails the job). */
int ident_decide(const struct ident_case *c, struct ident_decision *d);

const char *ident_outcome_str(enum ident_outcome o);
/* "exact", "needs_review", "mismatch" (the identifications.name_match values). */
const char *ident_names_str(enum name_match m);

#endif
