-- 0012_wrapped_keys: subscriber keys kept outside the token, wrapped under a token-resident
-- key-encryption key (issue #15, docs/ca-bridge.md "Wrapped key storage").  The blob is the
-- private key wrapped with CKM_AES_KEY_WRAP_PAD (RFC 5649) plus its public key; kek_label and
-- kek_version name the KEK it is wrapped under.  key_storage says where the certificate's key
-- lives: 'token' (a token object with CKA_ID = id, pkcs11.key_storage = token and every key
-- made before this migration) or 'wrapped' (key_blob).  key_destroyed_at: when the key was
-- destroyed (revocation, expiry); a destroyed key never comes back.
ALTER TABLE certificates
	ADD COLUMN key_storage text CHECK (key_storage IN ('token', 'wrapped')),
	ADD COLUMN key_blob bytea,
	ADD COLUMN kek_label text,
	ADD COLUMN kek_version int CHECK (kek_version > 0),
	ADD COLUMN key_destroyed_at timestamptz,
	ADD CONSTRAINT certificates_blob_has_kek
		CHECK (key_blob IS NULL OR (key_storage = 'wrapped' AND kek_label IS NOT NULL AND kek_version IS NOT NULL)),
	-- R2: a blob always carries its fingerprint, so the unique index covers wrapped keys too
	ADD CONSTRAINT certificates_blob_has_fingerprint CHECK (key_blob IS NULL OR key_fingerprint IS NOT NULL),
	ADD CONSTRAINT certificates_destroyed_has_no_blob CHECK (key_destroyed_at IS NULL OR key_blob IS NULL);

UPDATE certificates SET key_storage = 'token' WHERE key_fingerprint IS NOT NULL;

-- the re-wrap job's work list: blobs under an older KEK version
CREATE INDEX certificates_kek ON certificates (kek_label, kek_version, id) WHERE key_blob IS NOT NULL;

-- A destroyed key stays destroyed; a blob changes only by a re-wrap under a newer KEK version.
CREATE FUNCTION certificates_key_blob() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
	IF OLD.key_destroyed_at IS NOT NULL AND (NEW.key_blob IS NOT NULL OR NEW.key_destroyed_at IS DISTINCT FROM OLD.key_destroyed_at) THEN
		RAISE EXCEPTION 'certificate %: its key was destroyed at %; it never comes back', OLD.id, OLD.key_destroyed_at;
	END IF;
	IF OLD.key_blob IS NOT NULL AND NEW.key_blob IS NOT NULL AND NEW.key_blob <> OLD.key_blob
	   AND (NEW.kek_label IS DISTINCT FROM OLD.kek_label OR NEW.kek_version <= OLD.kek_version) THEN
		RAISE EXCEPTION 'R2: certificate % keeps its key; a blob changes only by a re-wrap under a newer KEK version', OLD.id;
	END IF;
	RETURN NEW;
END $$;
CREATE TRIGGER certificates_key_blob BEFORE UPDATE OF key_blob, key_destroyed_at ON certificates
	FOR EACH ROW EXECUTE FUNCTION certificates_key_blob();

-- ---- key destruction (issue #15) --------------------------------------------------------
-- When a certificate ends (revoked, expired, or failed before it was issued) its key is
-- destroyed in the same transaction as the state change, whichever path made the change
-- (support's revocation, a replacement, expiry): a wrapped key's blob is erased and audited
-- right there; a token key (C_DestroyObject needs the token) and a destruction the operator's
-- policy delays (keys.destroy_delay_hours, written here by `ra serve` at start) become a
-- key_destroy job in the same transaction, due after the delay.
CREATE TABLE key_policy (
	only_row      boolean PRIMARY KEY DEFAULT true CHECK (only_row),
	destroy_delay interval NOT NULL DEFAULT '0' CHECK (destroy_delay >= '0')
);
INSERT INTO key_policy DEFAULT VALUES;

CREATE FUNCTION certificates_key_destroy() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
	delay interval;
BEGIN
	IF NEW.state IN ('revoked', 'expired', 'failed') AND OLD.state NOT IN ('revoked', 'expired', 'failed')
	   AND NEW.key_destroyed_at IS NULL AND (NEW.key_blob IS NOT NULL OR NEW.key_storage = 'token') THEN
		SELECT destroy_delay INTO delay FROM key_policy;
		IF coalesce(delay, '0') = '0' AND NEW.key_blob IS NOT NULL THEN
			INSERT INTO audit_log (actor, action, object_type, object_id, reason, details)
			VALUES ('system', 'cert.key_destroyed', 'certificate', NEW.id, 'certificate ' || NEW.state,
				jsonb_build_object('storage', 'wrapped', 'key_fingerprint', NEW.key_fingerprint,
						   'kek_label', NEW.kek_label, 'kek_version', NEW.kek_version));
			NEW.key_blob := NULL;
			NEW.key_destroyed_at := now();
		ELSE
			INSERT INTO jobs (kind, payload, idempotency_key, run_at)
			VALUES ('key_destroy', jsonb_build_object('certificate_id', NEW.id), 'key_destroy:' || NEW.id,
				now() + coalesce(delay, '0'))
			ON CONFLICT (idempotency_key) DO NOTHING;
		END IF;
	END IF;
	RETURN NEW;
END $$;
CREATE TRIGGER certificates_key_destroy BEFORE UPDATE OF state ON certificates
	FOR EACH ROW EXECUTE FUNCTION certificates_key_destroy();
