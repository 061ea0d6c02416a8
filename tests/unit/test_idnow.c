/* test_idnow.c - unit tests for ra/idnow.h: IDnow VideoIdent results (issue #5, R7, R18). */
#include "ra/flows/ident/idnow.h"

#include "tests/unit/fixture.h"

#include <criterion/criterion.h>
#include <jansson.h>
#include <string.h>

static struct idnow_ident *parse_fixture(const char *name)
{
	struct idnow_ident *id = NULL;
	struct ra_err err = {0};
	size_t len;
	char *body = fixture_read(name, &len);

	cr_assert_eq(idnow_parse(body, len, &id, &err), 0, "%s: %s", err.field, err.msg);
	free(body);
	return id;
}

static json_t *load_fixture(const char *name)
{
	json_error_t jerr;
	char *body = fixture_read(name, NULL);
	json_t *j = json_loads(body, 0, &jerr);

	cr_assert_not_null(j, "%s", jerr.text);
	free(body);
	return j;
}

/* Parses j (freed here); returns the code and the error in *err, the result in *out. */
static int parse_json(json_t *j, struct idnow_ident **out, struct ra_err *err)
{
	char *body = json_dumps(j, 0);
	int rc;

	cr_assert_not_null(body);
	memset(err, 0, sizeof(*err));
	rc = idnow_parse(body, strlen(body), out, err);
	free(body);
	json_decref(j);
	return rc;
}

static void expect_error(json_t *j, const char *field)
{
	struct idnow_ident *id = NULL;
	struct ra_err err;

	cr_expect_eq(parse_json(j, &id, &err), RA_E_INVALID, "%s: %s", field, err.msg);
	cr_expect_null(id);
	cr_expect_str_eq(err.field, field);
}

static json_t *sub(json_t *j, const char *a, const char *b)
{
	json_t *s = json_object_get(j, a);

	return b == NULL ? s : json_object_get(s, b);
}

/* R7/R18: a successful ident carries the identity and the evidence. */
Test(idnow, r7_r18_parses_success_with_evidence)
{
	struct idnow_ident *id = parse_fixture("idnow-result-success.json");

	cr_expect_str_eq(id->transaction_number, "RA-T-8F3K2Q");
	cr_expect_eq(id->result, IDNOW_SUCCESS);
	cr_expect(idnow_result_is_success(id->result));
	cr_expect_null(id->reason);
	cr_expect_str_eq(id->ident_id, "TST-QWRTZ");
	cr_expect_str_eq(id->agent, "KHUBER");
	cr_expect_str_eq(id->time, "2026-11-02T11:02:13+01:00");
	cr_expect_str_eq(id->user.firstname.value, "ANNA");
	cr_expect_eq(id->user.firstname.status, IDNOW_MATCH);
	cr_expect_str_eq(id->user.lastname.value, "GRUBER");
	cr_expect_str_eq(id->user.birthday.value, "1988-03-14");
	cr_expect_eq(id->user.birthday.status, IDNOW_NEW);
	cr_expect_str_eq(id->user.birthplace.value, "GRAZ");
	cr_expect_str_eq(id->user.nationality.value, "AT");
	cr_expect_null(id->user.lastname.original);
	cr_expect_str_eq(id->doc.type.value, "IDCARD");
	cr_expect_str_eq(id->doc.number.value, "P1234567");
	cr_expect_str_eq(id->doc.country.value, "AT");
	cr_expect_str_eq(id->doc.issuedby.value, "BH WIEN");
	cr_expect_str_eq(id->doc.dateissued.value, "2021-05-04");
	cr_expect_str_eq(id->doc.validuntil.value, "2031-05-03");
	cr_expect_eq(id->doc.validuntil.status, IDNOW_NEW);
	idnow_ident_free(id);
}

