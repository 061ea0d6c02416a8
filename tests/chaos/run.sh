#!/usr/bin/env bash
# make chaos: every scenario of the fault suite in its long version (docs/faults.md "The fault
# suite"), the Criterion tests of issue #19's keygen remnant and full CA disk, then one summary
# line per scenario with its counts.  CHAOS_ORDERS_CRASH (1000),
# CHAOS_ONLY="crash pg_restart ..." (a subset) and the scenarios' own CHAOS_* variables
# change what runs.  Exit status 1 when any scenario failed.
#   tests/chaos/run.sh BUILD_DIR
set -u
cd "$(dirname "$0")/../.."
export RA_TEST_BIN=${1:-build}
export ASAN_OPTIONS="${ASAN_OPTIONS:-detect_leaks=0:abort_on_error=0:detect_stack_use_after_return=0}"
export UBSAN_OPTIONS="${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}"
only=${CHAOS_ONLY:-crash pg_restart two_nodes sigterm peer_faults keygen_remnant enospc}
out=$(mktemp -d "${TMPDIR:-/tmp}/ra-chaos-run-XXXXXX")
trap 'rm -rf "$out"' EXIT
run() { # run NAME VAR=VALUE...: the scenario with its long sizes (the caller's values win)
	_name=$1; shift
	case " $only " in *" $_name "*) ;; *) return 0 ;; esac
	echo "== tests/chaos/$_name.sh"
	_t0=$SECONDS
	env "$@" bash "tests/chaos/$_name.sh" </dev/null 2>&1 | tee "$out/$_name.log"
	_rc=${PIPESTATUS[0]}
	_s=$(grep '^summary: ' "$out/$_name.log" | tail -n 1)
	[ -n "$_s" ] || _s="summary: $_name (no summary: the scenario stopped early)"
	echo "${_s#summary: } seconds=$((SECONDS - _t0)) result=$([ "$_rc" = 0 ] && echo pass || echo FAIL)" >>"$out/summary"
	[ "$_rc" = 0 ] || echo "$_name" >>"$out/failed"
}
unit() { # unit NAME TEST...: Criterion test binaries of the suite's list (make test runs them too)
	_name=$1; shift
	case " $only " in *" $_name "*) ;; *) return 0 ;; esac
	_t0=$SECONDS _rc=0 _tested=0 _failing=0
	for _b in "$@"; do
		echo "== $_b"
		"$RA_TEST_BIN/tests/$_b" --jobs 1 </dev/null >"$out/$_b.log" 2>&1 || _rc=1
		grep 'Synthesis\|skip' "$out/$_b.log"
		_s=$(grep -o 'Tested: [0-9]* | Passing: [0-9]* | Failing: [0-9]*' "$out/$_b.log" | tail -n 1)
		_tested=$((_tested + $(echo "$_s" | awk '{print $2}')))
		_failing=$((_failing + $(echo "$_s" | awk '{print $8}')))
	done
	echo "$_name tests=$_tested failing=$_failing seconds=$((SECONDS - _t0)) result=$([ "$_rc" = 0 ] && echo pass || echo FAIL)" >>"$out/summary"
	[ "$_rc" = 0 ] || echo "$_name" >>"$out/failed"
}
# the caller's CHAOS_* values (their environment) win over these long sizes
run crash CHAOS_ORDERS="${CHAOS_ORDERS_CRASH:-1000}" CHAOS_DEADLINE="${CHAOS_DEADLINE:-3600}"
run pg_restart CHAOS_ORDERS="${CHAOS_ORDERS_PG:-300}" CHAOS_DEADLINE="${CHAOS_DEADLINE:-1200}"
run two_nodes CHAOS_ORDERS="${CHAOS_ORDERS_NODES:-200}" CHAOS_DEADLINE="${CHAOS_DEADLINE:-1200}"
run sigterm CHAOS_ORDERS="${CHAOS_ORDERS_TERM:-200}" CHAOS_TERMS="${CHAOS_TERMS:-10}" CHAOS_DEADLINE="${CHAOS_DEADLINE:-1200}"
run peer_faults CHAOS_ORDERS="${CHAOS_ORDERS_PEERS:-60}" CHAOS_REVOKES="${CHAOS_REVOKES:-20}" CHAOS_DEADLINE="${CHAOS_DEADLINE:-1200}"
# issue #19 items 1 and 3: a half-made key pair cleaned up (every key storage), the CA's
# record on a full disk (a 1 MiB tmpfs; skipped with a message where mount(2) is refused)
unit keygen_remnant test_cab_keys test_cab_wrapped
unit enospc test_cab_enospc
echo
echo "== fault suite summary (one line per scenario)"
cat "$out/summary" 2>/dev/null
[ ! -s "$out/failed" ]
