/*
 * fuzz_webhook.c - libFuzzer target: the WooCommerce order webhook body (woo_order_parse)
 * and its signature check (woo_signature_ok), as a hostile shop or a man in the middle would
 * send them.  Input: the body; the signature header is its first line when it has several.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "ra/flows/intake/woo.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct woo_order *o = NULL;
	struct ra_err err = {0};
	const char *nl = memchr(data, '\n', size);
	char *sig;

	if (woo_order_parse((const char *)data, size, &o, &err) == 0) {
		/* what the intake reads of a parsed order */
		(void)woo_status_str(o->status);
		(void)woo_status_is_paid(o->status);
	}
	woo_order_free(o);
	(void)woo_is_ping("application/x-www-form-urlencoded", (const char *)data, size);
	(void)woo_is_ping("application/json", (const char *)data, size);
	sig = strndup((const char *)data, nl ? (size_t)(nl - (const char *)data) : size);
	if (sig != NULL)
		(void)woo_signature_ok("fuzz-shop-secret", data, size, sig);
	free(sig);
	return 0;
}
