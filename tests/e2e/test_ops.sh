#!/usr/bin/env bash
# `ra serve` as an operator and a careless client meet it (issue #18): every HTTP error is
# JSON {"error","message","field"} (404, 405 with Allow, 413 before the body is read whole,
# 415 on JSON routes, 431 for oversized headers, h2o's own protocol errors), every route the
# server registers is in docs/api.yaml and every operation there answers (no 404/405), and
# the metrics pass `promtool check metrics` on a live scrape with the series the alert rules
# and dashboard use.
# Prints "ok - ..." / "not ok - ..." per check and "N passed, M failed"; exits 1 if M > 0.
set -u
cd "$(dirname "$0")/../.."
# shellcheck source=tests/lib/peers.sh
. tests/lib/peers.sh
# shellcheck source=tests/lib/flow.sh
. tests/lib/flow.sh
B=${RA_TEST_BIN:-build}
RA=$PWD/$B/ra

. tests/lib/e2e.sh
ra_pid= own_pg=
e2e_stop() {
	if [ -n "$ra_pid" ]; then kill -TERM "$ra_pid" 2>/dev/null; wait "$ra_pid" 2>/dev/null; fi
}
e2e_begin ops

# http METHOD PATH [curl args...]: body to $work/out, headers to $work/hdr, status to $work/code
http() {
	_m=$1 _p=$2; shift 2
	: >"$work/err"
	curl -sS -o "$work/out" -D "$work/hdr" -w '%{http_code}' -X "$_m" "$@" "$BASE$_p" >"$work/code" \
		2>"$work/err" || echo 000 >"$work/code"
}
status_is() { [ "$(cat "$work/code")" = "$1" ]; }
# json_error STATUS CODE FIELD: the answer is STATUS with {"error": CODE, "message": ..., "field": FIELD}
json_error() {
	status_is "$1" && grep -qi '^content-type: application/json' "$work/hdr" &&
		python3 - "$work/out" "$2" "$3" <<'EOF'
import json, sys
j = json.load(open(sys.argv[1]))
ok = set(j) >= {"error", "message", "field"} and j["error"] == sys.argv[2] and j["field"] == sys.argv[3] \
    and isinstance(j["message"], str) and j["message"]
sys.exit(0 if ok else 1)
EOF
}
header_is() { grep -qi "^$1: $2"$'\r'"\?$" "$work/hdr"; }
sql() { psql -qAtX -d "$DB" -v ON_ERROR_STOP=1 -c "$1"; }

# ---- PostgreSQL, ra serve ------------------------------------------------------------------
if [ -n "${RA_TEST_PG_URL:-}" ]; then
	PG=$RA_TEST_PG_URL
else
	PG=$(tests/lib/pg.sh start "$work/pg") || die "cannot start PostgreSQL"
	own_pg=1
fi
dbname="ops_$$_$RANDOM"
psql -qAtX -d "$PG" -c "CREATE DATABASE $dbname" >/dev/null || die "cannot create a database"
DB=$(python3 -c 'import re, sys; print(re.sub(r"^(postgres(?:ql)?://[^/?]*)/[^?]*", r"\g<1>/" + sys.argv[2], sys.argv[1]))' \
	"$PG" "$dbname")
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
BASE=http://127.0.0.1:$port
SECRET=ops-shop-4255c9c69be1b23c1c5c336926c4003d24bbb12ae7543e0b3044630e526e8800 CB=ops-callback-3a56041e169823926cd4f776895b3e872d1686a11d4e7a28124d4b91c1f35709
SOFTHSM2_CONF=$(tests/lib/token.sh "$work/hsm" ra-ops 12345678 4711) || die "cannot make the token"
# the peers a customer's order goes through: identification, SMS (TransportPIN), mail
peer_start ident "$work/peers" --company-id trustra --api-key ident-key || die "ident peer"
peer_start sms "$work/peers" --token sms-token || die "sms peer"
peer_start mail "$work/peers" --dir "$work/mail" || die "mail sink"
IDENT="http://127.0.0.1:$IDENT_PORT"
export SOFTHSM2_CONF RA_DATABASE_URL="$DB" RA_LISTEN="127.0.0.1:$port" RA_SHOP_WOOCOMMERCE_SECRET=$SECRET \
	RA_IDENT_CALLBACK_SECRET=$CB RA_HTTP_MAX_BODY=4096 RA_HTTP_MAX_HEADER_BYTES=8192 RA_DEFAULT_COUNTRY=AT \
	RA_PRODUCTS='{"QES-5Y": {"class": "qualified", "validity_years": 5, "contract_months": 12},
		"AES-10Y": {"class": "advanced", "validity_years": 10, "contract_months": 12}}' \
	RA_IDENT_BASE_URL="$IDENT" RA_IDENT_COMPANY_ID=trustra RA_IDENT_API_KEY=ident-key \
	RA_SMS_URL="http://127.0.0.1:$SMS_PORT/v1/sms" RA_SMS_TOKEN=sms-token RA_SMTP_URL="smtp://127.0.0.1:$MAIL_PORT" RA_SMTP_TLS=none \
	RA_EVIDENCE_KEY=000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f \
	RA_PKCS11_PIN=4711 RA_PKCS11_TOKEN=ra-ops RA_CA_DIR="$work/ca" RA_CA_PDS_URL=https://pki.example.test/pds.pdf \
	RA_CA_CRL_URL="$BASE/v1/ca/crl" RA_CA_CRL_CHECK_S=1 RA_JOBS_POLL_MS=200 RA_JOBS_BACKOFF_MS=100
