# The frame every end-to-end script shares (bash, sourced from the repository's root): a work
# folder, checks that count, a cleanup that stops what the script started and reports a
# script that stopped early, and the summary line run.sh and CI read.
#
#   e2e_begin NAME      makes $work (mode 755: the test PostgreSQL's user reads below it),
#                       sets passed/failed to 0 and the EXIT trap
#   check NAME CMD...   runs CMD: "ok - NAME", or "not ok - NAME" with the first lines of
#                       $work/err and $work/out (what the command under test said); with
#                       E2E_T0 set (date +%s), each ok line shows the seconds since then
#   die MSG             a setup step failed: the script stops (the trap reports it as failed)
#   e2e_end             "N passed, M failed"; its status is the script's: 0 when none failed
#
# On exit the trap calls the script's own e2e_stop when it defines one (stop what it
# started: ra serve, a tmux server, a package), then stops the peers under $work/peers and
# a PostgreSQL under $work/pg when they exist, and prints the tail of each log in E2E_LOGS
# (default: $work/ra.log) when a check failed or the script stopped before e2e_end (which
# then counts one failure more).
# KEEP_WORK=DIR copies the work folder there before it is removed (for a post-mortem).

passed=0 failed=0 _e2e_done=

_e2e_logs() { # _e2e_logs N: the last N lines of each log, for the post-mortem of a failure
	for _f in ${E2E_LOGS:-$work/ra.log}; do
		[ -f "$_f" ] && { echo "# --- last $1 lines of ${_f#"$work"/}"; tail -n "$1" "$_f" | sed 's/^/#   /'; }
	done
}

_e2e_cleanup() {
	_rc=$?
	declare -F e2e_stop >/dev/null && e2e_stop
	[ -d "$work/peers" ] && peer_stop_all "$work/peers" >/dev/null 2>&1
	[ -d "$work/pg" ] && tests/lib/pg.sh stop "$work/pg" >/dev/null 2>&1
	if [ -z "$_e2e_done" ]; then
		echo "not ok - the script stopped early (exit status $_rc)"
		_e2e_logs 30
		echo "$passed passed, $((failed + 1)) failed"
		[ "$_rc" -ne 0 ] || _rc=1
	elif [ "$failed" -gt 0 ]; then
		_e2e_logs 80
	fi
	[ -n "${KEEP_WORK:-}" ] && cp -r "$work" "$KEEP_WORK"
	rm -rf "$work"
	exit "$_rc"
}

e2e_begin() {
	work=$(mktemp -d "${TMPDIR:-/tmp}/ra-$1-XXXXXX") || { echo "setup: no work folder" >&2; exit 1; }
	chmod 755 "$work"
	trap _e2e_cleanup EXIT
}

check() { # check NAME COMMAND...
	_name=$1
	shift
	if "$@"; then
		echo "ok - $_name${E2E_T0:+ ($(($(date +%s) - E2E_T0)) s)}"
		passed=$((passed + 1))
	else
		echo "not ok - $_name"
		failed=$((failed + 1))
		[ -s "$work/err" ] && sed 's/^/#   /' "$work/err" | head -n 8
		[ -s "$work/out" ] && sed 's/^/#   /' "$work/out" | head -n 15
	fi
	return 0
}

die() {
	echo "setup: $*" >&2
	exit 1
}

e2e_end() {
	_e2e_done=1
	echo "$passed passed, $failed failed"
	[ "$failed" -eq 0 ]
}
