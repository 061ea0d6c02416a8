/*
 * wf_cert.h - the certificate machine: request, key, issuance, activation, and the ways
 * out (revocation, expiry, failure, replacement).
 *
 * Re-key, modification and a lost ActivationPIN (R12) never change a certificate: they move
 * the old one to WF_CERT_SUPERSEDING and ask for a new certificate with a new key
 * (WF_ACT_ISSUE_REPLACEMENT).  The new one runs this machine from WF_CERT_REQUESTED; when it
 * reaches WF_CERT_ISSUED the caller fires WF_CERT_REPLACED (or _REPLACED_AFFILIATION when
 * organisation or function changed) on the old one, which only then is revoked (R15).
 * Revoked, expired and failed are final (R14: no reinstatement).
 */
#ifndef WF_CERT_H
#define WF_CERT_H

#include "workflows/wf.h"

enum wf_cert_state {
	WF_CERT_REQUESTED,
	WF_CERT_KEY_GENERATED,
	WF_CERT_ISSUED,
	WF_CERT_ACTIVE,
	WF_CERT_SUPERSEDING,
	WF_CERT_REVOKED, /* final */
	WF_CERT_EXPIRED, /* final */
	WF_CERT_FAILED, /* final */
	WF_CERT_N_STATES
};

enum wf_cert_event {
	WF_CERT_KEYGEN_DONE,
	WF_CERT_CA_ISSUED,
	WF_CERT_ISSUE_FAILED,
	WF_CERT_ACTIVATE,
	WF_CERT_TRANSPORT_PIN_REISSUE,
	WF_CERT_REKEY,
	WF_CERT_MODIFY,
	WF_CERT_PIN_LOST,
	WF_CERT_REPLACED,
	WF_CERT_REPLACED_AFFILIATION,
	WF_CERT_REPLACEMENT_FAILED,
	WF_CERT_REVOKE,
	WF_CERT_EXPIRE,
	WF_CERT_N_EVENTS
};

extern const struct wf_machine wf_cert;

#endif
