/*
 * activation.h - POST /v1/signing/activations (R11, R12, R20): the signing service sends the
 * user ID, the credential (certificate) ID and the TransportPIN the user typed; a right PIN
 * makes the certificate active, and the user's first activation makes a pending user active
 * on SMS (R9).  activation.c has the steps and why an attempt is counted before its PIN is
 * checked.  The ActivationPIN the user sets at the signing service never reaches the RA (R12).
 */
#ifndef RA_SIGNING_ACTIVATION_H
#define RA_SIGNING_ACTIVATION_H

#include "ra/net/http.h"

void activation_route(struct http_req *hr);

#endif
