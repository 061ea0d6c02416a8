-- 0003_orders: order intake (issue #4): contracts (R6), users by mobile number (R3), shop
-- orders with their line items and one certificate request per unit, and the rejections a
-- support person must see.  Idempotency lives in the unique constraints below, never in
-- code that checks before it inserts: see docs/intake.md.

-- R6: contract numbers exist before the orders that quote them.  `used` is taken with
-- UPDATE ... SET used = used + n WHERE used + n <= quota, so the CHECK is a second fence.
CREATE SEQUENCE contract_number_seq;
CREATE TABLE contracts (
	id               bigserial PRIMARY KEY,
	number           text NOT NULL UNIQUE CHECK (number ~ '^[A-Z0-9-]{1,32}$'),
	organisation     text NOT NULL CHECK (length(organisation) BETWEEN 1 AND 200),
	organisation_id  text CHECK (organisation_id IS NULL OR length(organisation_id) BETWEEN 1 AND 100),
	quota            integer NOT NULL CHECK (quota > 0),
	used             integer NOT NULL DEFAULT 0 CHECK (used >= 0 AND used <= quota),
	status           text NOT NULL DEFAULT 'open' CHECK (status IN ('open', 'closed')),
	created_by       text NOT NULL,
	created_at       timestamptz NOT NULL DEFAULT now(),
	closed_at        timestamptz
);

-- R3: one user per E.164 mobile number.  public_id is random (80 bits) and never reused:
-- users are never deleted (trigger below), so the UNIQUE constraint keeps every ID ever given.
-- The ident_* columns hold the last successful identification (written by the ident flow,
-- issue #5) and decide whether a later order may rely on it (R17).
CREATE TABLE users (
	id                 bigserial PRIMARY KEY,
	public_id          text NOT NULL UNIQUE CHECK (public_id ~ '^[0-9A-HJKMNP-TV-Z]{4}(-[0-9A-HJKMNP-TV-Z]{4}){3}$'),
	phone_e164         text NOT NULL UNIQUE CHECK (phone_e164 ~ '^\+[1-9][0-9]{6,14}$'),
	state              text NOT NULL DEFAULT 'pending',
	first_name         text NOT NULL,
	last_name          text NOT NULL,
	email              text NOT NULL,
	ident_first_name   text,
	ident_last_name    text,
	ident_birth_date   date,
	ident_verified_at  timestamptz,
	created_at         timestamptz NOT NULL DEFAULT now()
);

CREATE FUNCTION users_no_delete() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
	RAISE EXCEPTION 'users are never deleted: a user ID must never be given out again (R3)';
END $$;
CREATE TRIGGER users_no_delete BEFORE DELETE ON users FOR EACH ROW EXECUTE FUNCTION users_no_delete();

-- One row per shop order: the RA order that is identified once (one person) and carries the
-- order state (workflows/wf_order.c names).  UNIQUE (shop, shop_order_id) is the idempotency
-- key of every delivery.  A cancellation seen before the order itself leaves a 'cancelled'
-- row without items, so a late 'processing' delivery cannot bring it back.
CREATE TABLE orders (
	id                  bigserial PRIMARY KEY,
	shop                text NOT NULL DEFAULT 'woocommerce',
	shop_order_id       bigint NOT NULL CHECK (shop_order_id > 0),
	shop_number         text NOT NULL,
	shop_status         text NOT NULL,
	state               text NOT NULL CHECK (state IN ('awaiting_payment', 'received', 'ident_invited',
				'ident_passed', 'in_review', 'ident_failed', 'issuing', 'issued', 'rejected', 'cancelled')),
	user_id             bigint REFERENCES users (id),
	phone_e164          text,
	first_name          text,
	last_name           text,
	email               text,
	contract_number     text,
	contract_id         bigint REFERENCES contracts (id),
	quota_taken         integer NOT NULL DEFAULT 0 CHECK (quota_taken >= 0),
	ident_tx            text NOT NULL UNIQUE,
	ident_id            text,
	ident_attempts      integer NOT NULL DEFAULT 0,
	ident_reused        boolean NOT NULL DEFAULT false,
	invite_sent_at      timestamptz,
	shop_cancel_seen_at timestamptz,
	created_at          timestamptz NOT NULL DEFAULT now(),
	paid_at             timestamptz,
	updated_at          timestamptz NOT NULL DEFAULT now(),
	UNIQUE (shop, shop_order_id),
	CHECK (state IN ('awaiting_payment', 'cancelled') OR user_id IS NOT NULL),
	CHECK (contract_id IS NOT NULL OR quota_taken = 0)
);
CREATE INDEX orders_user ON orders (user_id);

-- One row per shop line item: UNIQUE (order_id, line_item_id) is the per-item idempotency key.
-- organisation/function are what the shop sent (R4).
CREATE TABLE order_items (
	id               bigserial PRIMARY KEY,
	order_id         bigint NOT NULL REFERENCES orders (id),
	line_item_id     bigint NOT NULL,
	product_id       bigint,
	sku              text NOT NULL,
	class            text NOT NULL CHECK (class IN ('qualified', 'advanced', 'seal')),
	validity_years   integer NOT NULL CHECK (validity_years BETWEEN 1 AND 10),
	contract_months  integer NOT NULL CHECK (contract_months BETWEEN 1 AND 600),
	quantity         integer NOT NULL CHECK (quantity BETWEEN 1 AND 1000),
	organisation     text,
	organisation_id  text,
	function         text,
	UNIQUE (order_id, line_item_id),
	CHECK ((organisation IS NULL) = (function IS NULL))
);

-- Each unit of a line item is one certificate to issue.  organisation/organisation_id here
-- are the ones the certificate will carry: the contract's when the order quotes one (R6).
CREATE TABLE cert_requests (
	id               bigserial PRIMARY KEY,
	order_id         bigint NOT NULL REFERENCES orders (id),
	item_id          bigint NOT NULL REFERENCES order_items (id),
	seq              integer NOT NULL CHECK (seq >= 1),
	class            text NOT NULL CHECK (class IN ('qualified', 'advanced', 'seal')),
	validity_years   integer NOT NULL,
	organisation     text,
	organisation_id  text,
	function         text,
	state            text NOT NULL DEFAULT 'requested',
	created_at       timestamptz NOT NULL DEFAULT now(),
	UNIQUE (item_id, seq),
	CHECK ((organisation IS NULL) = (function IS NULL))
);
CREATE INDEX cert_requests_order ON cert_requests (order_id);

-- Deliveries the RA refused for a business reason (unknown SKU, not a mobile number, a
-- contract that cannot take the order): kept for support instead of being dropped, one row
-- per order and reason however often the shop repeats it.
CREATE TABLE intake_rejections (
	id             bigserial PRIMARY KEY,
	shop           text NOT NULL DEFAULT 'woocommerce',
	shop_order_id  bigint NOT NULL,
	shop_number    text NOT NULL,
	reason         text NOT NULL,
	field          text NOT NULL,
	message        text NOT NULL,
	deliveries     integer NOT NULL DEFAULT 1,
	first_seen     timestamptz NOT NULL DEFAULT now(),
	last_seen      timestamptz NOT NULL DEFAULT now(),
	UNIQUE (shop, shop_order_id, reason, field)
);
