/*
 * cab_profile.c - the certificate profiles (R1, R4, R5) as every back-end checks them before a
 * request goes to a CA: which subject a class needs and how long it may be valid.  The
 * extensions a profile puts into the certificate are the CA's part: local/local_profile.c for
 * the local CA, the remote CA's own for backend "cmp".
 *
 *   qualified  ETSI EN 319 412-2 natural person (C, GN, SN, serialNumber, CN; variant 2 adds
 *              O and title together, R4); at most 5 years (default 5)
 *   advanced   the same subject; at most 10 years (default 10)
 *   seal       the organisation (C, O, organizationIdentifier, CN; no person names); at most
 *              10 years (default 10)
 * A request outside its profile is refused with CAB_E_PROFILE and the field, never fixed up.
 */
#include "ca-bridge/cab_int.h"

#include <openssl/err.h>
#include <openssl/objects.h>
#include <stdio.h>
#include <string.h>

static int set(const char *s)
{
	return s != NULL && s[0] != '\0';
}

static int need(const char *value, const char *field, struct cab_err *err)
{
	if (set(value))
		return 0;
	return cab_err_set(err, CAB_E_PROFILE, field, "%s is required by the profile", field);
}

static int must_not(const char *value, const char *field, struct cab_err *err)
{
	if (!set(value))
		return 0;
	return cab_err_set(err, CAB_E_PROFILE, field, "%s is not part of a seal's subject", field);
}

static int check_person(const struct cab_subject *s, struct cab_err *err)
{
	int rc;

	if ((rc = need(s->country, "subject.country", err)) != 0 ||
	    (rc = need(s->given_name, "subject.given_name", err)) != 0 ||
	    (rc = need(s->surname, "subject.surname", err)) != 0 ||
	    (rc = need(s->serial_number, "subject.serial_number", err)) != 0 ||
	    (rc = need(s->common_name, "subject.common_name", err)) != 0)
		return rc;
	/* R4: variant 2 carries exactly one organisation AND one function, or neither. */
	if (set(s->organization) != set(s->title))
		return cab_err_set(err, CAB_E_PROFILE,
				   set(s->title) ? "subject.organization" : "subject.title",
				   "variant 2 needs both organization and title (R4)");
	if (set(s->organization_identifier) && !set(s->organization))
		return cab_err_set(err, CAB_E_PROFILE, "subject.organization",
				   "organization_identifier without organization");
	return 0;
}

static int check_seal(const struct cab_subject *s, struct cab_err *err)
{
	int rc;

	if ((rc = need(s->country, "subject.country", err)) != 0 ||
	    (rc = need(s->organization, "subject.organization", err)) != 0 ||
	    (rc = need(s->organization_identifier, "subject.organization_identifier", err)) != 0 ||
	    (rc = need(s->common_name, "subject.common_name", err)) != 0 ||
	    (rc = must_not(s->given_name, "subject.given_name", err)) != 0 ||
	    (rc = must_not(s->surname, "subject.surname", err)) != 0 ||
	    (rc = must_not(s->title, "subject.title", err)) != 0)
		return rc;
	return 0;
}

int cab_profile_check(const struct cab_request *req, int *years, struct cab_err *err)
{
	int max, rc;

	switch (req->cls) {
	case CAB_CLASS_QUALIFIED:
		max = 5;
		rc = check_person(&req->subject, err);
		break;
	case CAB_CLASS_ADVANCED:
		max = 10;
		rc = check_person(&req->subject, err);
		break;
	case CAB_CLASS_SEAL:
		max = 10;
		rc = check_seal(&req->subject, err);
		break;
	default:
		return cab_err_set(err, CAB_E_PROFILE, "class", "unknown certificate class");
	}
	if (rc != 0)
		return rc;
	/* R5: at most 5 (qualified) / 10 (advanced) years; longer is refused, not shortened */
	if (req->validity_years < 0 || req->validity_years > max)
		return cab_err_set(err, CAB_E_PROFILE, "validity_years",
				   "validity of %d years outside the profile (at most %d, R5)",
				   req->validity_years, max);
	*years = req->validity_years ? req->validity_years : max;
	return 0;
}

static int add_rdn(X509_NAME *name, int nid, const char *value, const char *field, struct cab_err *err)
{
	if (!set(value))
		return 0;
	/* MBSTRING_UTF8 checks the UTF-8 and applies X.520's string type and length limits:
	 * C and serialNumber become PrintableString, names UTF8String. */
	if (!X509_NAME_add_entry_by_NID(name, nid, MBSTRING_UTF8, (const unsigned char *)value, -1, -1, 0)) {
		ERR_clear_error();
		return cab_err_set(err, CAB_E_PROFILE, field,
				   "%s: invalid UTF-8, characters or length for its X.520 type", field);
	}
	return 0;
}

int cab_profile_subject(const struct cab_subject *s, enum cab_class cls, X509_NAME **out, struct cab_err *err)
{
	X509_NAME *name = X509_NAME_new();
	int rc;

	(void)cls; /* the order is the same for every class; absent attributes are skipped */
	if (name == NULL)
		return cab_err_set(err, CAB_E_NOMEM, "", "out of memory");
	if (set(s->country) && strlen(s->country) != 2) {
		rc = cab_err_set(err, CAB_E_PROFILE, "subject.country", "country must be ISO 3166-1 alpha-2");
		goto fail;
	}
	if ((rc = add_rdn(name, NID_countryName, s->country, "subject.country", err)) != 0 ||
	    (rc = add_rdn(name, NID_organizationName, s->organization, "subject.organization", err)) != 0 ||
	    (rc = add_rdn(name, NID_organizationIdentifier, s->organization_identifier,
			  "subject.organization_identifier", err)) != 0 ||
	    (rc = add_rdn(name, NID_title, s->title, "subject.title", err)) != 0 ||
	    (rc = add_rdn(name, NID_surname, s->surname, "subject.surname", err)) != 0 ||
	    (rc = add_rdn(name, NID_givenName, s->given_name, "subject.given_name", err)) != 0 ||
	    (rc = add_rdn(name, NID_serialNumber, s->serial_number, "subject.serial_number", err)) != 0 ||
	    (rc = add_rdn(name, NID_commonName, s->common_name, "subject.common_name", err)) != 0)
		goto fail;
	*out = name;
	return 0;
fail:
	X509_NAME_free(name);
	return rc;
}
