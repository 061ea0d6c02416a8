/*
 * fuzz_jsonbody.c - libFuzzer target: every JSON request body goes through json_body_object
 * (one object, duplicate keys refused, size and depth limits) before a handler reads it.
 */
#include <jansson.h>
#include <stdint.h>

#include "ra/base/jsonbody.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct ra_err err = {0};
	json_t *j = json_body_object((const char *)data, size, &err);

	json_decref(j);
	return 0;
}
