-- 0023_kek_versions: the KEK version new keys are wrapped under, decided in the database
-- (issue #15, docs/ca-bridge.md "Wrapped key storage").  Before, every key generation searched
-- the token for the label's highest version: in SoftHSM2 each search reads the token's object
-- files again, a sixth of a key generation.  Now `ra kek create` and `ra kek rotate` record
-- the version they made here, in the transaction of its audit record (and, for a rotation,
-- of its first kek_rewrap job), and a cert_issue job reads the label's highest version with
-- the certificate's row: every node switches to a rotated KEK at that one commit, not when its
-- own search next sees the token object.  `ra serve` records the token's current version at
-- start when it is missing (a KEK made before this table, or the first start's own).
CREATE TABLE kek_versions (
	label    text NOT NULL CHECK (length(label) BETWEEN 1 AND 63),
	version  integer NOT NULL CHECK (version > 0),
	made_at  timestamptz NOT NULL DEFAULT now(),
	PRIMARY KEY (label, version)
);
