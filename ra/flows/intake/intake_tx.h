/*
 * intake_tx.h - the order transaction of a paid, waiting or cancelled delivery (intake_tx.c).
 */
#ifndef RA_INTAKE_TX_H
#define RA_INTAKE_TX_H

#include "ra/flows/intake/intake_req.h"

/* Runs the order transaction and replies; r is freed when the reply has gone. */
void intake_tx_start(struct intake_req *r);

#endif
