#!/bin/sh
# Runs every test against the binaries in BUILD_DIR (default build): Criterion unit and
# integration binaries, then the shell end-to-end tests.  Starts one throwaway PostgreSQL
# for the run (tests make their own databases in it) and removes everything on exit.
#   tests/run.sh [BUILD_DIR [NAME...]]   NAME: only the tests whose file name contains it
set -u
B=${1:-build}
[ $# -gt 0 ] && shift
only="$*"
selected() {
	[ -z "$only" ] && return 0
	for n in $only; do case "$1" in *"$n"*) return 0 ;; esac; done
	return 1
}
cd "$(dirname "$0")/.."
root=$(mktemp -d "${TMPDIR:-/tmp}/ra-test-XXXXXX")
chmod 755 "$root"
cleanup() {
	tests/lib/pg.sh stop "$root/pg" >/dev/null 2>&1
	rm -rf "$root"
}
trap cleanup EXIT INT TERM

RA_TEST_PG_URL=$(tests/lib/pg.sh start "$root/pg") || { echo "run.sh: cannot start PostgreSQL" >&2; exit 1; }
export RA_TEST_PG_URL RA_TEST_BIN="$B" RA_TEST_TMP="$root" RA_TEST_ROOT="$PWD"
export ASAN_OPTIONS="${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=0:detect_stack_use_after_return=0}"
# exitcode=0: a leak report alone does not change the exit status; tests/lib/san-report.awk
# decides below whether a report is the project's (Criterion's runner leaks a little itself)
export LSAN_OPTIONS="${LSAN_OPTIONS:-suppressions=$PWD/tests/lsan.supp:print_suppressions=0:exitcode=0}"
export UBSAN_OPTIONS="${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}"
[ -f tests/lsan.supp ] || : >"$root/empty.supp"
[ -f tests/lsan.supp ] || LSAN_OPTIONS="suppressions=$root/empty.supp:print_suppressions=0:exitcode=0"

failed=0; passed=0; failures=""
for t in "$B"/tests/test_*; do
	[ -x "$t" ] || continue
	selected "$t" || continue
	echo "== $(basename "$t")"
	out="$root/$(basename "$t").out"
	t0=$(date +%s)
	"$t" --jobs 2 </dev/null >"$out" 2>&1; rc=$?
	cat "$out"
	echo "-- $(basename "$t"): $(($(date +%s) - t0)) s"
	# Criterion's workers do not fail a test on a LeakSanitizer or UBSan report: look for them
	if awk -f tests/lib/san-report.awk "$out"; then
		echo "run.sh: sanitizer report in $(basename "$t")" | tee -a "$out"; rc=1
	fi
	if [ "$rc" -eq 0 ]; then passed=$((passed + 1)); else failed=$((failed + 1)); failures="$failures $(basename "$t")"; fi
	[ "$rc" -eq 0 ] || echo "$out" >>"$root/failed.list"
done
for t in tests/e2e/test_*.sh; do
	[ -f "$t" ] || continue
	selected "$t" || continue
	echo "== $t"
	t0=$(date +%s)
	out="$root/$(basename "$t").out"
	bash "$t" </dev/null >"$out" 2>&1; rc=$?
	cat "$out"
	if [ "$rc" -eq 0 ]; then passed=$((passed + 1)); else failed=$((failed + 1)); failures="$failures $t"; echo "$out" >>"$root/failed.list"; fi
	echo "-- $t: $(($(date +%s) - t0)) s"
done
# A log keeps only its last lines: what failed, once more at the end, where they are.
if [ -f "$root/failed.list" ]; then
	echo
	echo "== what failed"
	while read -r f; do
		echo "-- $(basename "$f" .out)"
		# (a leak report of the project's own shows as run.sh's line; Criterion's runner leaks a
		# block of its own in every program, so leak headers alone would lead every digest)
		what='\[----\]|\[FAIL\]|CRASH|[Tt]imed out|^not ok|ERROR: AddressSanitizer|runtime error:|^run\.sh:'
		if grep -qE "$what" "$f"; then
			grep -E "$what" "$f" | head -n 30
		else
			tail -n 10 "$f" # nothing of that kind (a script that stopped early): its last lines
		fi
	done <"$root/failed.list"
fi
echo
echo "test programs: $passed passed, $failed failed${failures:+ (failed:$failures)}"
[ "$failed" -eq 0 ]
