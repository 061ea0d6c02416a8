-- 0006_support: what the support desk (issue #7) needs beyond the intake and certificate tables.
--   * R19: which customer account, if any, a support user is themselves (support_staff).
--   * R9: whether the signing back-end still lists an authenticator-app registration.
--   * R10: the consent declaration a single-factor user signed (reference, when).
--   * R13: when a user was locked (the lock and the factor are in users.state, wf_user names).

-- R19: a support user never acts on their own account.  One row per support user name (the
-- name their tokens carry); user_id is the users.public_id of their own customer account.
CREATE TABLE support_staff (
	name        text PRIMARY KEY CHECK (name ~ '^[A-Za-z0-9._@-]{1,64}$'),
	user_id     text UNIQUE REFERENCES users (public_id),
	updated_at  timestamptz NOT NULL DEFAULT now()
);

ALTER TABLE users
	ADD COLUMN app_registered      boolean NOT NULL DEFAULT false,
	ADD COLUMN single_consent_ref  text CHECK (single_consent_ref IS NULL OR length(single_consent_ref) BETWEEN 1 AND 200),
	ADD COLUMN single_consent_at   timestamptz,
	ADD COLUMN locked_at           timestamptz,
	ADD COLUMN updated_at          timestamptz NOT NULL DEFAULT now();

-- The user machine's states (workflows/wf_user.c); a typo in code must not store a new one.
ALTER TABLE users ADD CONSTRAINT users_state_known CHECK (state IN ('pending', 'active_sms', 'active_app',
	'active_single', 'locked_sms', 'locked_app', 'locked_single', 'closed'));
-- R10: a single-factor user always has the consent declaration on record.
ALTER TABLE users ADD CONSTRAINT users_single_has_consent
	CHECK (state NOT IN ('active_single', 'locked_single') OR single_consent_ref IS NOT NULL);

-- Support looks users' certificates and dead jobs up often.
CREATE INDEX jobs_dead ON jobs (id) WHERE state = 'dead';
