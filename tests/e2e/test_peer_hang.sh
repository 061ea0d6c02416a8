#!/usr/bin/env bash
# Hanging and failing peers (issue #19, item 2; R14): a throwaway PostgreSQL, a SoftHSM2
# token, the local CA, the ident, SMS and mail peers and the real `ra serve`, driven through
# the shop webhook, the ident peer's callback and `ractl`.
#
#  1. The SMS gateway hangs (accepts, never answers) while sixteen orders are issued: their
#     TransportPIN calls occupy at most peers.max_inflight calls, the other jobs are refused
#     (RA_E_BUSY) and wait without counting attempts, and a revocation reaches the CRL at once
#     - it has its own lane (on the old runner the hung calls held all 8 slots and the
#     revocation waited for the 15 s SMS timeout).
#  2. The hang ends: every PIN is delivered, nothing is dead.
#  3. The gateway answers 503 three times: the breaker opens (metrics, `ractl jobs peers`),
#     the job waits, a trial call after peers.breaker_open_ms closes it, the PIN goes out.
# Prints "ok - ..." / "not ok - ..." per check and "N passed, M failed"; exits 1 if M > 0.
set -u
cd "$(dirname "$0")/../.."
# shellcheck source=tests/lib/peers.sh
. tests/lib/peers.sh
B=${RA_TEST_BIN:-build}
RA=$PWD/$B/ra
RACTL=$PWD/$B/ractl

. tests/lib/e2e.sh
ra_pid=
e2e_stop() {
	[ -n "${SMS:-}" ] && curl -s -X POST "$SMS/_control/hang?on=0" >/dev/null 2>&1
	if [ -n "$ra_pid" ]; then kill -TERM "$ra_pid" 2>/dev/null; wait "$ra_pid" 2>/dev/null; fi
}
e2e_begin peerhang

# ---- PostgreSQL, token, peers, ra serve -----------------------------------------------------
DB=$(tests/lib/pg.sh start "$work/pg") || die "cannot start PostgreSQL"
sql() { psql -qAtX -d "$DB" -v ON_ERROR_STOP=1 -c "$1"; }
SOFTHSM2_CONF=$(tests/lib/token.sh "$work/hsm" ra-hang 12345678 4711) || die "cannot make the token"
peer_start ident "$work/peers" --company-id trustra --api-key ident-key || die "ident peer"
peer_start sms "$work/peers" --token sms-token --hang-max 40 || die "sms peer"
peer_start mail "$work/peers" --dir "$work/mail" || die "mail sink"
IDENT="http://127.0.0.1:$IDENT_PORT" SMS="http://127.0.0.1:$SMS_PORT"
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
URL="http://127.0.0.1:$port"
SHOP_SECRET=e2e-shop-$(openssl rand -hex 32) CB_SECRET=e2e-callback-$(openssl rand -hex 32)
# A small SMS bound and a quick breaker, so the test sees both within seconds.
export SOFTHSM2_CONF RA_DATABASE_URL="$DB" RA_LISTEN="127.0.0.1:$port" RA_PKCS11_PIN=4711 \
	RA_PKCS11_TOKEN=ra-hang RA_CA_DIR="$work/ca" RA_JOBS_BACKOFF_MS=100 RA_JOBS_BACKOFF_MAX_MS=500 \
	RA_JOBS_POLL_MS=200 RA_JOBS_BUSY_RETRY_MS=200 RA_SHOP_WOOCOMMERCE_SECRET=$SHOP_SECRET \
	RA_DEFAULT_COUNTRY=AT RA_IDENT_BASE_URL="$IDENT" RA_IDENT_COMPANY_ID=trustra \
	RA_IDENT_API_KEY=ident-key RA_IDENT_CALLBACK_SECRET=$CB_SECRET RA_SMS_URL="$SMS/v1/sms" \
	RA_SMS_TOKEN=sms-token RA_SMTP_URL="smtp://127.0.0.1:$MAIL_PORT" RA_SMTP_TLS=none \
	RA_EVIDENCE_KEY=000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f \
	RA_PEERS_MAX_INFLIGHT=2 RA_PEERS_BREAKER_FAILURES=3 RA_PEERS_BREAKER_OPEN_MS=1500 \
	RA_CA_PDS_URL=https://pki.example.test/pds_en.pdf RA_CA_CRL_URL="$URL/v1/ca/crl" \
	RA_PRODUCTS='{"QES-5Y": {"class": "qualified", "validity_years": 5, "contract_months": 12},
		"AES-10Y": {"class": "advanced", "validity_years": 10, "contract_months": 12}}'
"$RA" migrate >"$work/migrate.log" 2>&1 || { cat "$work/migrate.log"; die "ra migrate failed"; }
SUPPORT=$("$RA" token create --name sam --role support --no-customer-account) || die "support token"
"$RA" serve >>"$work/ra.log" 2>&1 &
ra_pid=$!
for _ in $(seq 1 100); do
	curl -sf "$URL/healthz" >/dev/null 2>&1 && break
	sleep 0.1
