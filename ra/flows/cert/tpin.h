/*
 * tpin.h - the transport_pin job (R11): a random TransportPIN, its scrypt hash on the
 * certificate, the PIN by SMS (tpin.c has the steps and why a re-run never sends a second,
 * different PIN).  Payload {"certificate_id": "..."}.
 */
#ifndef RA_TPIN_H
#define RA_TPIN_H

#include "ra/jobs/jobs.h"

#define TPIN_MAX_ATTEMPTS 30

void tpin_run(struct job *job);

#endif
