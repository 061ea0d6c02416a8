# The chaos scenarios' shared plumbing (issue #19, docs/faults.md "The fault suite"); sourced
# by tests/chaos/*.sh (bash).  A throwaway PostgreSQL (tests/lib/pg.sh), a SoftHSM2 token
# (tests/lib/token.sh), the local CA, the ident, SMS and mail peers (tests/lib/peers.sh) and
# the real `ra serve`, one or more nodes; orders come in by the signed shop webhook and the
# ident peer's callback (tests/lib/flow.sh), delivered again as the shop and the provider do.
#
#   chaos_setup NAME          PostgreSQL, token, peers, the RA's environment, ra migrate
#   ra_start [NODE]           start `ra serve` node NODE (default 1; own port, log ra.NODE.log,
#                             PID in ra.NODE.pid); waits up to 60 s for /healthz
#   ra_kill [NODE] / ra_term [NODE]   SIGKILL / SIGTERM it (ra_term: its exit status in ra_rc)
#   url_of NODE               http://127.0.0.1:PORT of that node
#   order_file I              writes order I's body (its own shop id, customer and mobile number)
#   deliver I NODE...         the shop delivers order I until one node answers 200 (as
#                             WooCommerce retries a failed delivery); each attempt's status
#                             goes to $work/deliveries; 1 after CHAOS_DEADLINE
#   ident_provider WANT NODE...   background: calls back every identification the RA starts,
#                             until WANT succeeded, again until 200, and a third of them twice
#   wait_for SECONDS CMD...   CMD every 0.2 s until it succeeds
#   check NAME CMD...         "ok - NAME" / "not ok - NAME"
#   summary LINE              the scenario's summary line ("summary: ..."; make chaos prints it)
#   finish                    "N passed, M failed", exit status
set -u
cd "$(dirname "${BASH_SOURCE[0]}")/../.."
# shellcheck source=tests/lib/peers.sh
. tests/lib/peers.sh
# shellcheck source=tests/lib/flow.sh
. tests/lib/flow.sh
B=${RA_TEST_BIN:-build}
RA=$PWD/$B/ra
RACTL=$PWD/$B/ractl
CHAOS_DEADLINE=${CHAOS_DEADLINE:-300}
passed=0 failed=0 done= bg_pids=
work=$(mktemp -d "${TMPDIR:-/tmp}/ra-chaos-XXXXXX")
chmod 755 "$work"

chaos_cleanup() {
	rc=$?
	for p in $bg_pids; do kill "$p" 2>/dev/null; done
	for p in $bg_pids; do wait "$p" 2>/dev/null; done
	for f in "$work"/ra.*.pid; do
		[ -f "$f" ] || continue
		p=$(cat "$f")
		# only a process that still runs our binary: the PID may have been reused since
		if [ -n "$p" ] && ps -p "$p" -o args= 2>/dev/null | grep -q "$RA serve"; then
			kill -TERM "$p" 2>/dev/null
			for _ in $(seq 1 100); do kill -0 "$p" 2>/dev/null || break; sleep 0.1; done
			kill -KILL "$p" 2>/dev/null
		fi
	done
	[ -n "${SMS:-}" ] && curl -s -X POST "$SMS/_control/hang?on=0" >/dev/null 2>&1
	peer_stop_all "$work/peers" >/dev/null 2>&1
	tests/lib/pg.sh stop "$work/pg" >/dev/null 2>&1
	if [ -z "$done" ]; then
		echo "not ok - the script stopped early (exit status $rc)"
		for l in "$work"/ra.*.log; do [ -f "$l" ] && { echo "# tail of $(basename "$l"):"; tail -n 20 "$l"; }; done
		echo "$passed passed, $((failed + 1)) failed"
		[ "$rc" -ne 0 ] || rc=1
	fi
	[ -n "${KEEP_WORK:-}" ] && cp -r "$work" "$KEEP_WORK"
	rm -rf "$work"
	exit "$rc"
}
trap chaos_cleanup EXIT

