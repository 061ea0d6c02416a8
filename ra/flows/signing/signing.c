/* signing.c - the signing flow's module: its routes and configuration check; see signing.h. */
#include "ra/flows/signing/signing.h"

#include "ra/base/config.h"
#include "ra/flows/signing/activation.h"
#include "ra/flows/signing/csc.h"
#include "ra/flows/signing/events.h"
#include "ra/flows/signing/phone_confirm.h"
#include "ra/net/http.h"

#define MAX_TRIES_LIMIT 20

int signing_init(struct app *app, struct ra_err *err)
{
	long long tries = cfg_int(app->cfg, "signing.transport_pin_max_tries");

	/* R20: a bound the operator can state in the CPS; 8 digits give 10^8 PINs, so even the
	 * largest allowed bound leaves a guess at one in five million */
	if (tries < 1 || tries > MAX_TRIES_LIMIT)
		return ra_err_set(err, RA_E_CONFIG, "signing.transport_pin_max_tries",
				  "signing.transport_pin_max_tries must be 1 to %d, got %lld",
				  MAX_TRIES_LIMIT, tries);
	http_route(app->http, "POST", "/v1/signing/activations", 0, "signing_activation", activation_route,
		   NULL);
	http_route(app->http, "POST", "/v1/signing/events", 0, "signing_event", events_route, NULL);
	http_route(app->http, "POST", "/v1/signing/phone-changes/confirm", 0, "signing_phone_confirm",
		   phone_confirm_route, NULL);
	/* a prefix, so that a CSC method the RA does not serve is answered in the CSC format */
	http_route(app->http, "POST", "/csc/v2/", 1, "csc", csc_route, NULL);
	return 0;
}
