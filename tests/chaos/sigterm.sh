#!/usr/bin/env bash
# SIGTERM under load (issue #19, docs/faults.md "The fault suite"): two shop streams and the
# ident peer keep `ra serve` busy (webhooks, identifications, issuance, PINs, mails) while it
# is sent SIGTERM CHAOS_TERMS times, at random instants, and started again after it exits.
# Checks: every exit is 0, within http.drain_timeout_ms and the jobs' own bound (CHAOS_DRAIN_S,
# reported); what was answered 200 is kept and every effect happens once
# (tests/chaos/lib.sh check_effects).
# shellcheck source=tests/chaos/lib.sh
. "$(dirname "$0")/lib.sh"
N=${CHAOS_ORDERS:-40}
TERMS=${CHAOS_TERMS:-3}
DRAIN_S=${CHAOS_DRAIN_S:-60}
SEED=${CHAOS_SEED:-$$}
RANDOM=$SEED
echo "# sigterm: $N orders in two streams, $TERMS SIGTERMs, seed $SEED"

chaos_setup
ra_start 1 || die "ra serve does not start"
stream() { # stream FIRST STEP
	for i in $(seq "$1" "$2" "$N"); do
		deliver "$i" 1 || exit 1
		sleep 0.1
	done
}
stream 1 2 &
s1=$!
stream 2 2 &
s2=$!
ident_provider "$N" 1 &
ip=$!
bg_pids="$s1 $s2 $ip"

terms=0 rcs= drains= worst=0
while [ "$terms" -lt "$TERMS" ]; do
	_d=$((15 + RANDOM % 30))
	sleep "$((_d / 10)).$((_d % 10))"
	t0=$(date +%s.%N)
	ra_term 1
	t1=$(date +%s.%N)
	terms=$((terms + 1))
	rcs="$rcs $ra_rc"
	d=$(python3 -c "print('%.2f' % ($t1 - $t0))")
	drains="$drains $d"
	worst=$(python3 -c "print(max($worst, $d))")
	ra_start 1 || die "ra serve does not start again after SIGTERM $terms"
done
echo "# exit statuses:$rcs; drain times (s):$drains"
wait "$s1"; r1=$?
wait "$s2"; r2=$?
wait "$ip"; r3=$?
bg_pids=
check "every SIGTERM under load: exit 0 ($rcs )" [ -z "$(echo $rcs | tr -d ' 0')" ]
check "each drain within ${DRAIN_S} s (longest $worst s)" python3 -c "import sys; sys.exit(0 if $worst < $DRAIN_S else 1)"
check "the shop streams delivered all $N orders" [ "$r1" = 0 -a "$r2" = 0 ]
check "the ident provider called every identification back" [ "$r3" = 0 ]
check_effects "$N"
check "no duplicate message: a drained stop leaves no crash window ($dup_sms PIN SMS, $dup_mail user-ID mails)" \
	[ "$dup_sms" = 0 -a "$dup_mail" = 0 ]
ra_term 1
check "ra serve drains and exits 0 after the run" [ "$ra_rc" = 0 ]
summary "sigterm orders=$N terms=$terms nonzero_exits=$(echo $rcs | tr ' ' '\n' | grep -vc '^0$')" \
	"longest_drain_s=$worst lost=$lost duplicated=$duplicated orphans=$orphans dup_sms=$dup_sms dup_mail=$dup_mail"
finish
