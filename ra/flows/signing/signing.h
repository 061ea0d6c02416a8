/*
 * signing.h - the signing service's side of the RA (issue #13; R9, R11, R12, R13, R20): a
 * certificate becomes usable when the user activates it with the TransportPIN through the
 * signing service; the signing service reports what only it sees (a lock after wrong
 * ActivationPINs or TANs, the authenticator app registered or de-registered); and it reads the
 * user's credentials in the shape of the Cloud Signature Consortium API v2.0.  The rules, the
 * routes and what is deliberately not served are in docs/signing.md.
 *
 *   POST /v1/signing/activations   activation.c   TransportPIN -> issued becomes active
 *   POST /v1/signing/events        events.c       locked, app_registered, app_deregistered
 *   POST /csc/v2/credentials/list  csc.c          the user's credentials (CSC error format)
 *   POST /csc/v2/credentials/info  csc.c          one credential (csc_cred.c builds it)
 *
 * Every route takes only a `signing` token (ra token create --role signing), checked through
 * the admin flow's token table, and no signing token passes elsewhere.  So this flow sits on
 * top of the others (signing -> admin -> ident -> cert -> intake); nothing includes it but the
 * composition root.  No job kinds: nothing here talks to the outside world.
 */
#ifndef RA_SIGNING_H
#define RA_SIGNING_H

#include "ra/base/app.h"
#include "ra/base/err.h"

/* The server module (server.c modules[]): the routes and the check of signing.* keys. */
int signing_init(struct app *app, struct ra_err *err);

#endif
