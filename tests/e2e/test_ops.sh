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
B=${RA_TEST_BIN:-build}
RA=$PWD/$B/ra

passed=0 failed=0 done= ra_pid= own_pg=
work=$(mktemp -d "${TMPDIR:-/tmp}/ra-ops-XXXXXX")
chmod 755 "$work"
cleanup() {
	rc=$?
	if [ -n "$ra_pid" ]; then kill -TERM "$ra_pid" 2>/dev/null; wait "$ra_pid" 2>/dev/null; fi
	[ -n "$own_pg" ] && tests/lib/pg.sh stop "$work/pg" >/dev/null 2>&1
	if [ -z "$done" ]; then
		echo "not ok - the script stopped early (exit status $rc)"
		[ -f "$work/ra.log" ] && tail -n 30 "$work/ra.log"
		echo "$passed passed, $((failed + 1)) failed"
		[ "$rc" -ne 0 ] || rc=1
	fi
	rm -rf "$work"
	exit "$rc"
}
trap cleanup EXIT

check() { # check NAME COMMAND...
	_name=$1; shift
	if "$@"; then
		echo "ok - $_name"; passed=$((passed + 1))
	else
		echo "not ok - $_name"; failed=$((failed + 1))
		[ -s "$work/err" ] && sed 's/^/#   /' "$work/err" | head -n 8
		[ -s "$work/out" ] && sed 's/^/#   /' "$work/out" | head -n 8
	fi
}
die() { echo "setup: $*" >&2; exit 1; }
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
SECRET=ops-shop-secret CB=ops-callback-secret
export RA_DATABASE_URL="$DB" RA_LISTEN="127.0.0.1:$port" RA_SHOP_WOOCOMMERCE_SECRET=$SECRET \
	RA_IDENT_CALLBACK_SECRET=$CB RA_HTTP_MAX_BODY=4096 RA_HTTP_MAX_HEADER_BYTES=8192 RA_DEFAULT_COUNTRY=AT \
	RA_PRODUCTS='{"AES-10Y": {"class": "advanced", "validity_years": 10, "contract_months": 12}}'
"$RA" migrate >"$work/migrate.log" 2>&1 || { cat "$work/migrate.log"; die "ra migrate failed"; }
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

kill -TERM "$ra_pid"; wait "$ra_pid"; rc=$?; ra_pid=
check "ra serve drains and exits 0" [ "$rc" = 0 ]
san_clean() {
	grep -qE "ERROR: (Address|Leak)Sanitizer|runtime error:" "$work/ra.log" || return 0
	grep -m1 -A40 -E "ERROR: (Address|Leak)Sanitizer|runtime error:" "$work/ra.log" | sed 's/^/#   /'
	return 1
}
check "no sanitizer report in the server log" san_clean

done=1
echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
