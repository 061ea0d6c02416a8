/*
 * wf_names.c - stable names for states, events, actions and revocation reasons, as stored
 * in the database and the audit log, and their parsers.  Names are exact: no case folding,
 * so a stored value has one spelling only.
 */
#include "workflows/wf_table.h"

#include <string.h>

static int lookup(const char *const *names, int n, const char *name)
{
	if (name == NULL)
		return WF_E_INVALID;
	for (int i = 0; i < n; i++)
		if (strcmp(names[i], name) == 0)
			return i;
	return WF_E_INVALID;
}

const char *wf_state_name(const struct wf_machine *m, int state)
{
	if (m == NULL || state < 0 || state >= m->n_states)
		return NULL;
	return m->states[state];
}

int wf_state_parse(const struct wf_machine *m, const char *name)
{
	return m ? lookup(m->states, m->n_states, name) : WF_E_INVALID;
}

const char *wf_event_name(const struct wf_machine *m, int event)
{
	if (m == NULL || event < 0 || event >= m->n_events)
		return NULL;
	return m->events[event];
}

int wf_event_parse(const struct wf_machine *m, const char *name)
{
	return m ? lookup(m->events, m->n_events, name) : WF_E_INVALID;
}

/* RFC 5280 CRLReason spelling, as support types it and the CRL shows it. */
static const struct {
	int code;
	const char *name;
} reasons[] = {
	{WF_RSN_UNSPECIFIED, "unspecified"},
	{WF_RSN_KEY_COMPROMISE, "keyCompromise"},
	{WF_RSN_AFFILIATION_CHANGED, "affiliationChanged"},
	{WF_RSN_SUPERSEDED, "superseded"},
	{WF_RSN_CESSATION_OF_OPERATION, "cessationOfOperation"},
	{WF_RSN_PRIVILEGE_WITHDRAWN, "privilegeWithdrawn"},
};

#define N_REASONS ((int)(sizeof(reasons) / sizeof(reasons[0])))

const char *wf_reason_name(int reason)
{
	for (int i = 0; i < N_REASONS; i++)
		if (reasons[i].code == reason)
			return reasons[i].name;
	return NULL;
}

int wf_reason_parse(const char *name)
{
	if (name == NULL)
		return WF_E_INVALID;
	for (int i = 0; i < N_REASONS; i++)
		if (strcmp(reasons[i].name, name) == 0)
			return reasons[i].code;
	return WF_E_INVALID;
}

/* Index = bit number of the WF_ACT_* flag. */
static const char *const actions[WF_ACT_COUNT] = {
	"audit",
	"invite_ident",
	"issue",
	"notify_user_id",
	"send_transport_pin",
	"notify_support",
	"notify_customer",
	"notify_user",
	"revoke",
	"issue_replacement",
	"destroy_key",
	"keep_pin",
	"rekey",
	"revoke_all",
	"send_phone_code",
	"notify_old_number",
};

const char *wf_action_name(unsigned bit)
{
	for (int i = 0; i < WF_ACT_COUNT; i++)
		if (bit == (1u << i))
			return actions[i];
	return NULL;
}

unsigned wf_action_parse(const char *name)
{
	int i = lookup(actions, WF_ACT_COUNT, name);

	return i < 0 ? 0 : 1u << i;
}

/* Appends s at *len, writing only what fits below size - 1. */
static void append(char *buf, size_t size, size_t *len, const char *s)
{
	size_t n = strlen(s);

	if (*len + 1 < size) {
		size_t room = size - 1 - *len;

		memcpy(buf + *len, s, n < room ? n : room);
	}
	*len += n;
}

int wf_action_names(unsigned acts, char *buf, size_t size)
{
	size_t len = 0;

	if ((acts >> WF_ACT_COUNT) != 0 || (buf == NULL && size > 0))
		return WF_E_INVALID;
	for (int i = 0; i < WF_ACT_COUNT; i++) {
		if ((acts & (1u << i)) == 0)
			continue;
		if (len > 0)
			append(buf, size, &len, ",");
		append(buf, size, &len, actions[i]);
	}
	if (size > 0)
		buf[len < size ? len : size - 1] = '\0';
	return (int)len;
}
