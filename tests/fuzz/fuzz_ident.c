/*
 * fuzz_ident.c - libFuzzer target: the identification result the RA fetches from the ident
 * provider (idnow_parse), which a compromised or impersonated provider controls.
 */
#include <stdint.h>

#include "ra/flows/ident/idnow.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct idnow_ident *id = NULL;
	struct ra_err err = {0};

	if (idnow_parse((const char *)data, size, &id, &err) == 0) {
		(void)idnow_result_str(id->result);
		(void)idnow_result_is_success(id->result);
		(void)idnow_result_is_pending(id->result);
	}
	idnow_ident_free(id);
	return 0;
}
