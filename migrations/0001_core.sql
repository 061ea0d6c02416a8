-- 0001_core: support staff and their API tokens (stored only as SHA-256 hashes).
CREATE TABLE support_tokens (
	id          bigserial PRIMARY KEY,
	name        text NOT NULL CHECK (name ~ '^[A-Za-z0-9._@-]{1,64}$'),
	role        text NOT NULL CHECK (role IN ('support', 'admin')),
	token_hash  text NOT NULL UNIQUE CHECK (token_hash ~ '^[0-9a-f]{64}$'),
	created_at  timestamptz NOT NULL DEFAULT now(),
	revoked_at  timestamptz
);
