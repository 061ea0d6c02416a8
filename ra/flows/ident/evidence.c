/*
 * evidence.c - the evidence document and its sealing; see evidence.h.
 */
#include "ra/flows/ident/evidence.h"

#include <jansson.h>
#include <stdlib.h>
#include <string.h>

static json_t *field(const struct idnow_field *f)
{
	if (f->value == NULL && f->status == IDNOW_ABSENT)
		return json_null();
	return json_pack("{s:s?, s:s, s:s?}", "value", f->value, "status", idnow_status_str(f->status),
			 "original", f->original);
}

char *evidence_json(const struct idnow_ident *id, const char *provider)
{
	json_t *doc = json_pack("{s:o, s:o, s:o, s:o, s:o, s:o}", "type", field(&id->doc.type), "number",
				field(&id->doc.number), "country", field(&id->doc.country), "issued_by",
				field(&id->doc.issuedby), "date_issued", field(&id->doc.dateissued),
				"valid_until", field(&id->doc.validuntil));
	json_t *user =
		json_pack("{s:o, s:o, s:o, s:o, s:o}", "first_name", field(&id->user.firstname), "last_name",
			  field(&id->user.lastname), "birth_date", field(&id->user.birthday), "birthplace",
			  field(&id->user.birthplace), "nationality", field(&id->user.nationality));
	json_t *e = json_pack("{s:s, s:s, s:s?, s:s, s:s?, s:s?, s:s?, s:o, s:o}", "provider", provider,
			      "transaction_number", id->transaction_number, "ident_id", id->ident_id,
			      "result", idnow_result_str(id->result), "reason", id->reason, "agent",
			      id->agent, "time", id->time, "document", doc, "person", user);
	char *text = e ? json_dumps(e, JSON_COMPACT | JSON_SORT_KEYS) : NULL;

	json_decref(e);
	return text;
}
