/* err.c - error values and their names; see err.h. */
#include "ra/base/err.h"

#include <stdio.h>
#include <string.h>

int ra_err_set(struct ra_err *err, int code, const char *field, const char *fmt, ...)
{
	va_list ap;

	if (err == NULL)
		return code;
	err->code = code;
	snprintf(err->field, sizeof(err->field), "%s", field ? field : "");
	va_start(ap, fmt);
	vsnprintf(err->msg, sizeof(err->msg), fmt, ap);
	va_end(ap);
	return code;
}

static const struct {
	int code;
	const char *name;
	const char *text;
} names[] = {
	{RA_OK, "ok", "success"},
	{RA_E_INVALID, "invalid", "invalid input"},
	{RA_E_NOTFOUND, "not_found", "not found"},
	{RA_E_CONFLICT, "conflict", "conflicts with the current state"},
	{RA_E_RULE, "rule", "refused by a domain rule"},
	{RA_E_UNAVAILABLE, "unavailable", "service temporarily unavailable"},
	{RA_E_AUTH, "unauthorized", "authentication required"},
	{RA_E_FORBIDDEN, "forbidden", "not allowed"},
	{RA_E_TOOLARGE, "too_large", "request too large"},
	{RA_E_INTERNAL, "internal", "internal error"},
	{RA_E_CONFIG, "config", "configuration error"},
	{RA_E_NOMEM, "no_memory", "out of memory"},
	{RA_E_IO, "io", "input/output error"},
	{RA_E_TIMEOUT, "timeout", "timed out"},
	{RA_E_METHOD, "method_not_allowed", "method not allowed"},
	{RA_E_MEDIATYPE, "unsupported_media_type", "unsupported media type"},
	{RA_E_HEADERS, "headers_too_large", "request headers too large"},
	{RA_E_BUSY, "busy", "peer busy or its circuit breaker open"},
};

const char *ra_errname(int code)
{
	for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++)
		if (names[i].code == code)
			return names[i].name;
	return "internal";
}

const char *ra_strerror(int code)
{
	for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++)
		if (names[i].code == code)
			return names[i].text;
	return "unknown error";
}
