/*
 * phone_confirm.h - POST /v1/signing/phone-changes/confirm (R3, issue #17): the user confirms
 * the new mobile number of an approved phone change (workflows/wf_phone.h) with the code the
 * RA sent there by SMS; the signing service, through which the user's app reaches the RA,
 * relays it.  The right code completes the change: the user keeps their user ID and
 * certificates, users.phone_e164 becomes the new number, the old number is told by SMS.  A
 * wrong code is counted and audited; the last allowed try (signing.phone_code_max_tries)
 * cancels the change.  phone_confirm.c has the steps.
 */
#ifndef RA_SIGNING_PHONE_CONFIRM_H
#define RA_SIGNING_PHONE_CONFIRM_H

#include "ra/net/http.h"

void phone_confirm_route(struct http_req *hr);

#endif
