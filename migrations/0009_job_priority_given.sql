-- 0009_job_priority_given: the outbox helper (ra/db/outbox.c) lets a caller give a job a
-- priority of its own; 0 (the column's default, and what every caller gave before) still
-- means "the kind's priority" (0007).
CREATE OR REPLACE FUNCTION jobs_priority_for_kind() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
	IF coalesce(NEW.priority, 0) <> 0 THEN
		RETURN NEW;
	END IF;
	NEW.priority := CASE NEW.kind
		WHEN 'ca_revoke' THEN 100  -- R14: revocation status within seconds
		WHEN 'cert_issue' THEN 10
		ELSE 0
	END;
	RETURN NEW;
END $$;