/* R7: the agent changed the last name; the original is kept for the reviewer. */
Test(idnow, r7_parses_data_changed_with_original)
{
	struct idnow_ident *id = parse_fixture("idnow-result-data-changed.json");

	cr_expect_eq(id->result, IDNOW_SUCCESS_DATA_CHANGED);
	cr_expect(idnow_result_is_success(id->result));
	cr_expect_str_eq(id->transaction_number, "RA-T-9ZP1LM");
	cr_expect_str_eq(id->agent, "MWEBER");
	cr_expect_str_eq(id->user.lastname.value, "GRUBER-NOVAK");
	cr_expect_eq(id->user.lastname.status, IDNOW_CHANGE);
	cr_expect_str_eq(id->user.lastname.original, "GRUBER");
	cr_expect_eq(id->user.firstname.status, IDNOW_MATCH);
	/* absent in this result */
	cr_expect_null(id->user.birthplace.value);
	cr_expect_eq(id->user.birthplace.status, IDNOW_ABSENT);
	cr_expect_str_eq(id->doc.type.value, "PASSPORT");
	cr_expect_str_eq(id->doc.number.value, "U7654321");
	idnow_ident_free(id);
}

/* A confirmed fraud carries no document and no birthday, and still parses. */
Test(idnow, parses_fraud_without_document)
{
	struct idnow_ident *id = parse_fixture("idnow-result-fraud.json");

	cr_expect_eq(id->result, IDNOW_FRAUD_SUSPICION_CONFIRMED);
	cr_expect_not(idnow_result_is_success(id->result));
	cr_expect_not(idnow_result_is_pending(id->result));
	cr_expect_str_eq(id->reason, "ID_FORGED");
	cr_expect_str_eq(id->transaction_number, "RA-T-0XK4RE");
	cr_expect_str_eq(id->user.lastname.value, "MUSTER");
	cr_expect_null(id->user.birthday.value);
	cr_expect_null(id->doc.number.value);
	cr_expect_eq(id->doc.number.status, IDNOW_ABSENT);
	idnow_ident_free(id);
}

Test(idnow, every_result_is_recognised_and_classified)
{
	static const enum idnow_result all[] = {
		IDNOW_SUCCESS,       IDNOW_SUCCESS_DATA_CHANGED,      IDNOW_REVIEW_PENDING,
		IDNOW_CHECK_PENDING, IDNOW_FRAUD_SUSPICION_PENDING,   IDNOW_ABORTED,
		IDNOW_CANCELED,      IDNOW_FRAUD_SUSPICION_CONFIRMED, IDNOW_FAILED,
	};

	for (size_t i = 0; i < sizeof(all) / sizeof(all[0]); i++) {
		/* the success fixture has every field, so each result parses from it */
		json_t *j = load_fixture("idnow-result-success.json");
		struct idnow_ident *id = NULL;
		struct ra_err err;
		const char *name = idnow_result_str(all[i]);

		json_object_set_new(sub(j, "identificationprocess", NULL), "result", json_string(name));
		cr_assert_eq(parse_json(j, &id, &err), 0, "%s: %s", name, err.msg);
		cr_expect_eq(id->result, all[i], "%s", name);
		cr_expect_eq(idnow_result_is_pending(id->result), strstr(name, "_PENDING") != NULL, "%s",
			     name);
		cr_expect_eq(idnow_result_is_success(id->result), strncmp(name, "SUCCESS", 7) == 0, "%s",
			     name);
		idnow_ident_free(id);
	}
}

Test(idnow, failed_listing_keeps_its_reason)
{
	json_t *j = load_fixture("idnow-result-fraud.json");
	json_t *p = sub(j, "identificationprocess", NULL);
	struct idnow_ident *id = NULL;
	struct ra_err err;

	json_object_set_new(p, "result", json_string("FAILED"));
	json_object_set_new(p, "reason", json_string("STALLED_TIMEOUT"));
	cr_assert_eq(parse_json(j, &id, &err), 0, "%s", err.msg);
	cr_expect_eq(id->result, IDNOW_FAILED);
	cr_expect_str_eq(id->reason, "STALLED_TIMEOUT");
	idnow_ident_free(id);
}

Test(idnow, missing_transaction_number_or_result_is_named)
{
	json_t *j;

	j = load_fixture("idnow-result-fraud.json");
	json_object_del(sub(j, "identificationprocess", NULL), "transactionnumber");
	expect_error(j, "identificationprocess.transactionnumber");

	j = load_fixture("idnow-result-fraud.json");
	json_object_del(sub(j, "identificationprocess", NULL), "result");
	expect_error(j, "identificationprocess.result");

	j = load_fixture("idnow-result-fraud.json");
	json_object_set_new(sub(j, "identificationprocess", NULL), "result", json_string("SUCCESS_MAYBE"));
	expect_error(j, "identificationprocess.result");

	j = load_fixture("idnow-result-fraud.json");
	json_object_del(j, "identificationprocess");
	expect_error(j, "identificationprocess");
}

