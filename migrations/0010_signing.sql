-- 0010_signing: activation and the signing service (issue #13; R9, R11, R12, R13, R20).
--   * a third token role, 'signing': the signing service, which alone may use /v1/signing/* and
--     /csc/v2/* (docs/signing.md);
--   * per certificate: when it was activated, how many wrong TransportPINs were entered, and
--     when the TransportPIN was blocked for that;
--   * signing_events: what the signing service reported, once per event id it sent.

ALTER TABLE support_tokens DROP CONSTRAINT support_tokens_role_check;
ALTER TABLE support_tokens ADD CONSTRAINT support_tokens_role_check
	CHECK (role IN ('support', 'admin', 'signing'));

-- transport_pin_failures counts an attempt before its PIN is checked and gives it back when the
-- PIN was right (ra/flows/signing/activation.c), so a crash in between costs a try, never
-- grants one.  Support's new TransportPIN (ractl user transport-pin) starts the count afresh.
ALTER TABLE certificates
	ADD COLUMN activated_at             timestamptz,
	ADD COLUMN transport_pin_failures   integer NOT NULL DEFAULT 0 CHECK (transport_pin_failures >= 0),
	ADD COLUMN transport_pin_blocked_at timestamptz;

-- R20: a certificate is usable only once the user activated it, and R11: the TransportPIN is
-- single use, so an active certificate has an activation time and no TransportPIN hash.
-- NOT VALID: rows made active by hand before activation existed (no interface did it) are not
-- rewritten here; every row written from now on is checked.
ALTER TABLE certificates ADD CONSTRAINT certificates_active_was_activated
	CHECK (state <> 'active' OR (activated_at IS NOT NULL AND transport_pin_hash IS NULL)) NOT VALID;

-- One row per event the signing service reported and the RA applied.  The key is the caller's
-- own event id under the token name it called with, so a repeated delivery is answered from
-- here and changes nothing.  Refused events leave no row: nothing changed.
CREATE TABLE signing_events (
	source      text NOT NULL CHECK (source ~ '^[A-Za-z0-9._@-]{1,64}$'),
	event_id    text NOT NULL CHECK (event_id ~ '^[A-Za-z0-9._:-]{1,100}$'),
	user_id     text NOT NULL REFERENCES users (public_id),
	type        text NOT NULL CHECK (type IN ('locked', 'app_registered', 'app_deregistered')),
	from_state  text NOT NULL,
	to_state    text NOT NULL,
	at          timestamptz NOT NULL DEFAULT now(),
	PRIMARY KEY (source, event_id)
);
CREATE INDEX signing_events_user ON signing_events (user_id);