check() { # check NAME COMMAND...
	_name=$1; shift
	if "$@"; then
		echo "ok - $_name"; passed=$((passed + 1))
	else
		echo "not ok - $_name"; failed=$((failed + 1))
		[ -s "$work/why" ] && sed 's/^/#   /' "$work/why" | head -n 15
	fi
	: >"$work/why"
}
die() { echo "setup: $*" >&2; exit 1; }
wait_for() { # wait_for SECONDS COMMAND...
	_wn=$(($1 * 5)); shift
	for _ in $(seq 1 "$_wn"); do
		"$@" && return 0
		sleep 0.2
	done
	return 1
}
summary() { echo "summary: $*"; }
finish() {
	for l in "$work"/ra.*.log; do
		[ -f "$l" ] || continue
		if grep -q 'ERROR: AddressSanitizer\|runtime error:' "$l"; then
			echo "not ok - sanitizer report in $(basename "$l")"; failed=$((failed + 1))
			grep -m3 'AddressSanitizer\|runtime error:' "$l"
		fi
	done
	done=1
	echo "$passed passed, $failed failed"
	[ "$failed" -eq 0 ]
}
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }

chaos_setup() {
	DB=$(tests/lib/pg.sh start "$work/pg") || die "cannot start PostgreSQL"
	SOFTHSM2_CONF=$(tests/lib/token.sh "$work/hsm" ra-chaos 12345678 4711) || die "cannot make the token"
	peer_start ident "$work/peers" --company-id trustra --api-key ident-key || die "ident peer"
	peer_start sms "$work/peers" --token sms-token ${SMS_PEER_ARGS:-} || die "sms peer"
	peer_start mail "$work/peers" --dir "$work/mail" || die "mail sink"
	IDENT="http://127.0.0.1:$IDENT_PORT" SMS="http://127.0.0.1:$SMS_PORT"
	SHOP_SECRET=chaos-shop-$(openssl rand -hex 32) CB_SECRET=chaos-callback-$(openssl rand -hex 32)
	free_port >"$work/port.1"
	# the CRL URL names node 1; the nodes share the CA directory as one host's nodes would
	export SOFTHSM2_CONF RA_DATABASE_URL="$DB" RA_PKCS11_PIN=4711 \
		RA_PKCS11_TOKEN=ra-chaos RA_CA_DIR="$work/ca" RA_JOBS_BACKOFF_MS=100 RA_JOBS_BACKOFF_MAX_MS=1000 \
		RA_JOBS_POLL_MS=200 RA_JOBS_BUSY_RETRY_MS=200 RA_JOBS_LEASE_MS=3000 \
		RA_SHOP_WOOCOMMERCE_SECRET=$SHOP_SECRET RA_DEFAULT_COUNTRY=AT \
		RA_IDENT_BASE_URL="$IDENT" RA_IDENT_COMPANY_ID=trustra RA_IDENT_API_KEY=ident-key \
		RA_IDENT_CALLBACK_SECRET=$CB_SECRET RA_SMS_URL="$SMS/v1/sms" RA_SMS_TOKEN=sms-token \
		RA_SMTP_URL="smtp://127.0.0.1:$MAIL_PORT" RA_SMTP_TLS=none \
		RA_EVIDENCE_KEY=000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f \
		RA_CA_PDS_URL=https://pki.example.test/pds_en.pdf RA_CA_CRL_URL="http://127.0.0.1:$(cat "$work/port.1")/v1/ca/crl" \
		RA_PRODUCTS='{"QES-5Y": {"class": "qualified", "validity_years": 5, "contract_months": 12},
			"AES-10Y": {"class": "advanced", "validity_years": 10, "contract_months": 12}}'
	"$RA" migrate >"$work/migrate.log" 2>&1 || { cat "$work/migrate.log"; die "ra migrate failed"; }
	SUPPORT=$("$RA" token create --name sam --role support --no-customer-account) || die "support token"
	export RACTL_TOKEN="$SUPPORT" HOME="$work/home" XDG_CONFIG_HOME=
	mkdir -p "$HOME"
}
sql() { psql -qAtX -d "$DB" -v ON_ERROR_STOP=1 -c "$1"; }