/* R7: a success without the data the identity is matched on cannot be acted on. */
Test(idnow, r7_success_without_identity_or_evidence_is_named)
{
	static const struct {
		const char *section, *key, *field;
	} cases[] = {
		{"userdata", "firstname", "userdata.firstname"},
		{"userdata", "lastname", "userdata.lastname"},
		{"userdata", "birthday", "userdata.birthday"},
		{"identificationdocument", "type", "identificationdocument.type"},
		{"identificationdocument", "number", "identificationdocument.number"},
		{"identificationprocess", "id", "identificationprocess.id"},
		{"identificationprocess", "agentname", "identificationprocess.agentname"},
		{"identificationprocess", "identificationtime", "identificationprocess.identificationtime"},
		{NULL, "userdata", "userdata"},
		{NULL, "identificationdocument", "identificationdocument"},
	};

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		json_t *j = load_fixture("idnow-result-success.json");

		json_object_del(cases[i].section ? sub(j, cases[i].section, NULL) : j, cases[i].key);
		expect_error(j, cases[i].field);
	}
}

Test(idnow, malformed_field_values_are_named)
{
	json_t *j;

	j = load_fixture("idnow-result-success.json");
	json_object_del(sub(j, "userdata", "birthday"), "value");
	expect_error(j, "userdata.birthday.value");

	j = load_fixture("idnow-result-success.json");
	json_object_set_new(sub(j, "userdata", "birthday"), "value", json_string("14.03.1988"));
	expect_error(j, "userdata.birthday.value");

	j = load_fixture("idnow-result-success.json");
	json_object_set_new(sub(j, "identificationdocument", "validuntil"), "value",
			    json_string("2031-13-03"));
	expect_error(j, "identificationdocument.validuntil.value");

	j = load_fixture("idnow-result-success.json");
	json_object_set_new(sub(j, "userdata", "lastname"), "status", json_string("OK"));
	expect_error(j, "userdata.lastname.status");

	j = load_fixture("idnow-result-success.json");
	json_object_del(sub(j, "userdata", "lastname"), "status");
	expect_error(j, "userdata.lastname.status");

	j = load_fixture("idnow-result-success.json");
	json_object_set_new(sub(j, "userdata", NULL), "firstname", json_string("ANNA"));
	expect_error(j, "userdata.firstname");

	j = load_fixture("idnow-result-success.json");
	json_object_set_new(sub(j, "identificationdocument", "number"), "value", json_integer(7));
	expect_error(j, "identificationdocument.number.value");

	/* issue #20: control characters and bidi overrides in the provider's names */
	j = load_fixture("idnow-result-success.json");
	json_object_set_new(sub(j, "userdata", "firstname"), "value", json_string("ANNA\x1b]0;x\x07\x1b[2J"));
	expect_error(j, "userdata.firstname.value");

	j = load_fixture("idnow-result-success.json");
	json_object_set_new(sub(j, "userdata", "lastname"), "original", json_string("Gruber\xe2\x80\xae"));
	expect_error(j, "userdata.lastname.original");
}

Test(idnow, truncated_or_non_object_body_is_rejected)
{
	size_t len;
	char *body = fixture_read("idnow-result-success.json", &len);
	struct idnow_ident *id = NULL;
	struct ra_err err;

	for (size_t n = 0; n < len - 1; n += 11) {
		cr_expect_eq(idnow_parse(body, n, &id, &err), RA_E_INVALID, "prefix %zu", n);
		cr_expect_null(id);
	}
	cr_expect_eq(idnow_parse("\"SUCCESS\"", 9, &id, &err), RA_E_INVALID);
	free(body);
	idnow_ident_free(NULL);
}

Test(idnow, names_round_trip)
{
	cr_expect_str_eq(idnow_result_str(IDNOW_FRAUD_SUSPICION_CONFIRMED), "FRAUD_SUSPICION_CONFIRMED");
	cr_expect_str_eq(idnow_status_str(IDNOW_CHANGE), "CHANGE");
}
