/*
 * jsonbody.h - parse a request or response body that must be one JSON object.  Duplicate
 * keys are refused: two "id"s in signed bytes must not let them mean two things.
 */
#ifndef RA_JSONBODY_H
#define RA_JSONBODY_H

#include <jansson.h>
#include <stddef.h>

#include "ra/base/err.h"

/* New reference, or NULL with err (RA_E_INVALID, field "body") filled. */
json_t *json_body_object(const char *body, size_t len, struct ra_err *err);

#endif
