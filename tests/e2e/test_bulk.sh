#!/usr/bin/env bash
# End-to-end test of bulk revocation (issue #17): a throwaway
# PostgreSQL, a SoftHSM2 token, the local CA, the ident, SMS and mail peers and the real
# `ra serve`, driven through the shop webhook, the ident peer's callback and the real `ractl`.
# Users, orders and the certificate are reached through the product (orders by webhook, one
# identified); SQL only reads, except where noted.
# A contract of N places, one shop order of N certificates under it (webhook), the
# identification (ident peer callback), N certificates issued by the server; then `ractl cert
# revoke --contract NUMBER`: the dry-run count, the refusal (R19) when one certificate is the support
# user's own, then the durable jobs with ra SIGKILLed halfway and started again: every serial
# on the CRL exactly once, every certificate revoked and audited exactly once.
# N is BULK_CERTS: 40 in `make test` (the suite's time budget), 300 in `make bulk`.
# Prints "ok - ..." / "not ok - ..." per check and "N passed, M failed"; exits 1 if M > 0.
set -u
cd "$(dirname "$0")/../.."
# shellcheck source=tests/lib/peers.sh
. tests/lib/peers.sh
# shellcheck source=tests/lib/flow.sh
. tests/lib/flow.sh
B=${RA_TEST_BIN:-build}
RA=$PWD/$B/ra
RACTL=$PWD/$B/ractl

. tests/lib/e2e.sh
ra_pid=
e2e_stop() {
	if [ -n "$ra_pid" ]; then kill -TERM "$ra_pid" 2>/dev/null; wait "$ra_pid" 2>/dev/null; fi
}
e2e_begin bulk

N=${BULK_CERTS:-40}

# ---- PostgreSQL, token, peers, ra serve -------------------------------------------------------
DB=$(tests/lib/pg.sh start "$work/pg") || die "cannot start PostgreSQL"
sql() { psql -qAtX -d "$DB" -v ON_ERROR_STOP=1 -c "$1"; }
SOFTHSM2_CONF=$(tests/lib/token.sh "$work/hsm" ra-bulk 12345678 4711) || die "cannot make the token"
peer_start ident "$work/peers" --company-id trustra --api-key ident-key || die "ident peer"
peer_start sms "$work/peers" --token sms-token || die "sms peer"
peer_start mail "$work/peers" --dir "$work/mail" || die "mail sink"
IDENT="http://127.0.0.1:$IDENT_PORT" SMS="http://127.0.0.1:$SMS_PORT"
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
URL="http://127.0.0.1:$port"
SHOP_SECRET=e2e-shop-$(openssl rand -hex 32) CB_SECRET=e2e-callback-$(openssl rand -hex 32)
export SOFTHSM2_CONF RA_DATABASE_URL="$DB" RA_LISTEN="127.0.0.1:$port" RA_PKCS11_PIN=4711 \
	RA_PKCS11_TOKEN=ra-bulk RA_CA_DIR="$work/ca" RA_JOBS_BACKOFF_MS=100 RA_JOBS_BACKOFF_MAX_MS=500 \
	RA_JOBS_POLL_MS=200 RA_SHOP_WOOCOMMERCE_SECRET=$SHOP_SECRET RA_DEFAULT_COUNTRY=AT \
	RA_IDENT_BASE_URL="$IDENT" RA_IDENT_COMPANY_ID=trustra RA_IDENT_API_KEY=ident-key \
	RA_IDENT_CALLBACK_SECRET=$CB_SECRET RA_SMS_URL="$SMS/v1/sms" RA_SMS_TOKEN=sms-token \
	RA_SMTP_URL="smtp://127.0.0.1:$MAIL_PORT" RA_SMTP_TLS=none \
	RA_EVIDENCE_KEY=000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f \
	RA_CA_PDS_URL=https://pki.example.test/pds_en.pdf RA_CA_CRL_URL="$URL/v1/ca/crl" \
	RA_PRODUCTS='{"QES-5Y": {"class": "qualified", "validity_years": 5, "contract_months": 12},
		"AES-10Y": {"class": "advanced", "validity_years": 10, "contract_months": 12}}'
