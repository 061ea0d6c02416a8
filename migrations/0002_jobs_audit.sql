-- 0002_jobs_audit: the durable job queue (outbox, docs/jobs.md), the effect table of the
-- built-in 'test.effect' job kind, and the append-only, hash-chained audit log (R16,
-- docs/audit.md).

-- ---- jobs ---------------------------------------------------------------------------------
CREATE TABLE jobs (
	id              bigserial PRIMARY KEY,
	kind            text NOT NULL CHECK (kind <> '' AND length(kind) <= 100),
	payload         jsonb NOT NULL DEFAULT '{}',
	idempotency_key text UNIQUE,
	state           text NOT NULL DEFAULT 'queued' CHECK (state IN ('queued', 'running', 'done', 'dead')),
	attempts        integer NOT NULL DEFAULT 0 CHECK (attempts >= 0),
	max_attempts    integer CHECK (max_attempts > 0), -- NULL: the limit registered for the kind
	run_at          timestamptz NOT NULL DEFAULT now(),
	lease_until     timestamptz,
	locked_by       text,
	last_error      text,
	result          jsonb,
	created_at      timestamptz NOT NULL DEFAULT now(),
	updated_at      timestamptz NOT NULL DEFAULT now(),
	done_at         timestamptz
);

-- What the runner's claim reads: due queued jobs and running jobs whose lease expired.
CREATE INDEX jobs_queued_due ON jobs (run_at, id) WHERE state = 'queued';
CREATE INDEX jobs_running_lease ON jobs (lease_until) WHERE state = 'running';
-- Gauges and `ractl` listings of what is not finished; done jobs are the bulk and stay out.
CREATE INDEX jobs_open_state ON jobs (state, kind) WHERE state <> 'done';

-- Callers use the fixed outbox INSERT with $2::jsonb; a NULL payload means "no arguments".
-- (NOT NULL is checked after BEFORE triggers, so this runs first.)
CREATE FUNCTION jobs_fill() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
	NEW.payload := coalesce(NEW.payload, '{}'::jsonb);
	RETURN NEW;
END $$;
CREATE TRIGGER jobs_fill BEFORE INSERT ON jobs FOR EACH ROW EXECUTE FUNCTION jobs_fill();

-- Wakes the runners: delivered at commit only, so a rolled-back outbox wakes nobody.
-- PostgreSQL folds identical notifications of one transaction into one.
CREATE FUNCTION jobs_notify() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
	PERFORM pg_notify('ra_jobs', NEW.kind);
	RETURN NULL;
END $$;
CREATE TRIGGER jobs_notify AFTER INSERT ON jobs FOR EACH ROW EXECUTE FUNCTION jobs_notify();

-- The effect of the built-in 'test.effect' kind (enabled by jobs.test_kinds): one row per
-- idempotency key, however often the job runs.  Proves exactly-once effects in tests.
CREATE TABLE job_test_effects (
	idempotency_key text PRIMARY KEY,
	job_id          bigint NOT NULL,
	at              timestamptz NOT NULL DEFAULT now()
);

-- ---- audit log (R16) ----------------------------------------------------------------------
CREATE TABLE audit_log (
	seq         bigint PRIMARY KEY,
	at          timestamptz NOT NULL,
	actor       text NOT NULL CHECK (actor <> ''),
	action      text NOT NULL CHECK (action <> ''),
	object_type text,
	object_id   text,
	reason      text,
	details     jsonb NOT NULL DEFAULT '{}',
	prev_hash   text UNIQUE, -- a fork would need two records with one predecessor
	hash        text NOT NULL UNIQUE CHECK (hash ~ '^[0-9a-f]{64}$'),
	CHECK ((seq = 1) = (prev_hash IS NULL))
);
CREATE INDEX audit_log_object ON audit_log (object_type, object_id);

-- One field of the canonical encoding: NULL is '-', a value is '<octets>:<UTF-8 text>'.
-- The length prefix makes the concatenation unambiguous (docs/audit.md).
CREATE FUNCTION audit_enc(v text) RETURNS text LANGUAGE sql IMMUTABLE AS $$
	SELECT CASE WHEN v IS NULL THEN '-' ELSE octet_length(v)::text || ':' || v END
$$;

CREATE FUNCTION audit_at_text(t timestamptz) RETURNS text LANGUAGE sql STABLE AS $$
	SELECT to_char(t AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"')
$$;

CREATE FUNCTION audit_hash(prev_hash text, seq bigint, at timestamptz, actor text, action text,
			   object_type text, object_id text, reason text, details jsonb)
	RETURNS text LANGUAGE sql STABLE AS $$
	SELECT encode(sha256(convert_to('ra-audit-v1' || audit_enc(prev_hash) || audit_enc(seq::text)
		|| audit_enc(audit_at_text(at)) || audit_enc(actor) || audit_enc(action)
		|| audit_enc(object_type) || audit_enc(object_id) || audit_enc(reason)
		|| audit_enc(details::text), 'UTF8')), 'hex')
$$;

-- Chains every new record to the newest one.  The transaction-scoped advisory lock makes
-- appends from all connections and all ra processes take turns until commit, so the next
-- record always sees its committed predecessor (READ COMMITTED takes a new snapshot per
-- statement, after the lock is granted).  Whatever the caller put in seq, at, prev_hash and
-- hash is overwritten.  A rolled-back append leaves no gap: seq is max + 1, not a sequence.
CREATE FUNCTION audit_chain() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
	last record;
BEGIN
	PERFORM pg_advisory_xact_lock(7310002);
	SELECT a.seq, a.hash INTO last FROM audit_log a ORDER BY a.seq DESC LIMIT 1;
	NEW.seq := coalesce(last.seq, 0) + 1;
	NEW.prev_hash := last.hash;
	NEW.at := date_trunc('microseconds', clock_timestamp());
	NEW.details := coalesce(NEW.details, '{}'::jsonb);
	NEW.hash := audit_hash(NEW.prev_hash, NEW.seq, NEW.at, NEW.actor, NEW.action, NEW.object_type,
			       NEW.object_id, NEW.reason, NEW.details);
	RETURN NEW;
END $$;
CREATE TRIGGER audit_chain BEFORE INSERT ON audit_log FOR EACH ROW EXECUTE FUNCTION audit_chain();

-- Append-only: nobody changes or removes a record through SQL.  Only a superuser or the
-- table owner can switch these triggers off, which is why ra should run as a role that
-- owns nothing (docs/audit.md); `ra audit verify` catches what such a role did anyway.
CREATE FUNCTION audit_refuse() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
	RAISE EXCEPTION 'audit_log is append-only: % refused', TG_OP
		USING ERRCODE = 'insufficient_privilege';
END $$;
CREATE TRIGGER audit_no_update BEFORE UPDATE OR DELETE ON audit_log
	FOR EACH ROW EXECUTE FUNCTION audit_refuse();
CREATE TRIGGER audit_no_truncate BEFORE TRUNCATE ON audit_log
	FOR EACH STATEMENT EXECUTE FUNCTION audit_refuse();
REVOKE UPDATE, DELETE, TRUNCATE ON audit_log FROM PUBLIC;
