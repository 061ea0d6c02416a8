-- 0024_kek_version_check: a key wrapped under the KEK version its job read cannot be stored
-- behind a rotation's re-wrap (issue #15, docs/ca-bridge.md "Wrapped key storage").  A
-- cert_issue job reads the label's highest version with its row, makes the key on the pool and
-- stores it later.  A rotation that committed in between starts a kek_rewrap whose cursor could
-- pass that certificate's id before the old-version blob was stored: the blob stayed under the
-- old version until the next rotation.  Now every insert into kek_versions (a rotation, a
-- creation, `ra serve`'s first record) takes the label's lock exclusively until its commit, and
-- a key store takes it shared and then reads the label's highest version:
--   - a store that holds the lock first commits before the rotation can, so the rotation's
--     re-wrap (its first run reads after the rotation's commit) sees the stored blob;
--   - a store that comes after the rotation's insert waits for its commit, then reads the new
--     version (a volatile function reads in a snapshot of its own statement, taken after the
--     lock) and is refused with constraint kek_version_current; the job makes its key again,
--     under the token's highest, in the same attempt (ra/flows/cert/cert.c).
-- The lock is the two-key form (7310024, label): single-key advisory locks are other uses.
CREATE FUNCTION kek_versions_lock() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
	PERFORM pg_advisory_xact_lock(7310024, hashtext(NEW.label));
	RETURN NEW;
END $$;

CREATE TRIGGER kek_versions_lock BEFORE INSERT ON kek_versions
	FOR EACH ROW EXECUTE FUNCTION kek_versions_lock();

-- True, or an error when the label's highest version is above the one the key was made for
-- (p_version: the higher of the version the caller read before it wrapped and the one it
-- wrapped under; a label with no row is never behind).  Nodes that run code from before this
-- migration store without the check: rotate only once every node runs code that has it.
CREATE FUNCTION kek_version_check(p_label text, p_version integer) RETURNS boolean
	LANGUAGE plpgsql VOLATILE AS $$
DECLARE
	cur integer;
BEGIN
	-- the fresh read after the lock is READ COMMITTED's; in a transaction with one snapshot it
	-- would be the snapshot from before the wait, and the check would pass without effect
	IF current_setting('transaction_isolation') <> 'read committed' THEN
		RAISE EXCEPTION 'kek_version_check needs READ COMMITTED, the transaction is %',
			current_setting('transaction_isolation') USING CONSTRAINT = 'kek_version_isolation';
	END IF;
	PERFORM pg_advisory_xact_lock_shared(7310024, hashtext(p_label));
	SELECT max(version) INTO cur FROM kek_versions WHERE label = p_label;
	IF cur > p_version THEN
		RAISE EXCEPTION 'KEK % version % became current after this key was made for version %',
			p_label, cur, p_version USING CONSTRAINT = 'kek_version_current';
	END IF;
	RETURN true;
END $$;
