#!/bin/sh
# `make stop`: stops what `make run` left running in var/: the ra serve (foreground or in the
# background), the peers, then the PostgreSQL cluster.  Everything by its PID file.
set -eu
cd "$(dirname "$0")/.."
VAR=${RA_VAR:-$PWD/var}

# ra serve first (it drains into the database): the PID dev-run.sh wrote, and only while that
# process is still this var/'s `ra ... serve` (a PID file can outlive its process)
pidf=$VAR/run/ra-serve.pid
if [ -f "$pidf" ]; then
	pid=$(cat "$pidf")
	if [ -n "$pid" ] && tr '\0' ' ' <"/proc/$pid/cmdline" 2>/dev/null | grep -qF -- "--config $VAR/ra.json serve"; then
		kill -TERM "$pid" 2>/dev/null || true
		i=0
		while kill -0 "$pid" 2>/dev/null && [ $i -lt 150 ]; do sleep 0.1; i=$((i + 1)); done
		if kill -0 "$pid" 2>/dev/null; then
			echo "ra serve (pid $pid) did not drain in 15 s: killed" >&2
			kill -KILL "$pid" 2>/dev/null || true
		else
			echo "ra serve (pid $pid) stopped"
		fi
	fi
	rm -f "$pidf"
fi
if [ -d "$VAR/run" ]; then
	. tests/lib/peers.sh
	peer_stop_all "$VAR/run" || true
fi
[ -d "$VAR/pg" ] && tests/lib/pg.sh stop "$VAR/pg"
echo "stopped (data kept in var/; remove var/ for a fresh start)"
