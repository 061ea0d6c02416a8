/*
 * wf_step.c - the table engine: looks up (state, event), runs the row's guards, answers
 * with next state, actions and revocation reason.  Also the introspection and the table
 * self-check the tests and the RA's start-up use.
 */
#include "workflows/wf_table.h"

static int state_ok(const struct wf_machine *m, int s)
{
	return s >= 0 && s < m->n_states;
}

static int event_ok(const struct wf_machine *m, int e)
{
	return e >= 0 && e < m->n_events;
}

static int final(const struct wf_machine *m, int s)
{
	return (m->final_mask >> s) & 1u;
}

static const struct wf_row *find_row(const struct wf_machine *m, int s, int e)
{
	for (int i = 0; i < m->n_rows; i++)
		if (m->rows[i].state == s && m->rows[i].event == e)
			return &m->rows[i];
	return NULL;
}

/* The first guard that refuses, or NULL when all agree. */
static const char *refusing_rule(const struct wf_row *r, const struct wf_facts *f)
{
	for (int i = 0; i < WF_MAX_GUARDS && r->guards[i] != WF_G_NONE; i++)
		if (!wf_guard_ok(r->guards[i], f))
			return wf_guard_rule(r->guards[i]);
	return NULL;
}

int wf_step(const struct wf_machine *m, int state, int event, const struct wf_facts *f, struct wf_result *out)
{
	static const struct wf_facts none;
	struct wf_result dummy;
	const struct wf_row *r;

	if (out == NULL)
		out = &dummy;
	out->next_state = state;
	out->actions = 0;
	out->reason = WF_RSN_NONE;
	out->rule = NULL;
	if (m == NULL || !state_ok(m, state) || !event_ok(m, event))
		return WF_E_INVALID;
	if (f == NULL)
		f = &none;
	if (final(m, state))
		return WF_E_FINAL;
	r = find_row(m, state, event);
	if (r == NULL)
		return WF_E_NOT_ALLOWED;
	out->rule = refusing_rule(r, f);
	if (out->rule != NULL)
		return WF_E_GUARD;
	out->next_state = r->next;
	out->actions = r->actions;
	out->reason = r->reason == WF_RSN_FROM_FACTS ? f->revoke_reason : r->reason;
	return 0;
}

const char *wf_strerror(int err)
{
	switch (err) {
	case 0:
		return "ok";
	case WF_E_INVALID:
		return "invalid argument or unknown name";
	case WF_E_NOT_ALLOWED:
		return "event not allowed in this state";
	case WF_E_GUARD:
		return "refused by a domain rule";
	case WF_E_FINAL:
		return "state is final";
	default:
		return "unknown workflow error";
	}
}

const char *wf_machine_name(const struct wf_machine *m)
{
	return m ? m->name : NULL;
}

int wf_state_count(const struct wf_machine *m)
{
	return m ? m->n_states : WF_E_INVALID;
}

int wf_event_count(const struct wf_machine *m)
{
	return m ? m->n_events : WF_E_INVALID;
}

int wf_transition_count(const struct wf_machine *m)
{
	return m ? m->n_rows : WF_E_INVALID;
}

int wf_is_final(const struct wf_machine *m, int state)
{
	if (m == NULL || !state_ok(m, state))
		return WF_E_INVALID;
	return final(m, state);
}

static int row_ok(const struct wf_machine *m, const struct wf_row *r)
{
	if (!state_ok(m, r->state) || !event_ok(m, r->event) || !state_ok(m, r->next))
		return 0;
	if (final(m, r->state))
		return 0;
	if ((r->actions >> WF_ACT_COUNT) != 0)
		return 0;
	/* A reason without a revocation, or a revocation without one, is a table slip. */
	if (((r->actions & WF_ACT_REVOKE) != 0) != (r->reason != WF_RSN_NONE))
		return 0;
	if (r->reason != WF_RSN_NONE && r->reason != WF_RSN_FROM_FACTS && wf_reason_name(r->reason) == NULL)
		return 0;
	for (int g = 0; g < WF_MAX_GUARDS && r->guards[g] != WF_G_NONE; g++)
		if (wf_guard_rule(r->guards[g]) == NULL)
			return 0;
	return 1;
}

int wf_machine_check(const struct wf_machine *m)
{
	if (m == NULL || m->n_states <= 0 || m->n_states > 32 || m->n_events <= 0)
		return WF_E_INVALID;
	for (int i = 0; i < m->n_rows; i++) {
		if (!row_ok(m, &m->rows[i]))
			return WF_E_INVALID;
		if (find_row(m, m->rows[i].state, m->rows[i].event) != &m->rows[i])
			return WF_E_INVALID; /* duplicate pair: the later row would be dead */
	}
	return 0;
}