"$RA" migrate >"$work/migrate.log" 2>&1 || { cat "$work/migrate.log"; die "ra migrate failed"; }
SUPPORT=$("$RA" token create --name sam --role support --no-customer-account) || die "support token"
ADMIN=$("$RA" token create --name root --role admin --no-customer-account) || die "admin token"

start_ra() {
	"$RA" serve >>"$work/ra.log" 2>&1 &
	ra_pid=$!
	for _ in $(seq 1 100); do
		curl -sf "$URL/healthz" >/dev/null 2>&1 && return 0
		sleep 0.1
	done
	die "ra serve does not answer"
}
# a short lease: the jobs of the killed ra are claimed again soon
export RA_JOBS_LEASE_MS=3000
start_ra
export RACTL_URL="$URL" RACTL_TOKEN="$SUPPORT"
export HOME="$work/home" XDG_CONFIG_HOME=
mkdir -p "$HOME"

# ---- helpers --------------------------------------------------------------------------------
out_py() { python3 -c "import json,re,sys; j=json.load(open(sys.argv[1])); sys.exit(0 if ($1) else 1)" "$work/out"; }
ractl() { "$RACTL" "$@" >"$work/out" 2>"$work/err"; echo $? >"$work/rc"; }
rc_is() { [ "$(cat "$work/rc")" = "$1" ]; }
err_has() { grep -q -- "$1" "$work/err"; }
wait_for() { # wait_for SECONDS COMMAND...
	_n=$(($1 * 5)); shift
	for _ in $(seq 1 "$_n"); do
		"$@" && return 0
		sleep 0.2
	done
	return 1
}
sql_is() { [ "$(sql "$_wq")" = "$_wv" ]; }
wait_sql() { _wq=$1 _wv=$2; wait_for "${3:-120}" sql_is; }
# what a refused bulk revocation could have changed (issuance's own jobs and mails go on)
digest() {
	sql "SELECT concat_ws('|', (SELECT count(*) FROM certificates WHERE state = 'revoked'),
	  (SELECT count(*) FROM jobs WHERE kind IN ('bulk_revoke', 'ca_revoke')), (SELECT count(*) FROM bulk_revocations),
	  (SELECT count(*) FROM audit_log WHERE action LIKE 'cert.%revo%'))"
}

# ---- N certificates through the product -----------------------------------------------------
RACTL_TOKEN=$ADMIN ractl contract create --organisation "Gruber Bau GmbH" --org-id NTRAT-123456a --quota "$N" \
	--reason "framework contract" -o json
number=$(python3 -c "import json,sys; print(json.load(open(sys.argv[1]))['number'])" "$work/out")
[ -n "$number" ] || die "contract create: $(cat "$work/err")"
# one variant-2 line of N certificates (R4: the contract's organisation, one function)
python3 - "$work/o.json" "$number" "$N" <<'PY'
import json, sys
d = json.load(open("tests/fixtures/woocommerce-order-variant2.json"))
d["meta_data"] = [{"id": 9101, "key": "contract_number", "value": sys.argv[2]}]
d["line_items"] = d["line_items"][:1]
d["line_items"][0]["quantity"] = int(sys.argv[3])
json.dump(d, open(sys.argv[1], "w"), ensure_ascii=False)
PY
s=$(flow_webhook "$work/o.json" "$URL" "$SHOP_SECRET")
[ "$s" = 200 ] || die "the shop order was refused ($s): $(cat "$work/o.json.answer")"
flow_identified 1 "$IDENT" "$URL" "$CB_SECRET" || die "identification"
wait_sql "SELECT count(*) FROM certificates WHERE state = 'issued'" "$N" 300 || die "not $N issued: $(sql "SELECT state, count(*) FROM certificates GROUP BY 1")"
uid=$(sql "SELECT DISTINCT user_id FROM certificates")
check "$N certificates of one contract issued through the product" \
	[ "$(sql "SELECT count(DISTINCT serial) FROM certificates WHERE order_id IS NOT NULL")" = "$N" ]

# ---- the count first; refused for all when one is the support user's own (R19) ------------
ractl cert revoke --contract "$number" --reason affiliationChanged --comment "contract ended" --dry-run -o json
check "dry run: the count of what would be revoked, nothing changed" \
	eval 'rc_is 0 && out_py "j[\"total\"] == $N and j[\"dry_run\"] is True and len(j[\"certificates\"]) == $N" && [ "$(sql "SELECT count(*) FROM certificates WHERE state = '"'revoked'"'")" = 0 ]'
