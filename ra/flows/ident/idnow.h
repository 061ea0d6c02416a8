/*
 * idnow.h - an IDnow VideoIdent result (callback body, or GET …/identifications/{tx}) as
 * the RA needs it (issue #5, R7, R18).
 *
 * The result decides whether a certificate may be issued, so parsing is strict: the
 * transaction number and a known result are always required; for the two success results
 * also the ident id, agent, time, first and last name, birthday, and document type and
 * number, since they are the evidence (R18) and what the identity is matched on (R7).  Every
 * error names the JSON path in err->field ("userdata.birthday.value").  Pure: no I/O.
 */
#ifndef RA_IDNOW_H
#define RA_IDNOW_H

#include <stddef.h>

#include "ra/base/err.h"

enum idnow_result {
	IDNOW_SUCCESS,
	IDNOW_SUCCESS_DATA_CHANGED,
	IDNOW_REVIEW_PENDING,
	IDNOW_CHECK_PENDING,
	IDNOW_FRAUD_SUSPICION_PENDING,
	IDNOW_ABORTED,
	IDNOW_CANCELED,
	IDNOW_FRAUD_SUSPICION_CONFIRMED,
	IDNOW_FAILED,
};

/* Per-field verdict of the agent. */
enum idnow_status {
	IDNOW_ABSENT = 0, /* the field was not in the result */
	IDNOW_MATCH, /* the agent confirmed the value we sent */
	IDNOW_CHANGE, /* the agent corrected it; `original` holds ours */
	IDNOW_NEW, /* the agent captured it from the document */
	IDNOW_ORIGINAL, /* taken over unchecked */
};

struct idnow_field {
	char *value; /* NULL when absent */
	char *original; /* the value before the agent changed it, or NULL */
	enum idnow_status status;
};

struct idnow_ident {
	char *transaction_number; /* the RA's own per-order number */
	enum idnow_result result;
	char *reason; /* FAILED/FRAUD reason, e.g. "ID_EXPIRED"; may be NULL */
	char *ident_id; /* provider's id, e.g. "TST-QWRTZ" */
	char *agent;
	char *time; /* ISO 8601 as sent */
	struct {
		struct idnow_field firstname, lastname, birthday, birthplace, nationality;
	} user;
	struct {
		struct idnow_field type, number, country, issuedby, dateissued, validuntil;
	} doc;
};

/*
 * Parses body (len bytes).  On 0, *out is the result; caller frees with idnow_ident_free().
 * Errors: RA_E_INVALID with err->field naming the JSON path, RA_E_NOMEM.
 */
int idnow_parse(const char *body, size_t len, struct idnow_ident **out, struct ra_err *err);
void idnow_ident_free(struct idnow_ident *id);

/* "SUCCESS", ... and the status names "MATCH", ...; never NULL. */
const char *idnow_result_str(enum idnow_result r);
const char *idnow_status_str(enum idnow_status s);
/* 1 for SUCCESS and SUCCESS_DATA_CHANGED. */
int idnow_result_is_success(enum idnow_result r);
/* 1 for REVIEW_PENDING, CHECK_PENDING, FRAUD_SUSPICION_PENDING: wait for the final result. */
int idnow_result_is_pending(enum idnow_result r);

#endif
