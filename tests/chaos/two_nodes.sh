#!/usr/bin/env bash
# Two `ra serve` nodes on one database (issue #19, docs/faults.md "The fault suite"): one
# PostgreSQL, one token, one ca_dir (docs/ca-bridge.md: several processes may share it), two
# processes with their own ports.  Every shop delivery goes to both nodes at the same instant
# (the duplicate a shop behind a load balancer makes when it retries on a timeout), again
# until one answers 200; every ident callback likewise.  Both nodes run jobs from the one
# queue.  Checks: every effect once (tests/chaos/lib.sh check_effects), both nodes did work
# (their logs show jobs), both exit 0 on SIGTERM.
# shellcheck source=tests/chaos/lib.sh
. "$(dirname "$0")/lib.sh"
N=${CHAOS_ORDERS:-30}
echo "# two_nodes: $N orders, each delivered to both nodes at once"

chaos_setup
ra_start 1 || die "ra serve node 1 does not start"
ra_start 2 || die "ra serve node 2 does not start"

both() { # both FUNCTION ARG: FUNCTION ARG NODE for each node, at the same instant; 0 when one got 200
	"$1" "$2" 1 >/dev/null 2>&1 &
	_b1=$!
	"$1" "$2" 2 >/dev/null 2>&1 &
	_b2=$!
	wait "$_b1"; _r1=$?
	wait "$_b2"; _r2=$?
	[ "$_r1" = 0 ] || [ "$_r2" = 0 ]
}
shop() {
	for i in $(seq 1 "$N"); do
		order_file "$i"
		both deliver "$i" || exit 1
	done
}
provider() { # the ident provider's callbacks, each to both nodes at once
	: >"$work/ident.done"
	_end=$((SECONDS + CHAOS_DEADLINE))
	while [ "$(wc -l <"$work/ident.done")" -lt "$N" ] && [ "$SECONDS" -lt "$_end" ]; do
		for _t in $(flow_started "$IDENT" 2>/dev/null); do
			grep -qx "$_t" "$work/ident.done" && continue
			flow_result "$_t" "$IDENT" || continue
			both callback "$_t" || continue
			echo "$_t" >>"$work/ident.done"
		done
		sleep 0.3
	done
	[ "$(wc -l <"$work/ident.done")" -ge "$N" ]
}
shop &
sp=$!
provider &
pp=$!
bg_pids="$sp $pp"
wait "$sp"; r1=$?
wait "$pp"; r2=$?
bg_pids=
check "the shop delivered all $N orders to both nodes" [ "$r1" = 0 ]
check "the ident provider called every identification back on both nodes" [ "$r2" = 0 ]
dup200=$(($(awk '$2 == 200' "$work/deliveries" | wc -l) - N))
check "both nodes answered 200 to duplicate deliveries ($dup200 deliveries beyond one per order)" [ "$dup200" -gt 0 ]
check_effects "$N"
jobs1=$(grep -c 'job\.done' "$work/ra.1.log")
jobs2=$(grep -c 'job\.done' "$work/ra.2.log")
check "both nodes ran jobs from the one queue ($jobs1 and $jobs2 job.done lines)" [ "$jobs1" -gt 0 -a "$jobs2" -gt 0 ]
ra_term 1; rc1=$ra_rc
ra_term 2; rc2=$ra_rc
check "both nodes drain and exit 0 ($rc1, $rc2)" [ "$rc1" = 0 -a "$rc2" = 0 ]
summary "two_nodes orders=$N lost=$lost duplicated=$duplicated orphans=$orphans duplicate_deliveries=$dup200" \
	"dup_sms=$dup_sms dup_mail=$dup_mail dup_invite=$dup_invite node1_job_lines=$jobs1 node2_job_lines=$jobs2"
finish
