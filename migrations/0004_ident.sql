-- 0004_ident: the identification result (issue #5): one row per identification attempt with
-- its evidence encrypted at rest (R18), the reviews support decides (R7, R19), TransportPIN
-- deliveries (R11) and sent notifications (R8).  See docs/ident.md.

-- One row per decided identification attempt of an order.  tx is our transaction number at
-- the provider (orders.ident_tx of that attempt; a retry gets a new one).  The verified names,
-- birth date and country are in clear, as on users (they go into the certificate); everything
-- else that identified the person (agent, time, document type, number, issuing country,
-- validity, the per-field statuses) is only in `evidence`: ra/seal.h's AES-256-GCM blob under
-- evidence.key, bound to the row by the AAD 'identification:<tx>:evidence'.
CREATE TABLE identifications (
	id            bigserial PRIMARY KEY,
	order_id      bigint NOT NULL REFERENCES orders (id),
	tx            text NOT NULL UNIQUE,
	attempt       integer NOT NULL CHECK (attempt >= 1),
	provider      text NOT NULL DEFAULT 'idnow',
	ident_id      text,
	result        text NOT NULL,
	reason        text,
	outcome       text NOT NULL CHECK (outcome IN ('passed', 'review', 'rejected', 'failed')),
	name_match    text CHECK (name_match IN ('exact', 'needs_review', 'mismatch')),
	first_name    text,
	last_name     text,
	birth_date    date,
	country       text CHECK (country IS NULL OR country ~ '^[A-Z]{2}$'),
	evidence      bytea NOT NULL CHECK (octet_length(evidence) > 29),
	retain_until  timestamptz NOT NULL,
	decided_at    timestamptz NOT NULL DEFAULT now(),
	decided_by    text,              -- support user who approved/rejected a review
	UNIQUE (order_id, attempt)
);
CREATE INDEX identifications_ident ON identifications (provider, ident_id);

-- R18: evidence is kept at least until retain_until (certificate validity end plus
-- retention.years_after_expiry) and nothing deletes it earlier; what identified the person
-- never changes; the retention only grows; a review's outcome is decided once.
CREATE FUNCTION identifications_guard() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
	IF TG_OP = 'DELETE' THEN
		IF OLD.retain_until > now() THEN
			RAISE EXCEPTION 'R18: identification % is retained until %', OLD.id, OLD.retain_until
				USING ERRCODE = 'insufficient_privilege';
		END IF;
		RETURN OLD;
	END IF;
	IF NEW.order_id <> OLD.order_id OR NEW.tx <> OLD.tx OR NEW.evidence <> OLD.evidence
	   OR NEW.result <> OLD.result OR NEW.ident_id IS DISTINCT FROM OLD.ident_id
	   OR NEW.first_name IS DISTINCT FROM OLD.first_name OR NEW.last_name IS DISTINCT FROM OLD.last_name
	   OR NEW.birth_date IS DISTINCT FROM OLD.birth_date OR NEW.decided_at <> OLD.decided_at THEN
		RAISE EXCEPTION 'R18: identification evidence is never changed' USING ERRCODE = 'insufficient_privilege';
	END IF;
	IF NEW.retain_until < OLD.retain_until THEN
		RAISE EXCEPTION 'R18: retention of identification % cannot be shortened', OLD.id
			USING ERRCODE = 'insufficient_privilege';
	END IF;
	IF NEW.outcome <> OLD.outcome AND NOT (OLD.outcome = 'review' AND NEW.outcome IN ('passed', 'rejected')) THEN
		RAISE EXCEPTION 'identification % was decided (%)', OLD.id, OLD.outcome;
	END IF;
	RETURN NEW;
END $$;
CREATE TRIGGER identifications_guard BEFORE UPDATE OR DELETE ON identifications
	FOR EACH ROW EXECUTE FUNCTION identifications_guard();
CREATE FUNCTION identifications_no_truncate() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
	RAISE EXCEPTION 'R18: identifications are retained; TRUNCATE refused' USING ERRCODE = 'insufficient_privilege';
END $$;
CREATE TRIGGER identifications_no_truncate BEFORE TRUNCATE ON identifications
	FOR EACH STATEMENT EXECUTE FUNCTION identifications_no_truncate();

-- Manual review of an order (R7): opened by the ident result (actor 'ident:idnow') or by a
-- support user, closed once by a support user who is neither the subject nor the opener (R19).
CREATE TABLE reviews (
	id          bigserial PRIMARY KEY,
	order_id    bigint NOT NULL REFERENCES orders (id),
	reason      text NOT NULL,
	opened_by   text NOT NULL,
	opened_at   timestamptz NOT NULL DEFAULT now(),
	decision    text CHECK (decision IN ('approved', 'rejected')),
	decided_by  text,
	decided_at  timestamptz,
	comment     text,
	CHECK ((decision IS NULL) = (decided_at IS NULL) AND (decision IS NULL) = (decided_by IS NULL))
);
CREATE UNIQUE INDEX reviews_one_open ON reviews (order_id) WHERE decision IS NULL;

-- R11: the TransportPIN's delivery.  Only its scrypt hash is kept (certificates.
-- transport_pin_hash); the PIN itself exists here, sealed (AAD 'certificate:<id>:transport_pin'),
-- only from its creation until the gateway accepted the SMS, so that a re-run after a crash
-- in between resends the SAME PIN instead of a second, different one.
CREATE TABLE transport_pin_deliveries (
	certificate_id  text PRIMARY KEY,
	pin_sealed      bytea,
	created_at      timestamptz NOT NULL DEFAULT now(),
	sent_at         timestamptz,
	sms_id          text,
	CHECK (sent_at IS NULL OR pin_sealed IS NULL),
	CHECK (sent_at IS NOT NULL OR pin_sealed IS NOT NULL)
);

-- Notifications sent once (R8 user-ID mail): the key is the job's idempotency key.
CREATE TABLE notifications (
	idempotency_key text PRIMARY KEY,
	sent_at         timestamptz NOT NULL DEFAULT now()
);
