// phone_shim.cc - the extern "C" face of libphonenumber for ra/phone.h (R3).
//
// The only C++ in the tree: it exists because phone-number rules (national prefixes, the
// international call prefix "00", which ranges are mobile) change with each country's
// numbering plan and libphonenumber tracks them; hand-written prefix rules would not.
// No C++ exception may cross into C, so every entry point catches everything.
#include "ra/base/phone.h"

#include <phonenumbers/phonenumber.pb.h>
#include <phonenumbers/phonenumberutil.h>

#include <cstdio>
#include <cstring>
#include <string>

using i18n::phonenumbers::PhoneNumber;
using i18n::phonenumbers::PhoneNumberUtil;

namespace
{

int fail(struct phone_err *err, int code, const char *msg)
{
	if (err != nullptr) {
		err->code = code;
		std::snprintf(err->field, sizeof(err->field), "%s", "phone");
		std::snprintf(err->msg, sizeof(err->msg), "%s", msg);
	}
	return code;
}

bool is_mobile(PhoneNumberUtil::PhoneNumberType t)
{
	// FIXED_LINE_OR_MOBILE: plans (e.g. US) where the ranges cannot be told apart.
	return t == PhoneNumberUtil::MOBILE || t == PhoneNumberUtil::FIXED_LINE_OR_MOBILE;
}

int normalize(const char *input, const char *default_country, char *e164, size_t cap, struct phone_err *err)
{
	const PhoneNumberUtil *util = PhoneNumberUtil::GetInstance();
	PhoneNumber num;
	std::string out;

	if (input == nullptr || e164 == nullptr || cap < PHONE_E164_MAX)
		return fail(err, PHONE_E_ARG, "no number or output buffer too small");
	if (default_country == nullptr || util->GetCountryCodeForRegion(default_country) == 0)
		return fail(err, PHONE_E_ARG, "default country is not a known region code");
	if (util->Parse(input, default_country, &num) != PhoneNumberUtil::NO_PARSING_ERROR)
		return fail(err, PHONE_E_PARSE, "not a phone number");
	// An extension cannot be part of E.164; dropping it would silently change the number.
	if (num.has_extension())
		return fail(err, PHONE_E_INVALID, "a mobile number has no extension");
	if (!util->IsValidNumber(num))
		return fail(err, PHONE_E_INVALID, "not a valid phone number");
	if (!is_mobile(util->GetNumberType(num)))
		return fail(err, PHONE_E_NOT_MOBILE, "not a mobile number");
	util->Format(num, PhoneNumberUtil::E164, &out);
	if (out.size() + 1 > cap)
		return fail(err, PHONE_E_ARG, "output buffer too small");
	std::memcpy(e164, out.c_str(), out.size() + 1);
	if (err != nullptr)
		err->code = PHONE_OK;
	return PHONE_OK;
}

} // namespace

extern "C" int phone_normalize(const char *input, const char *default_country, char *e164, size_t cap,
			       struct phone_err *err)
{
	try {
		return normalize(input, default_country, e164, cap, err);
	} catch (...) {
		// Only std::bad_alloc is realistic here; report it as "cannot parse".
		return fail(err, PHONE_E_PARSE, "phone number library failed");
	}
}

extern "C" const char *phone_strerror(int code)
{
	switch (code) {
	case PHONE_OK:
		return "ok";
	case PHONE_E_PARSE:
		return "not a phone number";
	case PHONE_E_INVALID:
		return "not a valid phone number";
	case PHONE_E_NOT_MOBILE:
		return "not a mobile number";
	case PHONE_E_ARG:
		return "invalid argument";
	}
	return "unknown phone error";
}