done
curl -sf "$URL/healthz" >/dev/null 2>&1 || die "ra serve does not answer"
export RACTL_URL="$URL" RACTL_TOKEN="$SUPPORT" HOME="$work/home" XDG_CONFIG_HOME=
mkdir -p "$HOME"

# ---- helpers ----------------------------------------------------------------------------------
ractl() { "$RACTL" "$@" >"$work/out" 2>"$work/err"; echo $? >"$work/rc"; }
wait_for() { # wait_for SECONDS COMMAND...
	_n=$(($1 * 5)); shift
	for _ in $(seq 1 "$_n"); do
		"$@" && return 0
		sleep 0.2
	done
	return 1
}
sql_ge() { [ "$(sql "$1")" -ge "$2" ]; }
webhook() { # webhook N: shop order N (its own id and customer), signed as WooCommerce signs
	python3 - "$1" "$work/order$1.json" <<'EOF'
import json, sys
n, out = int(sys.argv[1]), sys.argv[2]
d = json.load(open("tests/fixtures/woocommerce-order-paid.json"))
d["id"] = 5000 + n
d["number"] = str(5000 + n)
d["billing"]["email"] = "anna.gruber+%d@example.at" % n
json.dump(d, open(out, "w"))
EOF
	_sig=$(openssl dgst -sha256 -hmac "$SHOP_SECRET" -binary "$work/order$1.json" | base64)
	curl -s -o /dev/null -w '%{http_code}' -X POST -H 'Content-Type: application/json' \
		-H "X-WC-Webhook-Signature: $_sig" -H "X-WC-Webhook-Topic: order.created" \
		--data-binary "@$work/order$1.json" "$URL/v1/shop/woocommerce"
}
identifications() { curl -s "$IDENT/_control/identifications" | python3 -c 'import json,sys; print(len(json.load(sys.stdin)))'; }
ident_started() { [ "$(identifications)" -ge "$_want" ]; }
identified() { # identified N: the N-th identification started succeeds, the peer calls back
	_want=$1
	wait_for 60 ident_started || die "identification $1 not started"
	_tx=$(curl -s "$IDENT/_control/identifications" | python3 -c '
import json, sys
print(list(json.load(sys.stdin))[int(sys.argv[1]) - 1])' "$1")
	sed "s/RA-T-8F3K2Q/$_tx/g" tests/fixtures/idnow-result-success.json >"$work/result.json"
	curl -sf -X PUT --data-binary @"$work/result.json" "$IDENT/_control/result/$_tx" >/dev/null || die "ident result"
	curl -sf -X POST -d "{\"url\": \"$URL/v1/ident/idnow\", \"token\": \"$CB_SECRET\"}" \
		"$IDENT/_control/callback/$_tx" >/dev/null || die "ident callback"
}
order() { # order N: the webhook; the first order's identification succeeds, the later orders
	# of the same customer reuse it (R17) and go straight to issuance
	[ "$(webhook "$1")" = 200 ] || die "shop order $1 refused"
	[ "$1" != 1 ] || identified 1
}
hanging() { curl -s "$SMS/_control/hang" | python3 -c 'import json,sys; print(json.load(sys.stdin)["hanging"])'; }
sms_count() { curl -s "$SMS/_control/messages" | python3 -c 'import json,sys; print(len(json.load(sys.stdin)))'; }
serial_on_crl() { # serial_on_crl HEX
	curl -sf -o "$work/crl.der" "$URL/v1/ca/crl" &&
		openssl crl -inform DER -in "$work/crl.der" -noout -text 2>/dev/null | tr -d ' :' | grep -qi "SerialNumber0*$1\$"
}
peer_field() { # peer_field NAME FIELD: from `ractl jobs peers -o json`
	"$RACTL" jobs peers -o json 2>/dev/null | python3 -c '
import json, sys
d = json.load(sys.stdin)
rows = d.get("peers", d) if isinstance(d, dict) else d
print([p for p in rows if p["name"] == sys.argv[1]][0][sys.argv[2]])' "$1" "$2"
}
metric() { curl -s "$URL/metrics" | awk -v k="$1" '$1 == k {print $2}'; }

# ---- 0. one certificate issued while everything is well -----------------------------------
order 1
wait_for 60 sql_ge "SELECT count(*) FROM transport_pin_deliveries WHERE sent_at IS NOT NULL" 1 ||
	die "the first order's TransportPIN was not sent"
crt=$(sql "SELECT id FROM certificates WHERE state = 'issued' LIMIT 1")
serial=$(sql "SELECT serial FROM certificates WHERE id = '$crt'" | tr -d ':' | sed 's/^0*//')

# ---- 1. the SMS gateway hangs under ten orders ----------------------------------------------
curl -sf -X POST "$SMS/_control/hang?on=1" >/dev/null || die "cannot make the SMS peer hang"
for n in $(seq 2 17); do order "$n"; done
wait_for 60 sql_ge "SELECT count(*) FROM certificates WHERE state = 'issued'" 17
check "sixteen orders are issued while the SMS gateway hangs (issuance has its own lane)" \
	sql_ge "SELECT count(*) FROM certificates WHERE state = 'issued'" 17
wait_for 30 eval '[ "$(hanging)" -ge 2 ]'
sleep 1 # let the refused jobs come round a few times
check "at most peers.max_inflight (2) SMS calls hang at a time" eval '[ "$(hanging)" -eq 2 ]'
ractl jobs peers
check "ractl jobs peers shows the SMS bound full and calls refused" \
	eval 'grep -q "^sms *closed *2" "$work/out" && [ "$(peer_field sms refused)" -gt 0 ]'
check "refused calls count no attempt: no TransportPIN job is past its third attempt" \
	eval '[ "$(sql "SELECT count(*) FROM jobs WHERE kind = '"'transport_pin'"' AND attempts > 3")" = 0 ]'
ractl cert revoke "$crt" --reason keyCompromise --comment "peer-hang test" --yes
t0=$(date +%s.%N)
wait_for 20 serial_on_crl "$serial"
t1=$(date +%s.%N)
lat=$(python3 -c "print('%.2f' % ($t1 - $t0))")
echo "# revocation -> CRL while the SMS gateway hangs: ${lat} s ($(hanging) SMS calls hang)"
# R14 wants < 1 s; the bound here is loose for a loaded machine but far below the 15 s that the
# hung calls held every slot for before revocations had a lane.
check "R14: the revocation reaches the CRL while the SMS calls still hang (${lat} s < 5 s)" \
	eval 'serial_on_crl "$serial" && [ "$(hanging)" -ge 1 ] && python3 -c "import sys; sys.exit(0 if $lat < 5 else 1)"'
check "/healthz answers during the hang" curl -sf -o /dev/null "$URL/healthz"

# ---- 2. the hang ends -------------------------------------------------------------------------
curl -sf -X POST "$SMS/_control/hang?on=0" >/dev/null
check "after the hang every TransportPIN is sent (sixteen more SMS)" \
	wait_for 60 sql_ge "SELECT count(*) FROM transport_pin_deliveries WHERE sent_at IS NOT NULL" 17
check "no job is dead" eval '[ "$(sql "SELECT count(*) FROM jobs WHERE state = '"'dead'"'")" = 0 ]'

# ---- 3. the gateway fails: the breaker opens and closes again -------------------------------
curl -sf -X POST "$SMS/_control/fail?count=3&status=503" >/dev/null
order 18
check "three 503s open the SMS breaker (ractl jobs peers)" wait_for 30 eval '[ "$(peer_field sms state)" = open ]'
curl -s "$URL/metrics" >"$work/metrics"
check "metrics: ra_peer_breaker_state{peer=\"sms\"} 2 with HELP and TYPE" \
	eval 'grep -q "^ra_peer_breaker_state{peer=\"sms\"} 2" "$work/metrics" &&
		grep -q "^# HELP ra_peer_breaker_state " "$work/metrics" && grep -q "^# TYPE ra_peer_breaker_state gauge" "$work/metrics"'
if command -v promtool >/dev/null; then
	check "promtool check metrics: zero findings with the peer families" \
		eval 'promtool check metrics <"$work/metrics" >"$work/err" 2>&1 && [ ! -s "$work/err" ]'
fi
check "after breaker_open_ms a trial call closes the breaker and the PIN goes out" \
	wait_for 60 sql_ge "SELECT count(*) FROM transport_pin_deliveries WHERE sent_at IS NOT NULL" 18
check "the breaker is closed again" eval '[ "$(peer_field sms state)" = closed ]'
check "the failing gateway cost attempts only for the calls made (3 failures + 1 success)" \
	eval '[ "$(sql "SELECT max(attempts) FROM jobs WHERE kind = '"'transport_pin'"'")" -le 4 ]'
check "still no job is dead" eval '[ "$(sql "SELECT count(*) FROM jobs WHERE state = '"'dead'"'")" = 0 ]'

kill -TERM "$ra_pid"
wait "$ra_pid"
rc=$?
ra_pid=
check "ra serve drains and exits 0" [ "$rc" = 0 ]
if grep -q 'ERROR: AddressSanitizer\|runtime error:' "$work/ra.log"; then
	echo "not ok - sanitizer report in ra.log"; failed=$((failed + 1))
	grep -m3 'AddressSanitizer\|runtime error:' "$work/ra.log"
fi
e2e_end
