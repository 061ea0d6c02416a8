# Start and stop the external test peers (tests/peers/); sourced by test and run scripts.
# POSIX sh, safe under `set -eu`.
#
#   peer_start NAME DIR [ARGS...]   NAME is ident, sms or mail (ident_peer.py, sms_peer.py,
#                                   mail_sink.py).  Starts it in the background with
#                                   --port-file DIR/NAME.port and ARGS; output to DIR/NAME.log,
#                                   PID to DIR/NAME.pid.  Waits up to PEER_WAIT tenths of a
#                                   second (default 100) for the port, then exports NAME_PORT
#                                   (IDENT_PORT, SMS_PORT, MAIL_PORT).  Fails, showing the log,
#                                   if the peer dies or never listens.
#   peer_stop NAME DIR              stop that peer (TERM, then KILL), by its recorded PID
#   peer_stop_all DIR               stop every peer with a PID file in DIR
#
# The peers are found next to this file (bash) or under tests/peers of the current directory
# (other shells; the scripts run from the repository root); PEERS_DIR overrides.  PEER_PYTHON
# names the interpreter; by default the first python3 on PATH that has aiosmtpd, else the
# system one, since the mail sink needs Debian's python3-aiosmtpd.

if [ -z "${PEERS_DIR:-}" ]; then
	if [ -n "${BASH_SOURCE:-}" ]; then
		PEERS_DIR=$(cd "$(dirname "$BASH_SOURCE")/../peers" && pwd)
	else
		PEERS_DIR=$(pwd)/tests/peers
	fi
fi

_peer_python() {
	if [ -n "${PEER_PYTHON:-}" ]; then echo "$PEER_PYTHON"; return 0; fi
	for _py in python3 /usr/bin/python3; do
		if "$_py" -c 'import aiosmtpd' >/dev/null 2>&1; then echo "$_py"; return 0; fi
	done
	echo python3
}

_peer_script() {
	case $1 in
	ident) echo "$PEERS_DIR/ident_peer.py" ;;
	sms) echo "$PEERS_DIR/sms_peer.py" ;;
	mail) echo "$PEERS_DIR/mail_sink.py" ;;
	*) echo "peers.sh: unknown peer '$1' (ident, sms, mail)" >&2; return 1 ;;
	esac
}

peer_start() {
	_pname=$1; _pdir=$2; shift 2
	_pscript=$(_peer_script "$_pname") || return 1
	mkdir -p "$_pdir"
	rm -f "$_pdir/$_pname.port"
	"$(_peer_python)" "$_pscript" --port-file "$_pdir/$_pname.port" "$@" \
		>"$_pdir/$_pname.log" 2>&1 &
	_ppid=$!
	echo "$_ppid" >"$_pdir/$_pname.pid"
	_pwait=${PEER_WAIT:-100}
	while [ ! -s "$_pdir/$_pname.port" ]; do
		if ! _peer_running "$_ppid" || [ "$_pwait" -le 0 ]; then
			echo "peers.sh: $_pname did not start; its log:" >&2
			cat "$_pdir/$_pname.log" >&2
			peer_stop "$_pname" "$_pdir"
			return 1
		fi
		sleep 0.1
		_pwait=$((_pwait - 1))
	done
	_pport=$(cat "$_pdir/$_pname.port")
	_pvar=$(echo "$_pname" | tr '[:lower:]' '[:upper:]')_PORT
	eval "export $_pvar=\$_pport"
}

# Running and not a zombie (a child the calling shell has not reaped yet counts as gone).
_peer_running() {
	_rstat=$(ps -p "$1" -o stat= 2>/dev/null) || return 1
	case $_rstat in Z*) return 1 ;; esac
	return 0
}

peer_stop() {
	_sname=$1; _sdir=$2
	[ -f "$_sdir/$_sname.pid" ] || return 0
	_spid=$(cat "$_sdir/$_sname.pid")
	_sscript=$(_peer_script "$_sname") || return 1
	# Only a process still running our script: the PID may have been reused since.
	if [ -n "$_spid" ] && ps -p "$_spid" -o args= 2>/dev/null | grep -q "$(basename "$_sscript")"; then
		kill "$_spid" 2>/dev/null || true
		_swait=50
		while _peer_running "$_spid" && [ "$_swait" -gt 0 ]; do
			sleep 0.1
			_swait=$((_swait - 1))
		done
		kill -9 "$_spid" 2>/dev/null || true
		wait "$_spid" 2>/dev/null || true # reap it if it is our child
	fi
	rm -f "$_sdir/$_sname.pid" "$_sdir/$_sname.port"
}

peer_stop_all() {
	for _apid in "$1"/*.pid; do
		[ -f "$_apid" ] || continue
		_aname=$(basename "$_apid" .pid)
		case $_aname in ident | sms | mail) peer_stop "$_aname" "$1" ;; esac
	done
}
