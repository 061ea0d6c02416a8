-- 0013_audit_checkpoints: signed checkpoints of the audit chain (issue #16, docs/audit.md
-- "Checkpoints"): the RFC 9162 Merkle tree head over records 1..tree_size, signed on the
-- token with the audit key.  Both tables append-only, as the log itself.

-- The audit key: made on the token (CKA_ID key_id), its certificate issued by the RA's CA.
CREATE TABLE audit_key (
	key_sha256  text PRIMARY KEY CHECK (key_sha256 ~ '^[0-9a-f]{64}$'), -- SHA-256 of the SPKI DER
	key_id      text NOT NULL,
	public_key  text NOT NULL, -- PEM SubjectPublicKeyInfo
	certificate text NOT NULL, -- PEM
	created_at  timestamptz NOT NULL DEFAULT now()
);

-- The signed note is, byte for byte:
--   "ra-audit-checkpoint-v1\n" <tree_size> "\n" <root_hash> "\n" <at, audit_at_text> "\n"
-- signature = ECDSA P-256 (or RSA PKCS#1 v1.5) over SHA-256 of it, DER, base64.
CREATE TABLE audit_checkpoint (
	tree_size  bigint PRIMARY KEY CHECK (tree_size > 0),
	root_hash  text NOT NULL CHECK (root_hash ~ '^[0-9a-f]{64}$'),
	at         timestamptz NOT NULL,
	key_sha256 text NOT NULL REFERENCES audit_key (key_sha256),
	signature  text NOT NULL
);

CREATE FUNCTION audit_checkpoint_note(tree_size bigint, root_hash text, at timestamptz) RETURNS text
	LANGUAGE sql STABLE AS $$
	SELECT 'ra-audit-checkpoint-v1' || E'\n' || tree_size::text || E'\n' || root_hash || E'\n'
		|| audit_at_text(at) || E'\n'
$$;

CREATE TRIGGER audit_no_update BEFORE UPDATE OR DELETE ON audit_key FOR EACH ROW EXECUTE FUNCTION audit_refuse();
CREATE TRIGGER audit_no_truncate BEFORE TRUNCATE ON audit_key FOR EACH STATEMENT EXECUTE FUNCTION audit_refuse();
CREATE TRIGGER audit_no_update BEFORE UPDATE OR DELETE ON audit_checkpoint FOR EACH ROW EXECUTE FUNCTION audit_refuse();
CREATE TRIGGER audit_no_truncate BEFORE TRUNCATE ON audit_checkpoint FOR EACH STATEMENT EXECUTE FUNCTION audit_refuse();
REVOKE UPDATE, DELETE, TRUNCATE ON audit_key, audit_checkpoint FROM PUBLIC;