"$RA" migrate >"$work/migrate.log" 2>&1 || { cat "$work/migrate.log"; die "ra migrate failed"; }
ADMIN=$("$RA" token create --name ops --role admin --no-customer-account) || die "admin token"
"$RA" serve >"$work/ra.log" 2>&1 &
ra_pid=$!
for _ in $(seq 100); do
	curl -sf "$BASE/healthz" >/dev/null 2>&1 && break
	sleep 0.2
done
curl -sf "$BASE/healthz" >/dev/null || die "ra serve did not come up"

# ---- every error is JSON -------------------------------------------------------------------
http GET /no/such/path
check "404: unknown path, JSON with error, message and field" json_error 404 not_found ""
http DELETE /healthz
check "405: a method the path does not have, JSON" json_error 405 method_not_allowed ""
check "405 names the allowed methods in Allow" header_is allow "GET"
http GET /v1/admin/jobs/17/retry
check "405 from the admin API: GET on a POST-only route, Allow: POST" \
	eval 'json_error 405 method_not_allowed "" && header_is allow POST'
http PUT /v1/shop/woocommerce -H 'Content-Type: application/json' -d '{}'
check "405 on the webhook for PUT, Allow: POST" eval 'json_error 405 method_not_allowed "" && header_is allow POST'
head -c 5000 /dev/zero | tr '\0' 'x' >"$work/big"
http POST /v1/shop/woocommerce -H 'Content-Type: application/json' -H 'Expect:' --data-binary @"$work/big"
check "413: a body over http.max_body, JSON naming the body" json_error 413 too_large body
orders() { sql "SELECT count(*) FROM orders"; }
body=tests/fixtures/woocommerce-order-paid.json
sig=$(openssl dgst -sha256 -hmac "$SECRET" -binary "$body" | base64)
http POST /v1/shop/woocommerce -H 'Content-Type: text/plain' -H "X-WC-Webhook-Signature: $sig" \
	-H 'X-WC-Webhook-Topic: order.created' --data-binary @"$body"
check "415: a signed webhook delivery that is not application/json, JSON naming Content-Type" \
	json_error 415 unsupported_media_type Content-Type
check "415 changed nothing (no order)" [ "$(orders)" = 0 ]
http POST /v1/ident/idnow -H 'Content-Type: application/x-www-form-urlencoded' -H "X-Callback-Token: $CB" \
	--data-binary @tests/fixtures/idnow-result-success.json
check "415: the ident callback with a form Content-Type" json_error 415 unsupported_media_type Content-Type
http POST /v1/admin/certs/1/revoke -H 'Content-Type: text/plain' -d 'revoke it'
check "admin POST without a token is 401 before anything else (JSON)" json_error 401 unauthorized Authorization
http GET /healthz -H "X-Padding: $(head -c 9000 /dev/zero | tr '\0' 'p')"
check "431: headers over http.max_header_bytes, JSON naming the largest header" \
	json_error 431 headers_too_large x-padding
