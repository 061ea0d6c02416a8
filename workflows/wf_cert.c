/*
 * wf_cert.c - the certificate machine as data.  See wf_cert.h for how replacement works
 * and docs/workflows.md for the same table in prose.
 */
#include "workflows/wf_cert.h"
#include "workflows/wf_table.h"

#define A_AUDIT WF_ACT_AUDIT
#define A_SUPP (WF_ACT_NOTIFY_SUPPORT | WF_ACT_AUDIT)
#define A_PIN (WF_ACT_SEND_TRANSPORT_PIN | WF_ACT_AUDIT)
#define A_REPLACE (WF_ACT_ISSUE_REPLACEMENT | WF_ACT_AUDIT)
#define A_REVOKE (WF_ACT_REVOKE | WF_ACT_NOTIFY_USER | WF_ACT_AUDIT)

#define ROW(s, e, n, a, ...) ROWR(s, e, n, a, WF_RSN_NONE, __VA_ARGS__)
#define ROWR(s, e, n, a, r, ...)                                 \
	{                                                        \
		WF_CERT_##s, WF_CERT_##e, WF_CERT_##n, (a), (r), \
		{                                                \
			__VA_ARGS__                              \
		}                                                \
	}

static const char *const states[WF_CERT_N_STATES] = {
	[WF_CERT_REQUESTED] = "requested",     [WF_CERT_KEY_GENERATED] = "key_generated",
	[WF_CERT_ISSUED] = "issued",           [WF_CERT_ACTIVE] = "active",
	[WF_CERT_SUPERSEDING] = "superseding", [WF_CERT_REVOKED] = "revoked",
	[WF_CERT_EXPIRED] = "expired",         [WF_CERT_FAILED] = "failed",
};

static const char *const events[WF_CERT_N_EVENTS] = {
	[WF_CERT_KEYGEN_DONE] = "keygen_done",
	[WF_CERT_CA_ISSUED] = "ca_issued",
	[WF_CERT_ISSUE_FAILED] = "issue_failed",
	[WF_CERT_ACTIVATE] = "activate",
	[WF_CERT_TRANSPORT_PIN_REISSUE] = "transport_pin_reissue",
	[WF_CERT_REKEY] = "rekey",
	[WF_CERT_MODIFY] = "modify",
	[WF_CERT_PIN_LOST] = "pin_lost",
	[WF_CERT_REPLACED] = "replaced",
	[WF_CERT_REPLACED_AFFILIATION] = "replaced_affiliation",
	[WF_CERT_REPLACEMENT_FAILED] = "replacement_failed",
	[WF_CERT_REVOKE] = "revoke",
	[WF_CERT_EXPIRE] = "expire",
};

static const struct wf_row rows[] = {
	ROW(REQUESTED, KEYGEN_DONE, KEY_GENERATED, A_AUDIT, WF_G_R1_CLASS, WF_G_R2_FRESH_KEY),
	ROW(REQUESTED, ISSUE_FAILED, FAILED, A_SUPP, WF_NO_GUARD),

	/* R7 again at the CA step: no path around the order's check issues a certificate. */
	ROW(KEY_GENERATED, CA_ISSUED, ISSUED, A_PIN, WF_G_R7_PASSED),
	ROW(KEY_GENERATED, ISSUE_FAILED, FAILED, WF_ACT_DESTROY_KEY | A_SUPP, WF_NO_GUARD),

	/* Activation sets the ActivationPIN from the TransportPIN, once: R12, no reset. */
	ROW(ISSUED, ACTIVATE, ACTIVE, A_AUDIT, WF_G_R1_FACTOR),
	ROW(ISSUED, TRANSPORT_PIN_REISSUE, ISSUED, A_PIN, WF_NO_GUARD),
	ROWR(ISSUED, REVOKE, REVOKED, A_REVOKE, WF_RSN_FROM_FACTS, WF_G_R19_SUBJECT, WF_G_R14_REASON),
	ROW(ISSUED, EXPIRE, EXPIRED, A_AUDIT, WF_NO_GUARD),

	/* A replacement rests on the old certificate's identification: R17 bounds its age. */
	ROW(ACTIVE, REKEY, SUPERSEDING, A_REPLACE, WF_G_R19_SUBJECT, WF_G_R17_REUSE, WF_G_R2_NEW_KEY),
	ROW(ACTIVE, MODIFY, SUPERSEDING, A_REPLACE, WF_G_R19_SUBJECT, WF_G_R17_REUSE, WF_G_R2_NEW_KEY,
	    WF_G_R4_PERSON),
	ROW(ACTIVE, PIN_LOST, SUPERSEDING, A_REPLACE, WF_G_R19_SUBJECT, WF_G_R17_REUSE, WF_G_R12_NEW_KEY),
	ROWR(ACTIVE, REVOKE, REVOKED, A_REVOKE, WF_RSN_FROM_FACTS, WF_G_R19_SUBJECT, WF_G_R14_REASON),
	ROW(ACTIVE, EXPIRE, EXPIRED, A_AUDIT, WF_NO_GUARD),

	/* R15: the old certificate stays usable until its replacement is issued. */
	ROWR(SUPERSEDING, REPLACED, REVOKED, A_REVOKE, WF_RSN_SUPERSEDED, WF_G_R15_NEW_ISSUED),
	ROWR(SUPERSEDING, REPLACED_AFFILIATION, REVOKED, A_REVOKE, WF_RSN_AFFILIATION_CHANGED,
	     WF_G_R15_NEW_ISSUED),
	ROW(SUPERSEDING, REPLACEMENT_FAILED, ACTIVE, A_SUPP, WF_NO_GUARD),
	/* "unless support asks for it" (R15): an explicit revoke does not wait. */
	ROWR(SUPERSEDING, REVOKE, REVOKED, A_REVOKE, WF_RSN_FROM_FACTS, WF_G_R19_SUBJECT, WF_G_R14_REASON),
	ROW(SUPERSEDING, EXPIRE, EXPIRED, A_AUDIT, WF_NO_GUARD),
};

const struct wf_machine wf_cert = {
	.name = "cert",
	.states = states,
	.n_states = WF_CERT_N_STATES,
	.events = events,
	.n_events = WF_CERT_N_EVENTS,
	.final_mask = 1u << WF_CERT_REVOKED | 1u << WF_CERT_EXPIRED | 1u << WF_CERT_FAILED,
	.rows = rows,
	.n_rows = (int)(sizeof(rows) / sizeof(rows[0])),
};
