/* jsonbody.c - one JSON object from a body; see jsonbody.h. */
#include "ra/base/jsonbody.h"

json_t *json_body_object(const char *body, size_t len, struct ra_err *err)
{
	json_error_t je;
	json_t *j;

	if (body == NULL || len == 0) {
		ra_err_set(err, RA_E_INVALID, "body", "body is empty");
		return NULL;
	}
	j = json_loadb(body, len, JSON_REJECT_DUPLICATES, &je);
	if (j == NULL) {
		ra_err_set(err, RA_E_INVALID, "body", "body is not JSON: %s (line %d, column %d)", je.text,
			   je.line, je.column);
		return NULL;
	}
	if (!json_is_object(j)) {
		json_decref(j);
		ra_err_set(err, RA_E_INVALID, "body", "body must be a JSON object");
		return NULL;
	}
	return j;
}
