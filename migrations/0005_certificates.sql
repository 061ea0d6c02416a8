-- 0005_certificates: certificates and their keys (R2), issuance and revocation state.
-- The id doubles as the token key's CKA_ID and the CA's request id, so a retried issuance
-- finds the same key and the same certificate (ca-bridge is idempotent by it).
CREATE TABLE certificates (
	id                text PRIMARY KEY
	                  DEFAULT ('crt-' || replace(gen_random_uuid()::text, '-', ''))
	                  CHECK (id ~ '^[A-Za-z0-9._-]{1,64}$'),
	user_id           text,              -- the user's public id (users table, issue #4)
	order_id          text,              -- the RA order it was requested by, if any
	class             text NOT NULL CHECK (class IN ('qualified', 'advanced', 'seal')),
	state             text NOT NULL DEFAULT 'requested'
	                  CHECK (state IN ('requested', 'key_generated', 'issued', 'active', 'superseding',
	                                   'revoked', 'expired', 'failed')),
	subject           jsonb NOT NULL,    -- country, given_name, surname, serial_number, common_name,
	                                     -- organization, organization_identifier, title
	validity_years    int NOT NULL CHECK (validity_years BETWEEN 1 AND 10),
	key_alg           text NOT NULL DEFAULT 'ec-p256' CHECK (key_alg IN ('ec-p256', 'rsa-3072')),
	key_fingerprint   text UNIQUE,       -- R2: SHA-256 of the SubjectPublicKeyInfo; one key, one certificate
	serial            text UNIQUE,
	pem               text,
	not_before        timestamptz,
	not_after         timestamptz,
	ident_id          text,              -- R7: the identification it rests on; issuance refuses NULL
	replaces          text REFERENCES certificates (id),  -- re-key / modification (R15)
	replace_reason    text CHECK (replace_reason IN ('superseded', 'affiliationChanged')),
	replaced_by       text REFERENCES certificates (id),
	transport_pin_hash text,             -- R11: only the hash of the TransportPIN
	revoked_at        timestamptz,
	revocation_reason text CHECK (revocation_reason IN ('unspecified', 'keyCompromise', 'affiliationChanged',
	                                                    'superseded', 'cessationOfOperation', 'privilegeWithdrawn')),
	ca_revoked_at     timestamptz,       -- when the CA confirmed (CRL shows it)
	failure           text,
	created_at        timestamptz NOT NULL DEFAULT now(),
	issued_at         timestamptz,
	updated_at        timestamptz NOT NULL DEFAULT now(),
	CHECK ((state = 'revoked') = (revoked_at IS NOT NULL))
);
CREATE INDEX certificates_user ON certificates (user_id);
CREATE INDEX certificates_order ON certificates (order_id);

-- R14: revocation is final.  No UPDATE may take a revoked certificate anywhere else or change
-- how and when it was revoked.
CREATE FUNCTION certificates_revocation_final() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
	IF OLD.state = 'revoked' AND (NEW.state <> 'revoked' OR NEW.revoked_at IS DISTINCT FROM OLD.revoked_at
	    OR NEW.revocation_reason IS DISTINCT FROM OLD.revocation_reason) THEN
		RAISE EXCEPTION 'R14: certificate % is revoked; revocation is final', OLD.id;
	END IF;
	NEW.updated_at := now();
	RETURN NEW;
END $$;
CREATE TRIGGER certificates_revocation_final BEFORE UPDATE ON certificates
	FOR EACH ROW EXECUTE FUNCTION certificates_revocation_final();
