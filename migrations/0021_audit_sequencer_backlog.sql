-- 0021_audit_sequencer_backlog: two costs of 0020's sequencer functions, found when the
-- merge train ran tests/e2e/test_audit_seq.sh on a loaded machine (a backlog of pending
-- records drained too slowly: 2,000 pending records in batches of 5 took 59 s, against 1 s
-- before 0020):
-- 1. enable_seqscan = off gives a disabled path a cost of 10^10, above jit_above_cost, so a
--    statement that still had one (audit_pending()'s read of audit_sequencer) was JIT-compiled
--    on every call, about 150 ms each.  Both functions now run with jit off, and that read
--    goes through the table's key.
-- 2. A full batch called audit_pending() to report what it left.  The batch's own scan now
--    says so (window columns over its candidates: how many, and the oldest from each row on,
--    a running min from the newest), and the scan carries only ids and times: the records it
--    chains are read by id.  The same backlog now drains in 3.3 s; a batch on a long log
--    still reads a bounded number of pages (tests/integration/test_audit.c).
-- Same records chained in the same order, same horizon rule, same hash.

CREATE OR REPLACE FUNCTION audit_pending(OUT pending bigint, OUT oldest_s double precision) LANGUAGE sql STABLE
	SET enable_seqscan = off SET jit = off AS $$
	SELECT count(*), extract(epoch FROM clock_timestamp() - min(r.at))::double precision
	FROM audit_record r
	LEFT JOIN LATERAL (SELECT 1 AS hit FROM audit_chain c WHERE c.rec_id = r.id LIMIT 1) ch ON true
	WHERE r.txid >= (SELECT s.horizon FROM audit_sequencer s WHERE s.one) AND ch.hit IS NULL
$$;

CREATE OR REPLACE FUNCTION audit_sequence(max_n integer, OUT chained integer, OUT head_seq bigint, OUT pending bigint,
					  OUT oldest_s double precision) LANGUAGE plpgsql SET enable_seqscan = off SET jit = off AS $$
DECLARE
	last record;
	r record;
	h xid8;
	xm xid8;
	s bigint;
	prev text;
	hx text;
	full_batch boolean := false;
	rest bigint;
	rest_at timestamptz;
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
		-- (only ids and times: the rest of the batch's records are read by id, so a backlog of
		-- pending records costs an index probe each, not a copy each); the window columns say
		-- how many were pending and the oldest of those from each row on, in id order
		FOR r IN WITH cand AS MATERIALIZED (SELECT a.id, a.at FROM audit_record a WHERE a.txid >= h),
			 pick AS MATERIALIZED (
				SELECT cand.id, pg_snapshot_xmin(pg_current_snapshot()) AS xm, count(*) OVER () AS n_pending,
				       min(cand.at) OVER (ORDER BY cand.id DESC ROWS UNBOUNDED PRECEDING)
					AS oldest_from_here -- a running min from the newest: linear
				FROM cand
				LEFT JOIN LATERAL (SELECT 1 AS hit FROM audit_chain c WHERE c.rec_id = cand.id LIMIT 1) ch ON true
				WHERE ch.hit IS NULL
				ORDER BY cand.id LIMIT max_n + 1)
			 SELECT a.id, a.at, a.actor, a.action, a.object_type, a.object_id, a.reason, a.details, pick.xm,
				pick.n_pending, pick.oldest_from_here
			 FROM pick CROSS JOIN LATERAL (SELECT * FROM audit_record a0 WHERE a0.id = pick.id) a
			 ORDER BY pick.id LOOP
			xm := r.xm;
			IF chained = max_n THEN
				xm := NULL; -- more than a batch: keep the horizon, the next batch goes on
				full_batch := true;
				rest := r.n_pending - max_n; -- pending after this batch, as of its snapshot
				rest_at := r.oldest_from_here;
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
	ELSIF chained >= 0 THEN
		-- a full batch: what its scan left for the next one
		pending := rest;
		oldest_s := extract(epoch FROM clock_timestamp() - rest_at)::double precision;
	ELSE
		SELECT p.pending, p.oldest_s INTO pending, oldest_s FROM audit_pending() p;
	END IF;
END $$;
