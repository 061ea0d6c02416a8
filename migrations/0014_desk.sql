-- 0014_desk: what the support desk of issue #17 looks things up by (docs/ractl.md).
--   * users.name_fold: first and last name folded as ra/base/names.c does it with libunistring
--     (NFKC, full case folding, diacritics dropped, white space collapsed), so `ractl search
--     muller` finds "Müller" and "MÜLLER".  Written by intake with the user row; rows older than
--     this migration (or written by another system) are filled by `ra migrate` and at the start
--     of `ra serve` (users_fold_fill in ra/db/migrate.c), since SQL cannot call libunistring.
--     A trigram index (pg_trgm, a trusted extension) serves substring searches on it.
--   * indexes for the desk's searches and paged lists (each list orders by its index).
--   * support_tokens.expires_at: a token may carry an expiry (NULL: none); revoked_at existed.
--   * bulk_revocations: one row per bulk revocation (a contract's, an organisation's, a
--     user's certificates); each certificate is revoked by its own durable job.
--   * phone_changes: a change of a user's mobile number (R3), with its proof and the code the
--     new number confirms; at most one open per user.

CREATE EXTENSION IF NOT EXISTS pg_trgm;

ALTER TABLE users ADD COLUMN name_fold text;
CREATE INDEX users_name_fold_trgm ON users USING gin (name_fold gin_trgm_ops);
CREATE INDEX users_email_lower ON users (lower(email));

CREATE INDEX orders_state_created ON orders (state, created_at, id);
CREATE INDEX orders_created ON orders (created_at, id);
CREATE INDEX reviews_open_since ON reviews (opened_at, id) WHERE decision IS NULL;
CREATE INDEX certificates_state_id ON certificates (state, id);
CREATE INDEX certificates_serial_upper ON certificates (upper(serial));
CREATE INDEX jobs_state_id ON jobs (state, id);
CREATE INDEX audit_log_object_seq ON audit_log (object_id, seq);

ALTER TABLE support_tokens ADD COLUMN expires_at timestamptz;

CREATE TABLE bulk_revocations (
	id            bigserial PRIMARY KEY,
	scope         text NOT NULL CHECK (scope IN ('contract', 'organisation', 'user')),
	scope_value   text NOT NULL,
	reason        text NOT NULL CHECK (reason IN ('unspecified', 'keyCompromise', 'affiliationChanged',
	                                              'superseded', 'cessationOfOperation', 'privilegeWithdrawn')),
	comment       text NOT NULL,
	requested_by  text NOT NULL,
	total         integer NOT NULL CHECK (total >= 0),
	created_at    timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE phone_changes (
	id            bigserial PRIMARY KEY,
	user_id       bigint NOT NULL REFERENCES users (id),
	old_e164      text NOT NULL,
	new_e164      text NOT NULL CHECK (new_e164 ~ '^\+[1-9][0-9]{6,14}$'),
	proof         text NOT NULL CHECK (proof IN ('video_ident', 'four_eyes')),
	proof_ref     text,
	state         text NOT NULL DEFAULT 'awaiting_proof'
	              CHECK (state IN ('awaiting_proof', 'awaiting_code', 'completed', 'cancelled')),
	requested_by  text NOT NULL,
	reason        text NOT NULL,
	approved_by   text,
	ident_id      text,
	code_hash     text,
	code_failures integer NOT NULL DEFAULT 0,
	code_sent_at  timestamptz,
	created_at    timestamptz NOT NULL DEFAULT now(),
	updated_at    timestamptz NOT NULL DEFAULT now(),
	completed_at  timestamptz
);
CREATE UNIQUE INDEX phone_changes_one_open ON phone_changes (user_id)
	WHERE state IN ('awaiting_proof', 'awaiting_code');
