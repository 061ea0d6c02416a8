-- 0020_audit_sequencer_cost: a sequencer batch costs what its pending records cost, not what
-- the whole log costs (issue #16; found with pg_stat_statements in `make bench`, where the
-- sequencer was the service's most expensive statement).
--
-- 1. The candidates (records of transactions at or after the horizon) were found with
--    "txid >= horizon ... ORDER BY id LIMIT n", left to the planner, which cannot know how
--    few records lie beyond the horizon (txid grows with every transaction, so statistics
--    never cover the newest values; a cached generic plan assumes a third of the table).
--    Whenever it guessed many, it walked the primary key in id order through the whole log,
--    filtering on txid, or scanned the table: on a log of 90,000 records a batch for one
--    pending record read 2,120 pages (36 ms), and every batch grew with the log; the "not
--    yet chained" test became a hash of the whole chain.  Now the candidates are collected
--    first (a MATERIALIZED CTE through audit_record_txid; enable_seqscan off for both
--    functions) and sorted after, and "not yet chained" is one index probe per candidate
--    (LATERAL ... LIMIT 1 cannot become a hash join): 29 pages for the same batch.
-- 2. The leader's batch no longer runs audit_pending() after chaining: its own scan already
--    saw every committed candidate (one snapshot), so after a batch that was not full nothing
--    is pending as of that snapshot; only a full batch (more waiting) and a follower count.
-- Same records chained in the same order, same horizon rule, same hash: only the plans change.
-- tests/integration/test_audit.c holds a batch's page reads to a bound on such a log, under a
-- generic plan (the planner's worst guess).

CREATE OR REPLACE FUNCTION audit_pending(OUT pending bigint, OUT oldest_s double precision) LANGUAGE sql STABLE
	SET enable_seqscan = off AS $$
	SELECT count(*), extract(epoch FROM clock_timestamp() - min(r.at))::double precision
	FROM audit_record r
	LEFT JOIN LATERAL (SELECT 1 AS hit FROM audit_chain c WHERE c.rec_id = r.id LIMIT 1) ch ON true
	WHERE r.txid >= (SELECT s.horizon FROM audit_sequencer s) AND ch.hit IS NULL
$$;

CREATE OR REPLACE FUNCTION audit_sequence(max_n integer, OUT chained integer, OUT head_seq bigint, OUT pending bigint,
					  OUT oldest_s double precision) LANGUAGE plpgsql SET enable_seqscan = off AS $$
DECLARE
	last record;
	r record;
	h xid8;
	xm xid8;
	s bigint;
	prev text;
	hx text;
	full_batch boolean := false;
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
		-- the candidates first (through audit_record_txid), then their order: sorting them
		-- after the scan keeps the planner from walking the primary key in id order through
		-- the whole log, filtering on txid, which it prefers whenever it guesses many rows
		FOR r IN WITH cand AS MATERIALIZED (
				SELECT a.id, a.at, a.actor, a.action, a.object_type, a.object_id, a.reason, a.details
				FROM audit_record a WHERE a.txid >= h)
			 SELECT cand.*, pg_snapshot_xmin(pg_current_snapshot()) AS xm
			 FROM cand
			 LEFT JOIN LATERAL (SELECT 1 AS hit FROM audit_chain c WHERE c.rec_id = cand.id LIMIT 1) ch ON true
			 WHERE ch.hit IS NULL
			 ORDER BY cand.id LIMIT max_n + 1 LOOP
			xm := r.xm;
			IF chained = max_n THEN
				xm := NULL; -- more than a batch: keep the horizon, the next batch goes on
				full_batch := true;
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
	IF chained >= 0 AND NOT full_batch THEN
		-- the scan chained every committed candidate it saw: none pending as of its snapshot
		pending := 0;
		oldest_s := NULL;
	ELSE
		SELECT p.pending, p.oldest_s INTO pending, oldest_s FROM audit_pending() p;
	END IF;
END $$;