# h2o answers a broken Content-Length itself, before any handler: still our JSON
python3 - "$port" >"$work/raw" <<'EOF'
import socket, sys
s = socket.create_connection(("127.0.0.1", int(sys.argv[1])), timeout=5)
s.sendall(b"POST /v1/shop/woocommerce HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
          b"Content-Length: 12x\r\n\r\n{}")
data = b""
while True:
    chunk = s.recv(65536)
    if not chunk:
        break
    data += chunk
print(data.decode("latin-1"))
EOF
raw_json_400() {
	grep -q '^HTTP/1.1 400' "$work/raw" && grep -qi '^content-type: application/json' "$work/raw" &&
		tail -n 1 "$work/raw" | python3 -c 'import json,sys; j=json.loads(sys.stdin.read()); sys.exit(0 if j["error"] == "invalid" and "field" in j else 1)'
}
check "400 from h2o itself (broken Content-Length) is JSON too" raw_json_400
http GET /healthz
check "200s stay as they were (healthz)" eval 'status_is 200 && grep -q "\"database\":\"up\"" "$work/out"'

# ---- docs/api.yaml and the routes, both ways -------------------------------------------------
routes_in_spec() {
	python3 - "$work/ra.log" docs/api.yaml <<'EOF'
import re, sys
log, spec = open(sys.argv[1]).read(), open(sys.argv[2]).read()
ops = set()
cur = None
for line in spec.splitlines():
    m = re.match(r"^  (/\S*):\s*$", line)
    if m:
        cur = m.group(1)
    m = re.match(r"^    (get|post|put|delete|patch):\s*$", line)
    if m and cur:
        ops.add((m.group(1).upper(), cur))
bad, n = [], 0
for m in re.finditer(r"event=http\.route method=(\S+) path=(\S+) prefix=(\d)", log):
    n += 1
    method, path, prefix = m.group(1), m.group(2), m.group(3) == "1"
    ok = any(p.startswith(path) for (mm, p) in ops) if prefix else (method, path) in ops
    if not ok:
        bad.append(method + " " + path)
if bad or n < 20:
    print("registered but not in docs/api.yaml:", bad, "routes seen:", n, file=sys.stderr)
    sys.exit(1)
EOF
}
check "every route ra serve registers (method and path) is in docs/api.yaml" routes_in_spec
# The other way round through the interface: every documented operation answers something
# other than 404 "no such endpoint" or 405 (unauthenticated calls get 401, the CA 503 ...).
spec_ops_answer() {
	python3 - docs/api.yaml <<'EOF' >"$work/ops.txt"
import re, sys
cur = None
for line in open(sys.argv[1]):
    m = re.match(r"^  (/\S*):\s*$", line)
    if m:
        cur = m.group(1)
    m = re.match(r"^    (get|post|put|delete|patch):\s*$", line)
    if m and cur:
        print(m.group(1).upper(), re.sub(r"\{[^}]+\}", "0", cur))
EOF
	_bad= _n=0
	while read -r m p; do
		_n=$((_n + 1))
		http "$m" "$p" -H 'Content-Type: application/json' -d '{}'
		case $(cat "$work/code") in 404 | 405 | 000)
			grep -q 'no such endpoint\|method not allowed\|^$' "$work/out" && _bad="$_bad $m:$p:$(cat "$work/code")" ;;
		esac
	done <"$work/ops.txt"
	[ -z "$_bad" ] && [ "$_n" -ge 20 ] || { echo "not served:$_bad ($_n operations)" >"$work/err"; return 1; }
}
check "every operation in docs/api.yaml is served by ra serve (no 404/405)" spec_ops_answer

# ---- CRL and revocations as monitoring sees them (R14) ----------------------------------------
# Two certificates of one customer, reached as a customer reaches them: the variant-2 order
# (a qualified and an advanced certificate), then the identification (tests/lib/flow.sh).
wait_for() { # wait_for COMMAND...: up to 30 s
	for _ in $(seq 150); do "$@" && return 0; sleep 0.2; done
	return 1
}
# the order names the company's contract (R6): the first contract number, made by the admin API
curl -sf -X POST -H "Authorization: Bearer $ADMIN" -H 'Content-Type: application/json' \
	-d '{"organisation": "Gruber Bau GmbH", "org_id": "NTRAT-123456a", "quota": 2, "reason": "framework contract"}' \
	"$BASE/v1/admin/contracts" >"$work/contract.json" || die "contract"
