-- 0022_jobs_claim: the claim reads a few index pages per kind, however many jobs wait
-- (issue #15; docs/jobs.md "Claim, lease, renewal").  The claim took every queued job of its
-- lane's kinds through jobs_open_state and sorted them: with 100,000 TransportPIN jobs waiting
-- (a bulk issuance, an SMS gateway down for an hour) each TransportPIN claim cost 59 ms and
-- spilled its sort to disk, and its plan was made again at every run (0.54 ms, half of what a
-- claim cost in make bench's issuance).  Now each kind's due jobs are read oldest due first
-- from jobs_queued_kind, a range that ends at now() (jobs dated ahead - retries, a delayed key
-- destruction - are not read), and the default lane finds the queued kinds by a probe per kind.
-- jobs_queued_priority (0007) served the old claim's order across kinds; nothing reads it now.
CREATE INDEX jobs_queued_kind ON jobs (kind, run_at, id) WHERE state = 'queued';
DROP INDEX jobs_queued_priority;

-- The claim, as `ra serve`'s runner sends it (ra/jobs/jobs.c): up to n due jobs of the lane's
-- kinds (default_lane: of every queued kind not in kinds, so a kind no process registered still
-- reaches a runner and is parked), best priority first, then oldest due; each becomes running
-- under a lease of lease_ms held by claimer, its attempt counted.  At most n of each kind are
-- read (FOR UPDATE SKIP LOCKED: processes claim different rows without waiting), the best n of
-- those taken, the rows updated by key.  Its plans are the same for any values, so they are
-- made once per session: a plan made for the values saw how many kinds the array holds and
-- always looked cheaper than the one made once, and was made again at every claim.
CREATE FUNCTION jobs_claim(n integer, claimer text, lease_ms bigint, kinds text[], default_lane boolean)
	RETURNS TABLE (id bigint, kind text, payload text, attempts integer, max_attempts integer,
		       idempotency_key text)
	LANGUAGE plpgsql SET plan_cache_mode = force_generic_plan AS $$
#variable_conflict use_column
DECLARE
	ks text[] := kinds;
BEGIN
	IF default_lane THEN
		-- the queued kinds, one index probe each (a skip scan over jobs_queued_kind)
		ks := ARRAY(
			WITH RECURSIVE q(k) AS (
				(SELECT j.kind FROM jobs j WHERE j.state = 'queued' ORDER BY j.kind LIMIT 1)
				UNION ALL
				SELECT (SELECT j.kind FROM jobs j WHERE j.state = 'queued' AND j.kind > q.k
					ORDER BY j.kind LIMIT 1)
				FROM q WHERE q.k IS NOT NULL)
			SELECT q.k FROM q WHERE q.k IS NOT NULL AND q.k <> ALL(kinds));
	END IF;
	RETURN QUERY
	WITH due AS (
		SELECT c.id FROM unnest(ks) AS u(k) CROSS JOIN LATERAL (
			SELECT j.id, j.priority, j.run_at FROM jobs j
			WHERE j.state = 'queued' AND j.kind = u.k AND j.run_at <= now()
			ORDER BY j.run_at, j.id LIMIT n FOR UPDATE SKIP LOCKED) c
		ORDER BY c.priority DESC, c.run_at, c.id LIMIT n)
	UPDATE jobs j SET state = 'running', attempts = j.attempts + 1, locked_by = claimer,
		lease_until = now() + lease_ms * interval '1 millisecond', updated_at = now()
	WHERE j.id = ANY (ARRAY(SELECT due.id FROM due))
	RETURNING j.id, j.kind, j.payload::text, j.attempts, j.max_attempts, j.idempotency_key;
END $$;
