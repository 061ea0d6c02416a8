#!/usr/bin/env bash
# Crash scenario (issue #19, docs/faults.md "The fault suite"): CHAOS_ORDERS orders, each of
# its own customer, through the whole flow - the signed WooCommerce webhook, the ident peer's
# callback, issuance on SoftHSM2 by the local CA, the TransportPIN SMS, the user-ID mail -
# while `ra serve` is SIGKILLed at random instants (every CHAOS_KILL_MIN..CHAOS_KILL_MAX
# tenths of a second, CHAOS_KILLS times at most, while work remains) and started again.  The
# shop delivers each order until it gets a 200 and a third of them once more; the ident peer
# calls back until it gets a 200 and a third of them once more (a retry of the same delivery).
# Checks: every order once, every certificate request exactly one issued certificate, no
# serial twice, the CA's record (ca_dir/ca.db) equals the RA's certificates, `ra audit
# verify` passes, and duplicate messages (the same TransportPIN SMS twice, the user-ID mail
# twice; the documented crash windows, docs/ident.md) are counted, each byte-identical to the
# first, and at most CHAOS_DUP_MAX (default: the number of kills) of each kind.
# CHAOS_SEED makes the instants repeatable.  Prints "ok - ..." per check, one "summary: ..."
# line and "N passed, M failed".
# shellcheck source=tests/chaos/lib.sh
. "$(dirname "$0")/lib.sh"
N=${CHAOS_ORDERS:-20}
KILLS=${CHAOS_KILLS:-1000000}
KMIN=${CHAOS_KILL_MIN:-10} KMAX=${CHAOS_KILL_MAX:-40}
SEED=${CHAOS_SEED:-$$}
RANDOM=$SEED
echo "# crash: $N orders, SIGKILL every $KMIN..$KMAX tenths of a second, seed $SEED"

chaos_setup
ra_start 1 || die "ra serve does not start"

# ---- the shop and the ident provider, in the background ------------------------------------
shop() {
	RANDOM=$((SEED + 1))
	for i in $(seq 1 "$N"); do
		deliver "$i" 1 || exit 1
		# WooCommerce delivers again when it missed the answer
		if [ $((RANDOM % 3)) = 0 ]; then deliver "$i" 1 || exit 1; fi
	done
}
shop &
shop_pid=$!
(RANDOM=$((SEED + 2)); ident_provider "$N" 1) &
ident_pid=$!
bg_pids="$shop_pid $ident_pid"

# ---- the killer, in the foreground: SIGKILL at random instants while work remains ----------
pending() { # orders not delivered or effects not settled yet
	kill -0 "$shop_pid" 2>/dev/null || kill -0 "$ident_pid" 2>/dev/null || ! effects_settled "$N"
}
kills=0 t0=$SECONDS
while [ "$kills" -lt "$KILLS" ] && [ $((SECONDS - t0)) -lt "$CHAOS_DEADLINE" ] && pending; do
	_d=$((KMIN + RANDOM % (KMAX - KMIN + 1)))
	sleep "$((_d / 10)).$((_d % 10))"
	pending || break
	ra_kill 1
	kills=$((kills + 1))
	# back after a short while, as systemd's Restart= would; the shop and the provider retry
	[ $((RANDOM % 2)) = 0 ] && sleep "0.$((RANDOM % 10))"
	ra_start 1 || die "ra serve does not start again after kill $kills"
done
echo "# $kills SIGKILLs in $((SECONDS - t0)) s"
wait "$shop_pid"; shop_rc=$?
wait "$ident_pid"; ident_rc=$?
bg_pids=
check "the shop delivered all $N orders (each retried until 200)" [ "$shop_rc" = 0 ]
check "the ident provider called every identification back (until 200)" \
	[ "$ident_rc" = 0 -a "$(wc -l <"$work/ident.done")" -ge "$N" ]

# ---- every effect once ------------------------------------------------------------------------
check_effects "$N"
DUPMAX=${CHAOS_DUP_MAX:-$kills}
[ "$DUPMAX" -ge 1 ] || DUPMAX=1
check "duplicate messages within the crash windows: $dup_sms PIN SMS, $dup_mail user-ID mails (at most $DUPMAX each)" \
	[ "$dup_sms" -le "$DUPMAX" -a "$dup_mail" -le "$DUPMAX" ]
ra_term 1
check "ra serve drains and exits 0 after the run" [ "$ra_rc" = 0 ]
refused=$(awk '$2 != 200' "$work/deliveries" | wc -l)
redelivered=$(($(awk '$2 == 200' "$work/deliveries" | wc -l) - N))
summary "crash orders=$N kills=$kills lost=$lost duplicated=$duplicated orphans=$orphans" \
	"dup_sms=$dup_sms dup_mail=$dup_mail dup_invite=$dup_invite webhook_failed_attempts=$refused" \
	"webhook_redeliveries=$redelivered seed=$SEED"
finish
