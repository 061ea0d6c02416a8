#!/usr/bin/env bash
# Runs the libFuzzer targets in build/fuzz (tests/fuzz/README.md).
#   tests/fuzz/run.sh regress [SECONDS [NAME...]]  each target over its corpus and regression
#       inputs, then SECONDS (default 3) of new inputs kept in a temp dir: `make test`
#   tests/fuzz/run.sh fuzz SECONDS [NAME...]        each target for SECONDS; new inputs go into
#       its corpus, crash inputs into tests/fuzz/regress/<target>/ (commit them): `make fuzz`
# Prints "ok - ..." / "not ok - ..." per target and "N passed, M failed"; exits 1 if M > 0.
set -u
cd "$(dirname "$0")/../.."
mode=${1:-regress}
secs=${2:-3}
shift 2 2>/dev/null || shift $#
only="$*"
FZ=build/fuzz
passed=0 failed=0
tmp=$(mktemp -d "${TMPDIR:-/tmp}/ra-fuzz-XXXXXX")
trap 'rm -rf "$tmp"' EXIT
# leaks are bugs here too; a slow input (10 s) or 2 GB of memory is a finding as well
export ASAN_OPTIONS="${ASAN_OPTIONS:-detect_leaks=1}:abort_on_error=0"
export UBSAN_OPTIONS="${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}"
for t in "$FZ"/fuzz_*; do
	[ -x "$t" ] || continue
	name=$(basename "$t")
	if [ -n "$only" ]; then case " $only " in *" $name "*) ;; *) continue ;; esac; fi
	corpus=tests/fuzz/corpus/$name regress=tests/fuzz/regress/$name
	mkdir -p "$corpus" "$regress"
	dict=()
	[ -f "tests/fuzz/dict/$name.dict" ] && dict=(-dict="tests/fuzz/dict/$name.dict")
	if [ "$mode" = fuzz ]; then
		out=$corpus art=$regress/
	else
		out=$tmp/$name art=$tmp/$name-
		mkdir -p "$out"
	fi
	log=$tmp/$name.log
	"$t" -max_total_time="$secs" -timeout=10 -rss_limit_mb=2048 -max_len=65536 -print_final_stats=1 \
		-artifact_prefix="$art" "${dict[@]}" "$out" "$corpus" "$regress" >"$log" 2>&1
	rc=$?
	runs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -n 1)
	if [ "$rc" -eq 0 ]; then
		echo "ok - $name: ${runs:-?} inputs in ${secs} s (corpus $(ls "$corpus" | wc -l), regression $(ls "$regress" | wc -l))"
		passed=$((passed + 1))
	else
		echo "not ok - $name: exit $rc"
		grep -E "ERROR|SUMMARY|runtime error|Test unit written" "$log" | head -n 12 | sed 's/^/#   /'
		for a in "$art"crash-* "$art"leak-* "$art"timeout-* "$art"oom-*; do
			[ -f "$a" ] || continue
			echo "#   input (base64): $(base64 -w0 "$a" | head -c 2000)"
			[ "$mode" = fuzz ] || echo "#   keep it: save it under $regress/ and commit it with the fix"
		done
		failed=$((failed + 1))
	fi
done
[ $((passed + failed)) -gt 0 ] || { echo "not ok - no fuzz targets in $FZ (make fuzz-targets)"; failed=1; }
echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
