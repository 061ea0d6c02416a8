-- 0019_term: the contractual term in use (issue #14; docs/lifecycle.md "The contractual term").
--   * a replacement (re-key, modification) carries on the term end of the certificate it
--     replaces: the customer paid for a term, not for a key;
--   * renewals: one row per renewal applied (a shop order's line item, or support's
--     `ractl cert renew`), the idempotency key of a renewal order delivered again.

CREATE OR REPLACE FUNCTION certificates_term_start() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
	IF NEW.term_end IS NULL AND NEW.state = 'issued' AND OLD.state IS DISTINCT FROM 'issued' THEN
		IF NEW.replaces IS NOT NULL THEN
			SELECT o.term_end INTO NEW.term_end FROM certificates o WHERE o.id = NEW.replaces;
		ELSIF NEW.contract_term IS NOT NULL THEN
			NEW.term_end := coalesce(NEW.issued_at, now()) + NEW.contract_term;
		END IF;
	END IF;
	RETURN NEW;
END $$;

-- source 'shop': key = '<shop>:<shop order id>:<line item id>'; source 'support': key = the
-- admin request's own key (the route makes one per call).
CREATE TABLE renewals (
	id              bigserial PRIMARY KEY,
	source          text NOT NULL CHECK (source IN ('shop', 'support')),
	key             text NOT NULL CHECK (length(key) BETWEEN 1 AND 200),
	certificate_id  text NOT NULL REFERENCES certificates (id),
	old_term_end    timestamptz,
	new_term_end    timestamptz NOT NULL,
	actor           text NOT NULL,
	reason          text,
	created_at      timestamptz NOT NULL DEFAULT now(),
	UNIQUE (source, key, certificate_id)
);
CREATE INDEX renewals_certificate ON renewals (certificate_id);
