/*
 * ractl_res.c - the layout of every resource ractl shows; see ractl_res.h.  Priorities are
 * chosen so that an 80-column terminal keeps what a support person acts on: the identifier
 * to copy, the state, and why.
 */
#include "ra/ractl/ractl_res.h"

#include <string.h>

#define F RACTL_COL_FLEX
#define D RACTL_COL_DATE
#define A RACTL_COL_AGE

static const struct ractl_col cols_user[] = {
	{"USER-ID", "user_id|public_id", 1, 0},
	{"MOBILE", "phone_e164", 1, 0},
	{"NAME", "first_name+last_name", 1, F},
	{"STATE", "state", 2, 0},
	{"FACTOR", "factor", 4, 0},
	{"LOCKED", "locked", 4, 0},
	{"EMAIL", "email", 3, F},
	{"IDENTIFIED", "ident_verified_at", 5, D},
	{"CREATED", "created_at", 6, D},
	{NULL, NULL, 0, 0},
};

static const struct ractl_sub subs_user[] = {
	{"certificates", "certificates", "cert"},
	{"open orders", "open_orders", "order"},
	{NULL, NULL, NULL},
};

static const struct ractl_col cols_cert[] = {
	{"ID", "id", 1, 0},
	{"CLASS", "class", 1, 0},
	{"STATE", "state", 1, 0},
	{"SERIAL", "serial", 4, 0},
	{"USER", "user_id", 3, 0},
	{"ORGANISATION", "organisation|subject.organization", 5, F},
	{"FUNCTION", "function|subject.title", 6, F},
	{"NOT-AFTER", "not_after", 2, D},
	{"TERM-END", "term_end", 3, D},
	{"REVOKED", "revocation_reason", 3, 0},
	{"REPLACES", "replaces", 7, 0},
	/* activation at the signing service (docs/signing.md): issued means not yet activated */
	{"ACTIVATED", "activated_at", 5, D},
	{"WRONG-PINS", "wrong_transport_pins|transport_pin_failures", 4, 0},
	{"PIN-BLOCKED", "transport_pin_blocked|transport_pin_blocked_at", 4, 0},
	{"REMINDERS", "reminders_sent", 5, 0},
	{NULL, NULL, 0, 0},
};

static const struct ractl_col cols_order[] = {
	{"ID", "id", 1, 0},
	{"SHOP-ORDER", "shop_order_id", 1, 0},
	{"STATE", "state", 1, 0},
	{"USER", "user_public_id|user_id", 2, 0},
	{"NAME", "first_name+last_name", 3, F},
	{"CONTRACT", "contract_number", 4, 0},
	{"CREATED", "created_at", 2, D},
	{NULL, NULL, 0, 0},
};

static const struct ractl_sub subs_order[] = {
	{"items", "items", "item"},
	{"certificates", "certificates", "cert"},
	{"rejections", "rejections", "rejection"},
	{NULL, NULL, NULL},
};

static const struct ractl_col cols_item[] = {
	{"SKU", "sku", 1, 0},
	{"CLASS", "class", 1, 0},
	{"QTY", "quantity", 1, 0},
	{"YEARS", "validity_years", 3, 0},
	{"ORGANISATION", "organisation", 2, F},
	{"FUNCTION", "function", 2, F},
	{NULL, NULL, 0, 0},
};

static const struct ractl_col cols_rejection[] = {
	{"REASON", "reason", 1, 0},         {"FIELD", "field", 2, 0},         {"MESSAGE", "message", 1, F},
	{"DELIVERIES", "deliveries", 3, 0}, {"LAST-SEEN", "last_seen", 2, D}, {NULL, NULL, 0, 0},
};

static const struct ractl_col cols_review[] = {
	{"ORDER", "order_id", 1, 0},      {"SHOP-ORDER", "shop_order_id", 2, 0},
	{"NAME", "name", 1, F},           {"WHY", "reason", 1, F},
	{"OPENED-BY", "opened_by", 3, 0}, {"SINCE", "opened_at", 1, A},
	{"OPENED", "opened_at", 4, D},    {NULL, NULL, 0, 0},
};

static const struct ractl_col cols_job[] = {
	{"ID", "id", 1, 0},
	{"KIND", "kind", 1, 0},
	{"STATE", "state", 1, 0},
	{"ATTEMPTS", "attempts", 2, 0},
	{"RUN-AT", "run_at", 3, D},
	{"UPDATED", "updated_at", 4, D},
	{"ERROR", "last_error", 2, F},
	{NULL, NULL, 0, 0},
};

static const struct ractl_col cols_schedule[] = {
	{"TASK", "name", 1, 0},
	{"EVERY-S", "interval_s", 2, 0},
	{"NEXT-RUN", "next_run", 1, D},
	{"LAST-DONE", "last_done_at", 2, D},
	{"ITEMS", "last_items", 3, 0},
	{"RUNS", "runs", 4, 0},
	{"RUNNING-ON", "running_on", 5, 0},
	{"ERROR", "last_error", 2, F},
	{NULL, NULL, 0, 0},
};

static const struct ractl_col cols_peer[] = {
	{"PEER", "name", 1, 0},
	{"STATE", "state", 1, 0},
	{"INFLIGHT", "inflight", 1, 0},
	{"BOUND", "max_inflight", 2, 0},
	{"FAILURES", "consecutive_failures", 2, 0},
	{"OPEN-FOR-MS", "open_for_ms", 3, 0},
	{"REFUSED", "refused", 3, 0},
	{"OPENED", "opened", 4, 0},
	{NULL, NULL, 0, 0},
};