ractl cert revoke --contract "$number" --reason affiliationChanged --comment "contract ended" </dev/null
check "in a pipe without --yes: refused after the count (exit 6)" eval 'rc_is 6 && err_has "$N certificates"'
OWN=$("$RA" token create --name olga --role support --user-id "$uid") || die "olga's token"
before=$(digest)
RACTL_TOKEN=$OWN ractl cert revoke --contract "$number" --reason affiliationChanged --comment "mine" --yes
check "R19: refused for all when any one is the support user's own; nothing changed" \
	eval 'rc_is 1 && err_has R19 && [ "$(digest)" = "$before" ]'
ractl cert revoke --contract "$number" --reason certificateHold --comment x --yes
check "R14: certificateHold is no reason (exit 2), nothing sent" rc_is 2
ractl cert revoke crt-x --contract "$number" --reason affiliationChanged --comment x --yes
check "an ID and a scope at once: usage error" rc_is 2

# ---- the jobs, with ra killed halfway ------------------------------------------------------------
# one slot in the lane of bulk_revoke, so that "halfway" lasts long enough to be hit
kill -TERM "$ra_pid"; wait "$ra_pid" 2>/dev/null; ra_pid=
RA_JOBS_WORKERS=1 start_ra
ractl cert revoke --contract "$number" --reason affiliationChanged --comment "contract ended" --yes --no-wait -o json
# killed at once after the answer, before anything else runs (a psql first gave the one
# worker time to revoke all 40 on a loaded machine): the jobs are committed, the revocations
# under way
kill -KILL "$ra_pid"; wait "$ra_pid" 2>/dev/null; ra_pid=
bulk=$(python3 -c "import json,sys; print(json.load(open(sys.argv[1]))['id'])" "$work/out")
check "the bulk revocation is queued as durable jobs, one per certificate" \
	[ "$(sql "SELECT count(*) FROM jobs WHERE kind = 'bulk_revoke'")" = "$N" ]
revoked() { sql "SELECT count(*) FROM certificates WHERE state = 'revoked'"; }
at_kill=$(revoked)
check "ra SIGKILLed halfway ($at_kill of $N revoked)" [ "$at_kill" -lt "$N" ]
start_ra
"$RACTL" bulk watch "$bulk" -o json >"$work/out" 2>"$work/err"; echo $? >"$work/rc"
check "ractl bulk watch follows it to the end with progress lines" \
	eval 'rc_is 0 && err_has "$N of $N revoked" && out_py "j[\"revoked\"] == $N and j[\"dead\"] == 0"'
wait_sql "SELECT count(*) FROM certificates WHERE ca_revoked_at IS NOT NULL" "$N" 120
check "every certificate revoked affiliationChanged, once" \
	[ "$(sql "SELECT count(*) FROM certificates WHERE state = 'revoked' AND revocation_reason = 'affiliationChanged'")" = "$N" ]
check "R16: each certificate audited on its own, exactly once" \
	[ "$(sql "SELECT count(*) || ':' || count(DISTINCT object_id) FROM audit_log WHERE action = 'cert.revoked'")" = "$N:$N" ]
check "... and the bulk revocation once, with who and why" \
	[ "$(sql "SELECT count(*) FROM audit_log WHERE action = 'cert.bulk_revocation' AND actor = 'support:sam'")" = 1 ]
curl -sf "$URL/v1/ca/crl" -o "$work/crl.der" || true
openssl crl -inform DER -in "$work/crl.der" -noout -text 2>/dev/null | awk '/Serial Number:/ {s = toupper($3); sub(/^0+/, "", s); print s}' | sort >"$work/crl.serials"
sql "SELECT ltrim(upper(serial), '0') FROM certificates" | sort >"$work/want.serials"
check "every serial on the CRL exactly once" \
	eval '[ "$(wc -l <"$work/crl.serials")" = "$N" ] && [ -z "$(uniq -d "$work/crl.serials")" ] && cmp -s "$work/crl.serials" "$work/want.serials"'
check "no revocation job dead or left" [ "$(sql "SELECT count(*) FROM jobs WHERE kind IN ('bulk_revoke', 'ca_revoke') AND state <> 'done'")" = 0 ]

e2e_end
