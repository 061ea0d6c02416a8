-- 0016_jobs_wake: jobs queued by `ra serve` wake the runners after the commit, not inside it
-- (issue #16, docs/jobs.md).  A NOTIFY takes PostgreSQL's database-wide notify lock at
-- pre-commit and holds it through the commit's WAL flush, so every committing transaction
-- that notified waited for the previous one's flush: commits that queue a job could never
-- share a flush.  `ra serve`'s pooled sessions set ra.jobs_wake = 'after_commit' and, once
-- such a transaction committed, wake their own runner and send one coalesced NOTIFY outside
-- it (ra/db/db.h: db_wake_set).  Every other inserter (psql, blocking connections, triggers
-- such as certificates_key_destroy) still notifies from this trigger.  The job is durable in
-- the table either way; the NOTIFY is only latency (the runners also poll).
DROP TRIGGER jobs_notify ON jobs;
CREATE TRIGGER jobs_notify AFTER INSERT ON jobs FOR EACH ROW
	WHEN (pg_trigger_depth() > 0 OR current_setting('ra.jobs_wake', true) IS DISTINCT FROM 'after_commit')
	EXECUTE FUNCTION jobs_notify();
