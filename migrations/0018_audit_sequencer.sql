-- 0018_audit_sequencer: the audit log no longer serialises commits (issue #16, docs/audit.md).
-- A transaction appends its records to audit_record (append-only, no lock beyond the row);
-- one sequencer (the `ra serve` node holding a session-level advisory lock) later chains the
-- committed ones into audit_chain in batches: seq, prev_hash and hash exactly as before.
-- audit_log becomes a view over both, so `INSERT INTO audit_log` keeps working (the record is
-- pending until chained: seq, prev_hash and hash are NULL then).

DROP TRIGGER audit_chain ON audit_log;
DROP FUNCTION audit_chain();

-- ---- the records: content, written in the changing transaction ---------------------------
CREATE TABLE audit_record (
	id          bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY, -- order of insertion, with gaps
	at          timestamptz NOT NULL,
	actor       text NOT NULL CHECK (actor <> ''),
	action      text NOT NULL CHECK (action <> ''),
	object_type text,
	object_id   text,
	reason      text,
	details     jsonb NOT NULL DEFAULT '{}',
	txid        xid8 NOT NULL -- the writing transaction: the sequencer's scan starts at a horizon
);
CREATE INDEX audit_record_txid ON audit_record (txid);
-- what 0014's audit_log_object_seq served (an object's records in order); gone with the old table
CREATE INDEX audit_record_object ON audit_record (object_id, id);

-- The caller cannot choose the time or the transaction id.  (NOT NULL is checked after
-- BEFORE triggers, so this runs first.)
CREATE FUNCTION audit_record_fill() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
	NEW.at := date_trunc('microseconds', clock_timestamp());
	NEW.details := coalesce(NEW.details, '{}'::jsonb);
	NEW.txid := pg_current_xact_id();
	RETURN NEW;
END $$;
CREATE TRIGGER audit_record_fill BEFORE INSERT ON audit_record FOR EACH ROW EXECUTE FUNCTION audit_record_fill();

-- ---- the chain: one row per record, written by the sequencer only ------------------------
CREATE TABLE audit_chain (
	seq        bigint PRIMARY KEY,
	rec_id     bigint NOT NULL UNIQUE, -- a record is chained at most once
	prev_hash  text UNIQUE,            -- a fork would need two records with one predecessor
	hash       text NOT NULL UNIQUE CHECK (hash ~ '^[0-9a-f]{64}$'),
	chained_at timestamptz NOT NULL,
	CHECK ((seq = 1) = (prev_hash IS NULL))
);

-- The existing chain moves over unchanged: record id = seq, the stored times (the hash covers
-- them), so the fill trigger stays off for the copy.
ALTER TABLE audit_record DISABLE TRIGGER audit_record_fill;
INSERT INTO audit_record (id, at, actor, action, object_type, object_id, reason, details, txid)
	OVERRIDING SYSTEM VALUE
	SELECT seq, at, actor, action, object_type, object_id, reason, details, '0'::xid8 FROM audit_log;
ALTER TABLE audit_record ENABLE TRIGGER audit_record_fill;
INSERT INTO audit_chain (seq, rec_id, prev_hash, hash, chained_at)
	SELECT seq, seq, prev_hash, hash, at FROM audit_log;
SELECT setval(pg_get_serial_sequence('audit_record', 'id'), coalesce((SELECT max(seq) FROM audit_log), 0) + 1, false);
DROP TABLE audit_log;

-- The sequencer's progress: records of transactions older than `horizon` (the oldest
-- transaction still running at its last batch) are all chained, so a batch scans only
-- txid >= horizon.  Not audit data: a wrong horizon can only leave records pending, which
-- `ra audit verify` (a full scan) reports.
CREATE TABLE audit_sequencer (
	one        boolean PRIMARY KEY DEFAULT true CHECK (one),
	horizon    xid8 NOT NULL,
	batches    bigint NOT NULL DEFAULT 0,
	batch_at   timestamptz
);
INSERT INTO audit_sequencer (horizon) VALUES ('0'::xid8);

-- ---- the view the service and operators read and write -----------------------------------
CREATE VIEW audit_log AS
	SELECT c.seq, r.at, r.actor, r.action, r.object_type, r.object_id, r.reason, r.details, c.prev_hash,
	       c.hash, r.id, c.chained_at
	FROM audit_record r LEFT JOIN audit_chain c ON c.rec_id = r.id;

-- INSERT INTO audit_log appends a pending record; whatever the caller puts in seq, at,
-- prev_hash and hash is ignored.  RETURNING sees the record's id and time, seq still NULL.
CREATE FUNCTION audit_log_insert() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
	INSERT INTO audit_record (actor, action, object_type, object_id, reason, details)
		VALUES (NEW.actor, NEW.action, NEW.object_type, NEW.object_id, NEW.reason, NEW.details)
		RETURNING id, at, details INTO NEW.id, NEW.at, NEW.details;
	NEW.seq := NULL;
	NEW.prev_hash := NULL;
	NEW.hash := NULL;
	NEW.chained_at := NULL;
	RETURN NEW;
END $$;
CREATE TRIGGER audit_log_insert INSTEAD OF INSERT ON audit_log FOR EACH ROW EXECUTE FUNCTION audit_log_insert();

