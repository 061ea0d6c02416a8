-- 0007_job_priority: some jobs must overtake a backlog.  R14 wants a revocation on the CRL
-- within seconds, also when hundreds of TransportPIN or mail jobs are queued, so the runner
-- claims by priority first, then by due time.  The priority follows from the kind (set by a
-- trigger), so every module keeps the one INSERT shape of docs/jobs.md.
ALTER TABLE jobs ADD COLUMN priority smallint NOT NULL DEFAULT 0;

CREATE FUNCTION jobs_priority_for_kind() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
	NEW.priority := CASE NEW.kind
		WHEN 'ca_revoke' THEN 100  -- R14: revocation status within seconds
		WHEN 'cert_issue' THEN 10
		ELSE 0
	END;
	RETURN NEW;
END $$;
CREATE TRIGGER jobs_priority_for_kind BEFORE INSERT ON jobs
	FOR EACH ROW EXECUTE FUNCTION jobs_priority_for_kind();

CREATE INDEX jobs_queued_priority ON jobs (priority DESC, run_at, id) WHERE state = 'queued';