static const struct ractl_col cols_audit[] = {
	{"SEQ", "seq", 1, 0},
	{"AT", "at", 1, D},
	{"ACTOR", "actor", 1, 0},
	{"ACTION", "action", 1, 0},
	{"OBJECT", "object_type+object_id", 3, F},
	{"REASON", "reason", 2, F},
	{NULL, NULL, 0, 0},
};

static const struct ractl_col cols_contract[] = {
	{"NUMBER", "number", 1, 0},
	{"ORGANISATION", "organisation", 1, F},
	{"QUOTA", "quota", 1, 0},
	{"USED", "used", 1, 0},
	{"REMAINING", "remaining", 2, 0},
	{"STATUS", "status", 1, 0},
	{"ORG-ID", "organisation_id", 4, 0},
	{"CREATED", "created_at", 3, D},
	{"CREATED-BY", "created_by", 5, 0},
	{NULL, NULL, 0, 0},
};

static const struct ractl_sub subs_contract[] = {
	{"orders", "orders", "order"},
	{NULL, NULL, NULL},
};

static const struct ractl_col cols_ident[] = {
	{"ORDER", "order_id", 1, 0},          {"ATTEMPT", "attempt", 2, 0},
	{"RESULT", "result", 1, 0},           {"OUTCOME", "outcome", 1, 0},
	{"MATCH", "name_match", 2, 0},        {"NAME", "first_name+last_name", 3, F},
	{"TX", "transactionnumber|tx", 5, 0}, {"DECIDED", "decided_at", 2, D},
	{"BY", "decided_by", 4, 0},           {NULL, NULL, 0, 0},
};

static const struct ractl_col cols_search[] = {
	{"KIND", "kind", 1, 0},
	{"ID", "id", 1, 0},
	{"MATCHED", "matched", 2, 0},
	{"USER-ID", "user_id", 1, 0},
	{"NAME", "first_name+last_name", 2, F},
	{"STATE", "state", 3, 0},
	{"MOBILE", "phone_e164", 4, 0},
	{"DETAIL", "detail", 5, F},
	{"RANK", "rank", 6, 0},
	{NULL, NULL, 0, 0},
};

static const struct ractl_col cols_token[] = {
	{"ID", "id", 1, 0},
	{"NAME", "name", 1, 0},
	{"ROLE", "role", 1, 0},
	{"ACTIVE", "active", 1, 0},
	{"USER-ID", "user_id", 3, 0},
	{"EXPIRES", "expires_at", 2, D},
	{"REVOKED", "revoked_at", 2, D},
	{"CREATED", "created_at", 4, D},
	{NULL, NULL, 0, 0},
};

static const struct ractl_col cols_whoami[] = {
	{"NAME", "name", 1, 0},
	{"ROLE", "role", 1, 0},
	{"USER-ID", "user_id", 1, 0},
	{NULL, NULL, 0, 0},
};

static const struct ractl_col cols_verify[] = {
	{"WHOLE", "whole", 1, 0},         {"COUNT", "count", 1, 0},     {"HEAD-SEQ", "head_seq", 1, 0},
	{"HEAD-HASH", "head_hash", 2, F}, {"BAD-SEQ", "bad_seq", 1, 0}, {"WHY", "why", 1, F},
	{"PENDING", "pending", 2, 0},     {NULL, NULL, 0, 0},
};

static const struct ractl_col cols_phone_change[] = {
	{"ID", "phone_change_id", 1, 0},
	{"USER", "user_id", 1, 0},
	{"STATE", "state", 1, 0},
	{"OLD", "old_e164", 2, 0},
	{"NEW", "new_e164", 1, 0},
	{"PROOF", "proof", 2, 0},
	{"REQUESTED-BY", "requested_by", 3, 0},
	{"APPROVED-BY", "approved_by", 4, 0},
	{"CODE-SENT", "code_sent", 3, 0},
	{"WRONG-CODES", "code_failures", 4, 0},
	{"CREATED", "created_at", 5, D},
	{NULL, NULL, 0, 0},
};

#undef F
#undef D
#undef A

static const struct ractl_res resources[] = {
	{"user", "users", "user_id|public_id", cols_user, subs_user},
	{"cert", "certificates", "id", cols_cert, NULL},
	{"order", "orders", "id|shop_order_id", cols_order, subs_order},
	{"item", "items", "id", cols_item, NULL},
	{"rejection", "rejections", "id", cols_rejection, NULL},
	{"review", "reviews", "order_id", cols_review, NULL},
	{"job", "jobs", "id", cols_job, NULL},
	{"peer", "peers", "name", cols_peer, NULL},
	{"schedule", "schedules", "name", cols_schedule, NULL},
	{"audit", "records", "seq", cols_audit, NULL},
	{"contract", "contracts", "number", cols_contract, subs_contract},
	{"ident", "identifications", "transactionnumber|tx", cols_ident, NULL},
	{"search", "results", "id", cols_search, NULL},
	{"token", "tokens", "id", cols_token, NULL},
	{"phone_change", "phone_changes", "phone_change_id", cols_phone_change, NULL},
	{"whoami", NULL, "name", cols_whoami, NULL},
	{"verify", NULL, "head_seq", cols_verify, NULL},
};

const struct ractl_res *ractl_res_find(const char *name)
{
	if (name == NULL)
		return NULL;
	for (size_t i = 0; i < sizeof(resources) / sizeof(resources[0]); i++)
		if (strcmp(resources[i].name, name) == 0)
			return &resources[i];
	return NULL;
}