-- ---- append-only, both tables (audit_refuse from 0002) -------------------------------------
CREATE TRIGGER audit_no_update BEFORE UPDATE OR DELETE ON audit_record FOR EACH ROW EXECUTE FUNCTION audit_refuse();
CREATE TRIGGER audit_no_truncate BEFORE TRUNCATE ON audit_record FOR EACH STATEMENT EXECUTE FUNCTION audit_refuse();
CREATE TRIGGER audit_no_update BEFORE UPDATE OR DELETE ON audit_chain FOR EACH ROW EXECUTE FUNCTION audit_refuse();
CREATE TRIGGER audit_no_truncate BEFORE TRUNCATE ON audit_chain FOR EACH STATEMENT EXECUTE FUNCTION audit_refuse();
CREATE TRIGGER audit_no_update INSTEAD OF UPDATE OR DELETE ON audit_log FOR EACH ROW EXECUTE FUNCTION audit_refuse();
REVOKE UPDATE, DELETE, TRUNCATE ON audit_record, audit_chain FROM PUBLIC;

-- ---- pending records -----------------------------------------------------------------------
-- Committed records not yet chained: how many, and the age of the oldest in seconds (NULL
-- when none).  Uses the horizon, so it is cheap; `ra audit verify` counts without it.
CREATE FUNCTION audit_pending(OUT pending bigint, OUT oldest_s double precision) LANGUAGE sql STABLE AS $$
	SELECT count(*), extract(epoch FROM clock_timestamp() - min(r.at))::double precision
	FROM audit_record r
	WHERE r.txid >= (SELECT s.horizon FROM audit_sequencer s)
	  AND NOT EXISTS (SELECT 1 FROM audit_chain c WHERE c.rec_id = r.id)
$$;

-- ---- the sequencer -------------------------------------------------------------------------
-- One batch, one statement, one transaction.  Only the session holding the session-level
-- advisory lock 7310016 chains (the first call of a session tries to take it; it is kept
-- until the session ends, so a dead node's lock goes with its connection).  Chains up to
-- max_n committed records in id order, each to the newest chained one, exactly as 0002's
-- trigger did; a record of a transaction still running is invisible now and is chained by a
-- later batch (its txid is >= the horizon stored here).  Returns what it did and what is
-- still pending; chained = -1 when another session is the sequencer.
CREATE FUNCTION audit_sequence(max_n integer, OUT chained integer, OUT head_seq bigint, OUT pending bigint,
			       OUT oldest_s double precision) LANGUAGE plpgsql AS $$
DECLARE
	last record;
	r record;
	h xid8;
	xm xid8;
	s bigint;
	prev text;
	hx text;
	now_ts timestamptz := clock_timestamp();
BEGIN
	chained := 0;
	IF coalesce(current_setting('ra.audit_sequencer', true), '') <> 'on' THEN
		IF NOT pg_try_advisory_lock(7310016) THEN
			chained := -1;
		ELSE
			PERFORM set_config('ra.audit_sequencer', 'on', false);
			-- a batch whose node died is cancelled within a second (not run on to its end),
			-- and a vanished peer (no FIN) is noticed within seconds: the lock is released
			PERFORM set_config('client_connection_check_interval', '1000', false);
			PERFORM set_config('tcp_keepalives_idle', '5', false);
			PERFORM set_config('tcp_keepalives_interval', '1', false);
			PERFORM set_config('tcp_keepalives_count', '3', false);
		END IF;
	END IF;
	SELECT c.seq, c.hash INTO last FROM audit_chain c ORDER BY c.seq DESC LIMIT 1;
	s := coalesce(last.seq, 0);
	prev := last.hash;
	IF chained = 0 THEN
		SELECT a.horizon INTO h FROM audit_sequencer a WHERE a.one;
		-- The candidates and the horizon come from one snapshot (one statement): every
		-- transaction older than xm had ended when it was taken, so its records are here.
		FOR r IN SELECT a.id, a.at, a.actor, a.action, a.object_type, a.object_id, a.reason, a.details,
				pg_snapshot_xmin(pg_current_snapshot()) AS xm
			 FROM audit_record a
			 WHERE a.txid >= h AND NOT EXISTS (SELECT 1 FROM audit_chain c WHERE c.rec_id = a.id)
			 ORDER BY a.id LIMIT max_n + 1 LOOP
			xm := r.xm;
			IF chained = max_n THEN
				xm := NULL; -- more than a batch: keep the horizon, the next batch goes on
				EXIT;
			END IF;
			s := s + 1;
			hx := audit_hash(prev, s, r.at, r.actor, r.action, r.object_type, r.object_id, r.reason,
					 r.details);
			INSERT INTO audit_chain (seq, rec_id, prev_hash, hash, chained_at) VALUES (s, r.id, prev, hx, now_ts);
			prev := hx;
			chained := chained + 1;
		END LOOP;
		-- nothing chained: the horizon stays (a later snapshot's xmin could pass a record
		-- that committed after the scan's snapshot)
		IF chained > 0 THEN
			UPDATE audit_sequencer a SET horizon = coalesce(xm, a.horizon), batches = a.batches + 1,
				batch_at = now_ts WHERE a.one;
		END IF;
	END IF;
	head_seq := s;
	SELECT p.pending, p.oldest_s INTO pending, oldest_s FROM audit_pending() p;
END $$;
