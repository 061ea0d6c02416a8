-- 0015_phone_change: what a change of a user's mobile number (R3, issue #17; table
-- phone_changes from 0014) needs besides: the video identification it may rest on (its own
-- transaction number at the ident provider, the provider's id, the link mail), the SMS that
-- tell the old number, who cancelled and why, and one open change per NEW number as well, so
-- two users can never race for one number (users.phone_e164 stays UNIQUE as the last word).
-- States are the wf_phone machine's (workflows/wf_phone.c).

ALTER TABLE phone_changes
	ADD COLUMN ident_tx text UNIQUE CHECK (ident_tx IS NULL OR ident_tx ~ '^[A-Za-z0-9_.-]{1,100}$'),
	ADD COLUMN ident_mailed_at timestamptz,
	ADD COLUMN code_sms_id text,
	ADD COLUMN notice_sent_at timestamptz,
	ADD COLUMN notice_sms_id text,
	ADD COLUMN cancelled_by text,
	ADD COLUMN cancel_reason text,
	ADD CONSTRAINT phone_changes_new_differs CHECK (new_e164 <> old_e164),
	ADD CONSTRAINT phone_changes_video_has_tx CHECK (proof <> 'video_ident' OR ident_tx IS NOT NULL);

CREATE UNIQUE INDEX phone_changes_one_open_number ON phone_changes (new_e164)
	WHERE state IN ('awaiting_proof', 'awaiting_code');
CREATE INDEX phone_changes_user ON phone_changes (user_id, id);
