/*
 * cab_err.c - error values of the CA bridge, and the small enums' names (reason codes,
 * classes, key algorithms) so the service can map its strings in one place.
 */
#include "ca-bridge/cab_int.h"

#include <openssl/err.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

int cab_err_set(struct cab_err *err, int code, const char *field, const char *fmt, ...)
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

int cab_err_ossl(struct cab_err *err, int code, const char *what)
{
	char buf[160] = "";
	unsigned long e = ERR_peek_last_error();

	if (e != 0)
		ERR_error_string_n(e, buf, sizeof(buf));
	ERR_clear_error();
	return cab_err_set(err, code, "", "%s%s%s", what, buf[0] ? ": " : "", buf);
}

const char *cab_strerror(int code)
{
	switch (code) {
	case CAB_OK:
		return "ok";
	case CAB_E_INVALID:
		return "invalid argument";
	case CAB_E_PROFILE:
		return "request outside the certificate profile";
	case CAB_E_NOTFOUND:
		return "not found";
	case CAB_E_ALREADY_REVOKED:
		return "already revoked";
	case CAB_E_TOKEN:
		return "PKCS#11 token error";
	case CAB_E_CA:
		return "CA error";
	case CAB_E_IO:
		return "I/O error";
	case CAB_E_NOMEM:
		return "out of memory";
	case CAB_E_CONFLICT:
		return "conflict";
	case CAB_E_REJECTED:
		return "rejected by the CA";
	case CAB_E_KEK:
		return "unknown KEK version or undecryptable wrapped key";
	case CAB_E_DESTROYED:
		return "key destroyed";
	default:
		return "unknown error";
	}
}

static const struct {
	enum cab_reason code;
	const char *name;
} reasons[] = {
	{CAB_REASON_UNSPECIFIED, "unspecified"},
	{CAB_REASON_KEY_COMPROMISE, "keyCompromise"},
	{CAB_REASON_AFFILIATION_CHANGED, "affiliationChanged"},
	{CAB_REASON_SUPERSEDED, "superseded"},
	{CAB_REASON_CESSATION_OF_OPERATION, "cessationOfOperation"},
	{CAB_REASON_PRIVILEGE_WITHDRAWN, "privilegeWithdrawn"},
};

int cab_reason_parse(const char *s, enum cab_reason *out)
{
	for (size_t i = 0; s != NULL && i < sizeof(reasons) / sizeof(reasons[0]); i++) {
		if (strcmp(s, reasons[i].name) == 0) {
			*out = reasons[i].code;
			return 0;
		}
	}
	return CAB_E_INVALID;
}

const char *cab_reason_name(enum cab_reason r)
{
	for (size_t i = 0; i < sizeof(reasons) / sizeof(reasons[0]); i++) {
		if (reasons[i].code == r)
			return reasons[i].name;
	}
	return NULL;
}

int cab_class_parse(const char *s, enum cab_class *out, struct cab_err *err)
{
	if (s != NULL && strcmp(s, "qualified") == 0)
		*out = CAB_CLASS_QUALIFIED;
	else if (s != NULL && strcmp(s, "advanced") == 0)
		*out = CAB_CLASS_ADVANCED;
	else if (s != NULL && strcmp(s, "seal") == 0)
		*out = CAB_CLASS_SEAL;
	else
		return cab_err_set(err, CAB_E_PROFILE, "class", "unknown certificate class");
	return 0;
}

const char *cab_class_name(enum cab_class cls)
{
	switch (cls) {
	case CAB_CLASS_QUALIFIED:
		return "qualified";
	case CAB_CLASS_ADVANCED:
		return "advanced";
	case CAB_CLASS_SEAL:
		return "seal";
	default:
		return NULL;
	}
}

int cab_alg_parse(const char *s, enum cab_alg *out)
{
	if (s != NULL && strcmp(s, "ec-p256") == 0)
		*out = CAB_ALG_EC_P256;
	else if (s != NULL && strcmp(s, "rsa-3072") == 0)
		*out = CAB_ALG_RSA_3072;
	else
		return CAB_E_INVALID;
	return 0;
}
