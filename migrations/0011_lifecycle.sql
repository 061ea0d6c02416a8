-- 0011_lifecycle: time (issue #14; docs/lifecycle.md).
--   * schedules: the durable scheduler's periodic tasks (ra/jobs/sched.c), one row per task,
--     claimed like a job so one node runs each tick however many `ra` nodes share the database;
--   * certificates.term_end: the paid-up contractual term, set when the certificate is issued
--     (from the order item's term) and moved by renewals;
--   * cert_reminders: which reminder went out for which certificate, once each;
--   * order_items.contract_term: the catalogue's term as an interval (contract_months or a
--     finer `term`), so the issued certificate's term end needs no catalogue lookup.

CREATE TABLE schedules (
	name          text PRIMARY KEY CHECK (name ~ '^[a-z][a-z0-9_]{0,40}$'),
	interval_ms   bigint NOT NULL CHECK (interval_ms > 0),
	next_run      timestamptz NOT NULL DEFAULT now(),
	locked_by     text,              -- the node running the current tick, until lease_until
	lease_until   timestamptz,
	runs          bigint NOT NULL DEFAULT 0,   -- ticks claimed; fences the end of a tick
	cursor        bigint NOT NULL DEFAULT 0,   -- a task's own position (the notify task: audit seq)
	last_started_at timestamptz,
	last_done_at  timestamptz,
	last_items    integer,
	last_error    text,
	created_at    timestamptz NOT NULL DEFAULT now()
);

-- The notify task reads the audit log from its cursor on: events before this migration are
-- history, not news (nobody is mailed about them).
INSERT INTO schedules (name, interval_ms, cursor)
	SELECT 'notify', 5000, coalesce(max(seq), 0) FROM audit_log;

ALTER TABLE order_items ADD COLUMN contract_term interval
	CHECK (contract_term IS NULL OR contract_term > interval '0');

ALTER TABLE certificates
	ADD COLUMN contract_term  interval,      -- copied from the order item at request time
	ADD COLUMN term_end       timestamptz,   -- paid up until; NULL before issuance
	ADD COLUMN term_ended_at  timestamptz;   -- the end-of-term policy was applied
CREATE INDEX certificates_not_after ON certificates (not_after)
	WHERE state IN ('issued', 'active', 'superseding');
CREATE INDEX certificates_term_end ON certificates (term_end)
	WHERE term_ended_at IS NULL AND state IN ('issued', 'active', 'superseding');

-- The term starts when the certificate is issued: whatever path stores the certificate, its
-- term end is set in the same UPDATE, by the database, from the term the request carried.
CREATE FUNCTION certificates_term_start() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
	IF NEW.term_end IS NULL AND NEW.contract_term IS NOT NULL AND NEW.state = 'issued'
	   AND OLD.state IS DISTINCT FROM 'issued' THEN
		NEW.term_end := coalesce(NEW.issued_at, now()) + NEW.contract_term;
	END IF;
	RETURN NEW;
END $$;
CREATE TRIGGER certificates_term_start BEFORE UPDATE ON certificates
	FOR EACH ROW EXECUTE FUNCTION certificates_term_start();

-- One row per reminder sent: kind 'expiry' (before notAfter) or 'term' (before term_end),
-- offset_s the configured offset it was sent for.  For term reminders the term end it was
-- sent for is part of the key: a renewal moves the term end, and its reminders come again.
CREATE TABLE cert_reminders (
	certificate_id text NOT NULL REFERENCES certificates (id),
	kind           text NOT NULL CHECK (kind IN ('expiry', 'term')),
	due_at         timestamptz NOT NULL,   -- notAfter or term end it reminds of
	offset_s       bigint NOT NULL CHECK (offset_s > 0),
	sent_at        timestamptz NOT NULL DEFAULT now(),
	PRIMARY KEY (certificate_id, kind, due_at, offset_s)
);
