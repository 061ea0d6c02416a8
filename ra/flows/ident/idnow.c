/* idnow.c - IDnow VideoIdent results into struct idnow_ident (Jansson); see idnow.h. */
#include "ra/flows/ident/idnow.h"

#include <ctype.h>
#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ra/base/jsonbody.h"
#include "ra/base/safetext.h"

static const char *const result_names[] = {
	[IDNOW_SUCCESS] = "SUCCESS",
	[IDNOW_SUCCESS_DATA_CHANGED] = "SUCCESS_DATA_CHANGED",
	[IDNOW_REVIEW_PENDING] = "REVIEW_PENDING",
	[IDNOW_CHECK_PENDING] = "CHECK_PENDING",
	[IDNOW_FRAUD_SUSPICION_PENDING] = "FRAUD_SUSPICION_PENDING",
	[IDNOW_ABORTED] = "ABORTED",
	[IDNOW_CANCELED] = "CANCELED",
	[IDNOW_FRAUD_SUSPICION_CONFIRMED] = "FRAUD_SUSPICION_CONFIRMED",
	[IDNOW_FAILED] = "FAILED",
};

static const char *const status_names[] = {
	[IDNOW_ABSENT] = "ABSENT", [IDNOW_MATCH] = "MATCH",       [IDNOW_CHANGE] = "CHANGE",
	[IDNOW_NEW] = "NEW",       [IDNOW_ORIGINAL] = "ORIGINAL",
};

#define COUNT(a) (sizeof(a) / sizeof((a)[0]))

const char *idnow_result_str(enum idnow_result r)
{
	return (size_t)r < COUNT(result_names) ? result_names[r] : "UNKNOWN";
}

const char *idnow_status_str(enum idnow_status s)
{
	return (size_t)s < COUNT(status_names) ? status_names[s] : "UNKNOWN";
}

int idnow_result_is_success(enum idnow_result r)
{
	return r == IDNOW_SUCCESS || r == IDNOW_SUCCESS_DATA_CHANGED;
}

int idnow_result_is_pending(enum idnow_result r)
{
	return r == IDNOW_REVIEW_PENDING || r == IDNOW_CHECK_PENDING || r == IDNOW_FRAUD_SUSPICION_PENDING;
}

static int lookup(const char *const *names, size_t n, const char *s)
{
	for (size_t i = 0; i < n; i++)
		if (names[i] != NULL && strcmp(s, names[i]) == 0)
			return (int)i;
	return -1;
}

/* obj[key] as a malloc'd string; absent or null is NULL (an error when required). */
static int get_str(json_t *obj, const char *key, const char *path, bool required, char **out,
		   struct ra_err *err)
{
	json_t *v = json_object_get(obj, key);
	char why[96];

	*out = NULL;
	if (v == NULL || json_is_null(v) || (json_is_string(v) && json_string_length(v) == 0)) {
		if (required)
			return ra_err_set(err, RA_E_INVALID, path, "%s is missing", path);
		return 0;
	}
	if (!json_is_string(v))
		return ra_err_set(err, RA_E_INVALID, path, "%s must be a string", path);
	/* issue #20: names from the provider reach the database, the review and a support
	 * person's terminal: printable text only; a record that is not is malformed */
	if (safetext_check_field(json_string_value(v), why, sizeof(why)) != 0)
		return ra_err_set(err, RA_E_INVALID, path, "%s holds %s", path, why);
	*out = strdup(json_string_value(v));
	if (*out == NULL)
		return ra_err_set(err, RA_E_NOMEM, path, "out of memory");
	return 0;
}

/* YYYY-MM-DD with a plausible month and day: dates are evidence, not free text. */
static bool is_date(const char *s)
{
	static const char shape[] = "dddd-dd-dd";
	int month, day;

	if (strlen(s) != sizeof(shape) - 1)
		return false;
	for (size_t i = 0; i < sizeof(shape) - 1; i++)
		if (shape[i] == 'd' ? !isdigit((unsigned char)s[i]) : s[i] != shape[i])
			return false;
	month = (s[5] - '0') * 10 + (s[6] - '0');
	day = (s[8] - '0') * 10 + (s[9] - '0');
	return month >= 1 && month <= 12 && day >= 1 && day <= 31;
}

/* How one {value, status, original} field is read. */
struct field_spec {
	const char *key;
	bool required; /* for success results only */
	bool date;
	size_t offset; /* of the struct idnow_field within struct idnow_ident */
};

static int parse_field(json_t *section, const char *sname, const struct field_spec *spec, bool success,
		       struct idnow_ident *id, struct ra_err *err)
{
	struct idnow_field *f = (struct idnow_field *)((char *)id + spec->offset);
	json_t *obj = json_object_get(section, spec->key);
	char path[96], *status = NULL;
	int rc, st;

