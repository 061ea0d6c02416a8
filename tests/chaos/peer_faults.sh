#!/usr/bin/env bash
# Hanging and failing peers (issue #19, docs/faults.md "The fault suite"; the way of
# tests/e2e/test_peer_hang.sh, longer and with every peer at once): half of CHAOS_ORDERS are
# issued while everything is well; then the SMS gateway hangs (accepts, never answers) while
# a quarter is identified and issued (their PIN calls hang), then the ident provider hangs
# too and the SMTP server is gone (connection refused) while the last quarter comes in, and
# CHAOS_REVOKES certificates are revoked one after the other in all that; the peers
# come back, the SMS gateway answers 503 a few times (the breaker opens and closes), and one
# more revocation is made in that.  Checks: /healthz answers throughout, every revocation
# reaches the CRL within CHAOS_CRL_S (R14; each latency measured, the longest reported),
# everything completes after recovery with no dead job, and every effect once
# (tests/chaos/lib.sh check_effects).
# shellcheck source=tests/chaos/lib.sh
. "$(dirname "$0")/lib.sh"
N=${CHAOS_ORDERS:-20}
REVOKES=${CHAOS_REVOKES:-5}
CRL_S=${CHAOS_CRL_S:-5}
HALF=$((N / 2))
echo "# peer_faults: $N orders, $REVOKES revocations while SMS and ident hang and SMTP is down"

# a small bound and a quick breaker, as test_peer_hang.sh
export RA_PEERS_MAX_INFLIGHT=2 RA_PEERS_BREAKER_FAILURES=3 RA_PEERS_BREAKER_OPEN_MS=1500
SMS_PEER_ARGS="--hang-max 120" chaos_setup
peer_stop ident "$work/peers"
peer_start ident "$work/peers" --company-id trustra --api-key ident-key --hang-max 120 --port "$IDENT_PORT" ||
	die "ident peer"
ra_start 1 || die "ra serve does not start"

serial_of() { sql "SELECT serial FROM certificates WHERE id = '$1'" | norm_serials; }
on_crl() { # on_crl SERIAL
	curl -sf -o "$work/crl.der" --max-time 5 "$(url_of 1)/v1/ca/crl" &&
		openssl crl -inform DER -in "$work/crl.der" -noout -text 2>/dev/null |
		awk '/Serial Number:/ {print $3}' | norm_serials | grep -qx "$1"
}
lat_max=0 lats=
revoke_timed() { # revoke_timed CERT: revoke through ractl, seconds until its serial is on the CRL
	_s=$(serial_of "$1")
	RACTL_URL=$(url_of 1) "$RACTL" cert revoke "$1" --reason keyCompromise --comment "chaos: peer faults" --yes \
		>"$work/why" 2>&1 || { echo "ractl cert revoke $1 failed" >&2; cat "$work/why" >&2; return 1; }
	_t0=$(date +%s.%N)
	for _ in $(seq 1 $((CRL_S * 40 + 200))); do
		on_crl "$_s" && break
		sleep 0.05
	done
	_t1=$(date +%s.%N)
	on_crl "$_s" || { echo "the serial of $1 is not on the CRL" >&2; return 1; }
	_l=$(python3 -c "print('%.2f' % ($_t1 - $_t0))")
	lats="$lats $_l"
	lat_max=$(python3 -c "print(max($lat_max, $_l))")
}
shop() { # shop FIRST LAST
	for i in $(seq "$1" "$2"); do deliver "$i" 1 || exit 1; done
}

# ---- 0. half the orders while everything is well ------------------------------------------
shop 1 "$HALF" || die "the first orders were not delivered"
ident_provider "$HALF" 1 || die "the first identifications"
wait_for "$CHAOS_DEADLINE" eval '[ "$(sql "SELECT count(*) FROM transport_pin_deliveries WHERE sent_at IS NOT NULL")" -ge "$REVOKES" ]' ||
	die "no $REVOKES PINs sent while the peers are well"
sql "SELECT c.id FROM certificates c JOIN transport_pin_deliveries t ON t.certificate_id = c.id
     WHERE t.sent_at IS NOT NULL ORDER BY c.id LIMIT $((REVOKES + 1))" >"$work/to-revoke"

# ---- 1. SMS hangs while a quarter is issued, then ident hangs and SMTP is gone too --------
Q=$(((N - HALF) / 2))
curl -sf -X POST "$SMS/_control/hang?on=1" >/dev/null || die "cannot make the SMS peer hang"
shop $((HALF + 1)) $((HALF + Q)) || die "orders during the faults"
ident_provider $((HALF + Q)) 1 || die "identifications during the SMS hang"
sms_hanging() { [ "$(curl -s "$SMS/_control/hang" | python3 -c 'import json,sys; print(json.load(sys.stdin)["hanging"])')" -ge 1 ]; }
wait_for 120 sms_hanging || die "no TransportPIN call reached the hanging SMS gateway"
curl -sf -X POST "$IDENT/_control/hang?on=1" >/dev/null || die "cannot make the ident peer hang"
peer_stop mail "$work/peers"
shop $((HALF + Q + 1)) "$N" &
sp=$!
bg_pids=$sp
healthy=0 asked=0
for c in $(head -n "$REVOKES" "$work/to-revoke"); do
	revoke_timed "$c" || die "revocation of $c"
	asked=$((asked + 1))
	ra_up 1 && healthy=$((healthy + 1))
done
echo "# revocation -> CRL while SMS and ident hang and SMTP is down (s):$lats"
hung_sms=$(curl -s "$SMS/_control/hang" | python3 -c 'import json,sys; print(json.load(sys.stdin)["hanging"])')
check "R14: every revocation reached the CRL within ${CRL_S} s while the peers failed (longest $lat_max s; $hung_sms SMS calls hanging)" \
	python3 -c "import sys; sys.exit(0 if $lat_max < $CRL_S else 1)"
check "/healthz answered 200 during the faults ($healthy of $asked)" [ "$healthy" = "$asked" ]
wait "$sp"; rs=$?
bg_pids=
check "the shop's orders were taken during the faults" [ "$rs" = 0 ]

# ---- 2. the peers come back; the SMS gateway fails 503 a few times -------------------------
peer_start mail "$work/peers" --dir "$work/mail" --port "$MAIL_PORT" || die "mail sink again"
curl -sf -X POST "$IDENT/_control/hang?on=0" >/dev/null
curl -sf -X POST "$SMS/_control/fail?count=3&status=503" >/dev/null
curl -sf -X POST "$SMS/_control/hang?on=0" >/dev/null
revoke_timed "$(sed -n "$((REVOKES + 1))p" "$work/to-revoke")" || die "the revocation during the 503s"
ident_provider "$N" 1 || die "the later identifications"
check_effects "$N" $((REVOKES + 1))
check "the $((REVOKES + 1)) revoked certificates are revoked once each, audited" \
	[ "$(sql "SELECT count(*) || ':' || count(DISTINCT object_id) FROM audit_log WHERE action = 'cert.revoked'")" = "$((REVOKES + 1)):$((REVOKES + 1))" ]
ra_term 1
check "ra serve drains and exits 0 after the run" [ "$ra_rc" = 0 ]
summary "peer_faults orders=$N revocations=$((REVOKES + 1)) revocation_crl_max_s=$lat_max lost=$lost" \
	"duplicated=$duplicated orphans=$orphans dup_sms=$dup_sms dup_mail=$dup_mail" \
	"dead_jobs=$(sql "SELECT count(*) FROM jobs WHERE state = 'dead'")"
finish
