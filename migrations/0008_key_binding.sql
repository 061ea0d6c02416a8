-- 0008_key_binding: R2 in the database, both ways.  A key serves one certificate (unique
-- fingerprint, 0005), and a certificate keeps the one key it was issued with: once set, its
-- key fingerprint never changes.  Re-key and modification make a new certificate instead.
CREATE FUNCTION certificates_key_bound() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
	IF OLD.key_fingerprint IS NOT NULL AND NEW.key_fingerprint IS DISTINCT FROM OLD.key_fingerprint THEN
		RAISE EXCEPTION 'R2: certificate % already has a key; re-key makes a new certificate', OLD.id;
	END IF;
	RETURN NEW;
END $$;
CREATE TRIGGER certificates_key_bound BEFORE UPDATE OF key_fingerprint ON certificates
	FOR EACH ROW EXECUTE FUNCTION certificates_key_bound();