grep -q RA-C-000001 "$work/contract.json" || die "contract number: $(cat "$work/contract.json")"
cp tests/fixtures/woocommerce-order-variant2.json "$work/order.json"
s=$(flow_webhook "$work/order.json" "$BASE" "$SECRET")
[ "$s" = 200 ] || die "the shop order was refused ($s: $(cat "$work/order.json.answer"))"
flow_identified 1 "$IDENT" "$BASE" "$CB" || die "identification"
issued() { [ "$(sql "SELECT count(*) FROM certificates WHERE state = 'issued'")" = 2 ]; }
wait_for issued || die "certificates not issued"
crt1=$(sql "SELECT id FROM certificates WHERE class = 'qualified'")
crt2=$(sql "SELECT id FROM certificates WHERE class = 'advanced'")
http POST /v1/admin/certs/$crt1/revoke -H "Authorization: Bearer $ADMIN" -H 'Content-Type: application/json' \
	-d '{"reason": "keyCompromise", "comment": "lost phone"}'
check "revocation through the admin API" status_is 200
: >"$work/out"
scrape() { curl -s "$BASE/metrics" >"$work/metrics"; }
metric() { sed -n "s/^$1 //p" "$work/metrics"; }
on_crl() {
	scrape
	[ "$(sql "SELECT count(*) FROM certificates WHERE id = '$crt1' AND ca_revoked_at IS NOT NULL")" = 1 ] &&
		[ "$(metric ra_revocations_missing_from_crl)" = 0 ] && [ -n "$(metric ra_crl_last_check_timestamp_seconds)" ] &&
		[ "$(metric ra_crl_last_check_timestamp_seconds | cut -d. -f1)" -gt "$(sql "SELECT extract(epoch FROM ca_revoked_at)::bigint FROM certificates WHERE id = '$crt1'")" ]
}
check "R14: the revoked certificate is on the CRL: ra_revocations_missing_from_crl 0 after a check" wait_for on_crl
crl_times() {
	python3 - "$work/metrics" <<'EOF'
import re, sys, time
t = open(sys.argv[1]).read()
this = float(re.search(r"^ra_crl_this_update_timestamp_seconds (\S+)$", t, re.M).group(1))
nxt = float(re.search(r"^ra_crl_next_update_timestamp_seconds (\S+)$", t, re.M).group(1))
sys.exit(0 if this <= time.time() + 1 and abs(nxt - this - 24 * 3600) < 5 else 1)
EOF
}
check "the CRL's thisUpdate and nextUpdate (ca.crl_hours 24 apart) are exposed" crl_times
# A revocation the CA never got: the state a lost ca_revoke job leaves.  The revocation is
# support's, through the admin API; its ca_revoke job is lost because its idempotency key is
# taken first (a finished no-op job under that key: the fault injected, no state written), so
# the revocation's own insert of it does nothing, as for a repeated one.
sql "INSERT INTO jobs (kind, payload, idempotency_key) VALUES ('noop', '{}', 'ca_revoke:$crt2')" >/dev/null
http POST /v1/admin/certs/$crt2/revoke -H "Authorization: Bearer $ADMIN" -H 'Content-Type: application/json' \
	-d '{"reason": "keyCompromise", "comment": "lost phone"}'
check "the second revocation through the admin API" status_is 200
missing() { scrape; [ "$(metric ra_revocations_missing_from_crl)" = 1 ]; }
check "a revocation missing from the CRL is counted (ra_revocations_missing_from_crl 1)" wait_for missing
# the oldest one's age at a check made 3 s or more after it: that check's time less the
# revocation's (RARevocationNotOnCRL fires past 300 s)
aged() {
	scrape
	_rv=$(sql "SELECT extract(epoch FROM revoked_at) FROM certificates WHERE id = '$crt2'")
	python3 -c 'import sys; age, at, rv = map(float, sys.argv[1:4]); sys.exit(0 if at - rv >= 3 and abs(age - (at - rv)) <= 1 else 1)' \
		"$(metric ra_revocation_missing_from_crl_oldest_age_seconds)" \
		"$(metric ra_crl_last_check_timestamp_seconds)" "$_rv"
}
check "and its age is exposed (a later check's time less the revocation's)" wait_for aged
verified() { scrape; [ -n "$(metric ra_audit_verify_last_run_timestamp_seconds)" ] && [ "$(metric ra_audit_verify_broken)" = 0 ]; }
check "R16: ra serve verified the audit chain itself: whole (ra_audit_verify_broken 0)" wait_for verified