	snprintf(path, sizeof(path), "%s.%s", sname, spec->key);
	if (obj == NULL || json_is_null(obj)) {
		if (spec->required && success)
			return ra_err_set(err, RA_E_INVALID, path, "%s is missing", path);
		return 0;
	}
	if (!json_is_object(obj))
		return ra_err_set(err, RA_E_INVALID, path, "%s must be an object", path);
	snprintf(path, sizeof(path), "%s.%s.value", sname, spec->key);
	rc = get_str(obj, "value", path, spec->required && success, &f->value, err);
	if (rc != 0)
		return rc;
	if (f->value != NULL && spec->date && !is_date(f->value))
		return ra_err_set(err, RA_E_INVALID, path, "%s is not a YYYY-MM-DD date", path);
	snprintf(path, sizeof(path), "%s.%s.original", sname, spec->key);
	rc = get_str(obj, "original", path, false, &f->original, err);
	if (rc != 0)
		return rc;
	snprintf(path, sizeof(path), "%s.%s.status", sname, spec->key);
	rc = get_str(obj, "status", path, true, &status, err);
	if (rc != 0)
		return rc;
	st = lookup(status_names, COUNT(status_names), status);
	free(status);
	if (st <= IDNOW_ABSENT)
		return ra_err_set(err, RA_E_INVALID, path, "%s is not a known status", path);
	f->status = (enum idnow_status)st;
	return 0;
}

#define F(sect, name, req, date)                                          \
	{                                                                 \
#name, req, date, offsetof(struct idnow_ident, sect.name) \
	}

static const struct field_spec user_fields[] = {
	F(user, firstname, true, false),   F(user, lastname, true, false),     F(user, birthday, true, true),
	F(user, birthplace, false, false), F(user, nationality, false, false),
};

static const struct field_spec doc_fields[] = {
	F(doc, type, true, false),      F(doc, number, true, false),     F(doc, country, false, false),
	F(doc, issuedby, false, false), F(doc, dateissued, false, true), F(doc, validuntil, false, true),
};

static int parse_section(json_t *root, const char *sname, const struct field_spec *specs, size_t n,
			 bool success, struct idnow_ident *id, struct ra_err *err)
{
	json_t *section = json_object_get(root, sname);

	if (section == NULL || json_is_null(section)) {
		if (success)
			return ra_err_set(err, RA_E_INVALID, sname, "%s is missing", sname);
		return 0;
	}
	if (!json_is_object(section))
		return ra_err_set(err, RA_E_INVALID, sname, "%s must be an object", sname);
	for (size_t i = 0; i < n; i++) {
		int rc = parse_field(section, sname, &specs[i], success, id, err);

		if (rc != 0)
			return rc;
	}
	return 0;
}

/* identificationprocess.*: who, when, and the verdict. */
static int parse_process(json_t *root, struct idnow_ident *id, bool *success, struct ra_err *err)
{
	json_t *p = json_object_get(root, "identificationprocess");
	char *result = NULL;
	int rc, r;

	if (!json_is_object(p))
		return ra_err_set(err, RA_E_INVALID, "identificationprocess",
				  "identificationprocess must be an object");
	rc = get_str(p, "transactionnumber", "identificationprocess.transactionnumber", true,
		     &id->transaction_number, err);
	if (rc != 0)
		return rc;
	rc = get_str(p, "result", "identificationprocess.result", true, &result, err);
	if (rc != 0)
		return rc;
	r = lookup(result_names, COUNT(result_names), result);
	free(result);
	if (r < 0)
		return ra_err_set(err, RA_E_INVALID, "identificationprocess.result",
				  "identificationprocess.result is not a known result");
	id->result = (enum idnow_result)r;
	*success = idnow_result_is_success(id->result);
	rc = get_str(p, "reason", "identificationprocess.reason", false, &id->reason, err);
	if (rc == 0)
		rc = get_str(p, "id", "identificationprocess.id", *success, &id->ident_id, err);
	if (rc == 0)
		rc = get_str(p, "agentname", "identificationprocess.agentname", *success, &id->agent, err);
	if (rc == 0)
		rc = get_str(p, "identificationtime", "identificationprocess.identificationtime", *success,
			     &id->time, err);
	return rc;
}

static int parse_root(json_t *root, struct idnow_ident *id, struct ra_err *err)
{
	bool success = false;
	int rc;

	rc = parse_process(root, id, &success, err);
	if (rc != 0)
		return rc;
	rc = parse_section(root, "userdata", user_fields, COUNT(user_fields), success, id, err);
	if (rc != 0)
		return rc;
	return parse_section(root, "identificationdocument", doc_fields, COUNT(doc_fields), success, id, err);
}

int idnow_parse(const char *body, size_t len, struct idnow_ident **out, struct ra_err *err)
{
	struct idnow_ident *id = NULL;
	json_t *root;
	int rc;

	*out = NULL;
	root = json_body_object(body, len, err);
	if (root == NULL)
		return err ? err->code : RA_E_INVALID;
	id = calloc(1, sizeof(*id));
	if (id == NULL) {
		rc = ra_err_set(err, RA_E_NOMEM, "", "out of memory");
		goto out;
	}
	rc = parse_root(root, id, err);
	if (rc == 0) {
		*out = id;
		id = NULL;
	}
out:
	idnow_ident_free(id);
	json_decref(root);
	return rc;
}

static void field_free(struct idnow_field *f)
{
	free(f->value);
	free(f->original);
}

void idnow_ident_free(struct idnow_ident *id)
{
	if (id == NULL)
		return;
	for (size_t i = 0; i < COUNT(user_fields); i++)
		field_free((struct idnow_field *)((char *)id + user_fields[i].offset));
	for (size_t i = 0; i < COUNT(doc_fields); i++)
		field_free((struct idnow_field *)((char *)id + doc_fields[i].offset));
	free(id->transaction_number);
	free(id->reason);
	free(id->ident_id);
	free(id->agent);
	free(id->time);
	free(id);
}