url_of() {
	[ -f "$work/port.$1" ] || free_port >"$work/port.$1"
	echo "http://127.0.0.1:$(cat "$work/port.$1")"
}
ra_pid() { cat "$work/ra.${1:-1}.pid" 2>/dev/null; }
ra_up() { curl -sf -o /dev/null --max-time 2 "$(url_of "${1:-1}")/healthz"; }
ra_start() {
	_node=${1:-1}
	_u=$(url_of "$_node")
	RA_LISTEN=${_u#http://} "$RA" serve >>"$work/ra.$_node.log" 2>&1 &
	echo $! >"$work/ra.$_node.pid"
	# generous: an ASan build on a loaded 2-core machine may take seconds to open the token
	wait_for 60 ra_up "$_node" && return 0
	echo "ra serve (node $_node) did not answer /healthz within 60 s" >&2
	return 1
}
ra_kill() {
	_p=$(ra_pid "${1:-1}")
	[ -n "$_p" ] || return 0
	kill -KILL "$_p" 2>/dev/null
	wait "$_p" 2>/dev/null
	rm -f "$work/ra.${1:-1}.pid"
}
ra_term() {
	_p=$(ra_pid "${1:-1}")
	kill -TERM "$_p" 2>/dev/null
	wait "$_p" 2>/dev/null
	ra_rc=$?
	rm -f "$work/ra.${1:-1}.pid"
}

order_file() { # order_file I: a paid order of its own customer (shop id, e-mail, mobile number)
	[ -f "$work/orders/$1.json" ] && return 0
	mkdir -p "$work/orders"
	python3 - "$1" "$work/orders/$1.json" <<'EOF'
import json, sys
n, out = int(sys.argv[1]), sys.argv[2]
d = json.load(open("tests/fixtures/woocommerce-order-paid.json"))
d["id"] = 100000 + n
d["number"] = str(100000 + n)
d["order_key"] = "wc_order_chaos%d" % n
d["billing"]["email"] = "chaos.%d@example.at" % n
d["billing"]["phone"] = "+43 664 %07d" % (3000000 + n)
json.dump(d, open(out, "w"))
EOF
}
deliver() { # deliver I NODE...: until a node answers 200; every attempt's status is kept
	_i=$1; shift
	order_file "$_i"
	_end=$((SECONDS + CHAOS_DEADLINE))
	while [ "$SECONDS" -lt "$_end" ]; do
		for _nd in "$@"; do
			_s=$(flow_webhook "$work/orders/$_i.json" "$(url_of "$_nd")" "$SHOP_SECRET")
			echo "$_i $_s" >>"$work/deliveries"
			[ "$_s" = 200 ] && return 0
		done
		sleep 0.3
	done
	echo "order $_i: no 200 within $CHAOS_DEADLINE s" >&2
	return 1
}
callback() { # callback TX NODE...: until a node answers 200
	_tx=$1; shift
	_end=$((SECONDS + CHAOS_DEADLINE))
	while [ "$SECONDS" -lt "$_end" ]; do
		for _nd in "$@"; do
			_s=$(flow_callback "$_tx" "$IDENT" "$(url_of "$_nd")" "$CB_SECRET")
			echo "$_tx $_s" >>"$work/callbacks"
			[ "$_s" = 200 ] && return 0
		done
		sleep 0.3
	done
	echo "identification $_tx: no 200 within $CHAOS_DEADLINE s" >&2
	return 1
}
ident_provider() { # ident_provider WANT NODE...  (run it in the background)
	_want=$1; shift
	touch "$work/ident.done"
	_end=$((SECONDS + CHAOS_DEADLINE))
	while [ "$(wc -l <"$work/ident.done")" -lt "$_want" ] && [ "$SECONDS" -lt "$_end" ]; do
		for _t in $(flow_started "$IDENT" 2>/dev/null); do
			grep -qx "$_t" "$work/ident.done" && continue
			flow_result "$_t" "$IDENT" || continue
			callback "$_t" "$@" || continue
			echo "$_t" >>"$work/ident.done"
			# the provider delivers again now and then (its retry after a lost answer)
			[ $((RANDOM % 3)) = 0 ] && callback "$_t" "$@"
		done
		sleep 0.3
	done
}

# ---- the checks every scenario makes at its end -------------------------------------------------
# every effect once: orders, certificates, serials, the CA's record (ca_dir/ca.db) equal to
# the RA's certificates, messages (duplicates counted, each the same bytes as the first)
norm_serials() { tr -d ':' | tr '[:lower:]' '[:upper:]' | sed 's/^0*//' | sort; }
effects_settled() { # every order issued, its PIN sent, its user-ID mail recorded, no job left
	[ "$(sql "SELECT count(*) FROM orders WHERE state = 'issued'")" = "$1" ] &&
		[ "$(sql "SELECT count(*) FROM transport_pin_deliveries WHERE sent_at IS NOT NULL")" = "$1" ] &&
		[ "$(sql "SELECT count(*) FROM notifications WHERE idempotency_key LIKE 'user_id_mail:%'")" = "$1" ] &&
		[ "$(sql "SELECT count(*) FROM jobs WHERE state NOT IN ('done', 'dead')")" = 0 ]
}
# check_effects N [R]: the checks (R of the certificates revoked meanwhile); sets lost,
# duplicated, orphans, dup_sms, dup_mail, dup_invite
check_effects() {
	_n=$1 _r=${2:-0}
	if ! wait_for "$CHAOS_DEADLINE" effects_settled "$_n"; then
		{
			echo "not settled within $CHAOS_DEADLINE s:"
			sql "SELECT 'order ' || state, count(*) FROM orders GROUP BY 1 UNION ALL
			     SELECT 'cert ' || state, count(*) FROM certificates GROUP BY 1 UNION ALL
			     SELECT 'job ' || kind || ' ' || state, count(*) FROM jobs WHERE state <> 'done' GROUP BY 1"
		} >"$work/why"
	fi
	check "every effect settled: $_n orders issued, PINs sent, user-ID mails recorded, no job waiting" \
		effects_settled "$_n"
	_orders=$(sql "SELECT count(*) FROM orders")
	_shop=$(sql "SELECT count(DISTINCT shop_number) FROM orders")
	lost=$((_n - _shop))
	duplicated=$((_orders - _shop))
	sql "SELECT shop_number, count(*) FROM orders GROUP BY 1 HAVING count(*) > 1" >"$work/why"
	check "every order exactly once ($_orders rows for $_shop shop orders of $_n)" \
		[ "$_orders" = "$_n" -a "$_shop" = "$_n" ]
	sql "SELECT r.id, count(c.id) FILTER (WHERE c.serial IS NOT NULL) FROM cert_requests r
	     LEFT JOIN certificates c ON c.id = 'crq-' || r.id GROUP BY 1 HAVING count(c.id) FILTER (WHERE c.serial IS NOT NULL) <> 1" >"$work/why"
	_reqs=$(sql "SELECT count(*) FROM cert_requests")
	check "every certificate request ($_reqs) has exactly one issued certificate" \
		eval '[ ! -s "$work/why" ] && [ "$_reqs" = "$_n" ] &&
			[ "$(sql "SELECT count(*) FROM certificates WHERE state = '"'issued'"'")" = "$((_n - _r))" ] &&
			[ "$(sql "SELECT count(*) FROM certificates WHERE state = '"'revoked'"'")" = "$_r" ]'
	sql "SELECT kind, last_error FROM jobs WHERE state = 'dead'" >"$work/why"
	check "no job is dead" [ ! -s "$work/why" ]
	_idents=$(sql "SELECT count(*) || ' ' || count(DISTINCT order_id) || ' ' || count(DISTINCT ident_id) FROM identifications")
	check "every identification decided once, each under its own ident id ($_idents of $_n)" \
		[ "$_idents" = "$_n $_n $_n" ]
	_dupser=$(sql "SELECT count(serial) - count(DISTINCT serial) FROM certificates")
	duplicated=$((duplicated + _dupser))
	check "no serial twice" [ "$_dupser" = 0 ]
	sql "SELECT id || ' ' || serial FROM certificates WHERE serial IS NOT NULL" | sort >"$work/ra.records"
	# the RA's own audit key's certificate (audit.key_id, docs/audit.md) is the CA's too
	sqlite3 -readonly "$work/ca/ca.db" "SELECT request_id || ' ' || serial FROM issued WHERE request_id <> 'ra-audit-log'" \
		2>&1 | sort >"$work/ca.records"
	# the same normalisation of the serial on both sides (hex, no colons or leading zeros)
	for f in ra ca; do
		awk '{print $1}' "$work/$f.records" >"$work/$f.ids"
		awk '{print $2}' "$work/$f.records" | norm_serials >"$work/$f.serials"
	done
	_ca_only=$(comm -13 "$work/ra.ids" "$work/ca.ids" | wc -l)
	_ra_only=$(comm -23 "$work/ra.ids" "$work/ca.ids" | wc -l)
	orphans=$((_ca_only + _ra_only))
	{ echo "only in the CA's record:"; comm -13 "$work/ra.ids" "$work/ca.ids"; echo "only the RA's:"; comm -23 "$work/ra.ids" "$work/ca.ids"; } | head -n 12 >"$work/why"
	check "the CA's record (ca.db) equals the RA's certificates: no orphans either way ($_ca_only CA-only, $_ra_only RA-only)" \
		eval '[ "$orphans" = 0 ] && cmp -s "$work/ra.serials" "$work/ca.serials"'
	"$RA" audit verify >"$work/why" 2>&1; _av=$?
	check "ra audit verify: exit 0" [ "$_av" = 0 ]
	check_messages "$_n"
}

# check_messages N: the SMS peer's messages and the mail sink's files, per recipient
check_messages() {
	curl -s "$SMS/_control/messages" >"$work/sms.json"
	python3 - "$1" "$work/sms.json" "$work/mail" "$work/msgs" >"$work/why" <<'EOF'
import email, json, os, sys
n, sms, maildir, out = int(sys.argv[1]), sys.argv[2], sys.argv[3], sys.argv[4]
bad = []
# TransportPIN SMS: one PIN per certificate; a duplicate is the same text to the same number
pins = {}
for m in json.load(open(sms)):
    cert = m["text"].split("certificate ", 1)[1].split(":", 1)[0]
    pins.setdefault(cert, []).append((m["to"], m["text"]))
dup_sms = sum(len(v) - 1 for v in pins.values())
for cert, v in pins.items():
    if len(set(v)) != 1:
        bad.append("certificate %s got %d different PIN SMS" % (cert, len(set(v))))
if len(pins) != n:
    bad.append("%d certificates got a TransportPIN SMS, not %d" % (len(pins), n))
# mails: user-ID mail and invitation per recipient; a duplicate of either is byte-identical
kinds = {"userid": {}, "invite": {}}
for f in sorted(os.listdir(maildir)):
    if not f.endswith(".eml"):
        continue
    raw = open(os.path.join(maildir, f), "rb").read()
    msg = email.message_from_bytes(raw)
    # the user-ID mail's Message-ID names it (usermail.c), in whichever language it is written
    # the invitation's likewise (invite.c); other mails (a revocation notice) are not counted
    mid = str(msg["Message-ID"])
    kind = "userid" if "user-id-mail." in mid else "invite" if "ident-invite." in mid else None
    if kind:
        kinds[kind].setdefault(msg["To"], []).append(raw)
dup_mail = sum(len(v) - 1 for v in kinds["userid"].values())
dup_invite = sum(len(v) - 1 for v in kinds["invite"].values())
for kind, what in (("userid", "user-ID mail"), ("invite", "invitation")):
    for to, v in kinds[kind].items():
        if len(set(v)) != 1:
            bad.append("%s to %s sent %d times, not byte-identical" % (what, to, len(v)))
if len(kinds["userid"]) != n:
    bad.append("%d customers got the user-ID mail, not %d" % (len(kinds["userid"]), n))
open(out, "w").write("%d %d %d\n" % (dup_sms, dup_mail, dup_invite))
print("\n".join(bad))
EOF
	read -r dup_sms dup_mail dup_invite <"$work/msgs"
	check "every certificate got one TransportPIN and every customer one user ID; duplicates are the same message (byte-identical)" \
		eval '[ ! -s "$work/why" ] || ! grep -q . "$work/why"'
}