# ---- metrics ---------------------------------------------------------------------------------
curl -s "$BASE/metrics" >"$work/metrics"
promtool_clean() {
	command -v promtool >/dev/null || { echo "promtool missing (deploy/install-deps.sh installs prometheus)" >"$work/err"; return 1; }
	promtool check metrics <"$work/metrics" >"$work/err" 2>&1 && [ ! -s "$work/err" ]
}
check "promtool check metrics: zero findings on a live scrape" promtool_clean
has_metric() { grep -q "^# TYPE $1 $2\$" "$work/metrics"; }
for m in ra_http_requests_total ra_db_reconnects_total process_cpu_seconds_total ra_jobs_finished_total; do
	check "metric $m is a counter" has_metric "$m" counter
done
for m in process_resident_memory_bytes process_virtual_memory_bytes process_open_fds process_max_fds \
	process_start_time_seconds ra_build_info ra_db_pool_connected ra_jobs_dead ra_jobs_oldest_ready_age_seconds; do
	check "metric $m is a gauge" has_metric "$m" gauge
done
build_info() { grep -qE '^ra_build_info\{version="[^"]+"\} 1$' "$work/metrics"; }
check "ra_build_info carries the version" build_info
start_time_sane() {
	python3 - "$work/metrics" <<'EOF'
import re, sys, time
t = open(sys.argv[1]).read()
start = float(re.search(r"^process_start_time_seconds (\S+)$", t, re.M).group(1))
rss = float(re.search(r"^process_resident_memory_bytes (\S+)$", t, re.M).group(1))
fds = float(re.search(r"^process_open_fds (\S+)$", t, re.M).group(1))
sys.exit(0 if time.time() - 600 < start <= time.time() + 1 and rss > 1e6 and fds >= 3 else 1)
EOF
}
check "process_* figures are the process's own (start time within minutes, RSS, fds)" start_time_sane
rules_clean() {
	promtool check rules deploy/prometheus/ra-alerts.yml >"$work/err" 2>&1
}
check "promtool check rules deploy/prometheus/ra-alerts.yml" rules_clean
rules_fire() { promtool test rules deploy/prometheus/ra-alerts.test.yml >"$work/err" 2>&1; }
check "promtool test rules: the alerts fire on the series ra serve exposes (ra-alerts.test.yml)" rules_fire
alerts_use_exposed() {
	python3 - "$work/metrics" deploy/prometheus/ra-alerts.yml deploy/grafana/ra-dashboard.json <<'EOF'
import json, re, sys
scrape = open(sys.argv[1]).read()
names = set(re.findall(r"^# TYPE (\S+) (\S+)$", scrape, re.M) and [n for n, _ in re.findall(r"^# TYPE (\S+) (\S+)$", scrape, re.M)])
exposed = set()
for n, t in re.findall(r"^# TYPE (\S+) (\S+)$", scrape, re.M):
    exposed.add(n)
    if t == "histogram":
        exposed |= {n + "_bucket", n + "_sum", n + "_count"}
used = set(re.findall(r"\b((?:ra|process)_[a-z0-9_]+)", open(sys.argv[2]).read()))
dash = json.load(open(sys.argv[3]))
for p in dash["panels"]:
    for t in p.get("targets", []):
        used |= set(re.findall(r"\b((?:ra|process)_[a-z0-9_]+)", t["expr"]))
missing = sorted(used - exposed)
if missing:
    print("used by the alert rules or the dashboard but not exposed:", missing, file=sys.stderr)
    sys.exit(1)
EOF
}
check "every series the alert rules and the dashboard use is exposed by ra serve" alerts_use_exposed

kill -TERM "$ra_pid"; wait "$ra_pid"; rc=$?; ra_pid=
check "ra serve drains and exits 0" [ "$rc" = 0 ]
san_clean() {
	grep -qE "ERROR: (Address|Leak)Sanitizer|runtime error:" "$work/ra.log" || return 0
	grep -m1 -A40 -E "ERROR: (Address|Leak)Sanitizer|runtime error:" "$work/ra.log" | sed 's/^/#   /'
	return 1
}
check "no sanitizer report in the server log" san_clean

e2e_end
