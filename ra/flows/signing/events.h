/*
 * events.h - POST /v1/signing/events: what only the signing service sees, applied to the user
 * machine (workflows/wf_user.h).
 *   locked            too many wrong ActivationPINs or TANs: lock (R13; support unlocks, the
 *                     ActivationPIN is kept)
 *   app_registered    the authenticator app is registered: the user is on the app, SMS stops (R9)
 *   app_deregistered  the app is de-registered (uninstalling is not enough): back to SMS (R9)
 * Body {"event_id", "user_id", "type", "comment"?}.  Idempotent by the caller's event_id (per
 * signing token name): a repeat answers what the first delivery did and changes nothing; the
 * same id for another user or type is refused.  A transition the machine forbids is refused
 * with a reason and changes nothing.
 */
#ifndef RA_SIGNING_EVENTS_H
#define RA_SIGNING_EVENTS_H

#include "ra/net/http.h"

void events_route(struct http_req *hr);

#endif
