/*
 * ident_apply.h - the transaction that stores an identification decision (ident_apply.c).
 */
#ifndef RA_IDENT_APPLY_H
#define RA_IDENT_APPLY_H

#include "ra/flows/ident/ident_run.h"

/* Stores the decision, its evidence and its effects in one transaction, then ends the run. */
void ident_apply(struct ident_run *r);

#endif
