#!/bin/sh
# Throwaway PostgreSQL for tests, make run and make bench.
#   pg.sh start DIR [PORT]  initdb in DIR (if new), start on a unix socket in DIR; prints the
#                           libpq URL on stdout.  PostgreSQL refuses to run as root, so as root
#                           the server runs as Debian's 'postgres' user, which is given DIR.
#                           PG_LISTEN=127.0.0.1 also listens on TCP (default: socket only).
#   pg.sh stop DIR          stop it (fast shutdown, by the PID in DIR/data/postmaster.pid)
#   pg.sh kill DIR          SIGKILL the postmaster (crash tests)
#   pg.sh restart DIR       start again after stop/kill, same port
set -eu
cmd=$1; dir=$2
bindir=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1)
[ -x "$bindir/initdb" ] || { echo "pg.sh: PostgreSQL server binaries not found; run deploy/install-deps.sh" >&2; exit 1; }

as_pg() {
	if [ "$(id -u)" -eq 0 ]; then runuser -u postgres -- "$@"; else "$@"; fi
}

free_port() {
	python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'
}

url() { echo "postgresql:///ra?host=$dir&port=$(cat "$dir/port")&user=ra"; }

start() {
	mkdir -p "$dir"
	if [ "$(id -u)" -eq 0 ]; then
		chown postgres "$dir"; chmod 755 "$dir"
		# the server user must be able to traverse to DIR (mktemp -d makes 0700 parents)
		p=$(dirname "$(realpath "$dir")")
		while [ "$p" != / ]; do chmod o+x "$p"; p=$(dirname "$p"); done
	fi
	if [ ! -f "$dir/data/PG_VERSION" ]; then
		as_pg "$bindir/initdb" -D "$dir/data" -U ra --auth=trust -E UTF8 --locale=C.UTF-8 >"$dir/initdb.log" 2>&1 \
			|| { cat "$dir/initdb.log" >&2; exit 1; }
	fi
	# a postmaster killed with SIGKILL leaves its lock file; drop it when that PID is gone
	# (or a zombie nobody reaped), so a crash test can start the server again
	if [ -f "$dir/data/postmaster.pid" ]; then
		op=$(head -n 1 "$dir/data/postmaster.pid")
		st=$(awk '{print $3}' "/proc/$op/stat" 2>/dev/null || echo gone)
		if [ "$st" = gone ] || [ "$st" = Z ]; then rm -f "$dir/data/postmaster.pid" "$dir"/.s.PGSQL.*.lock; fi
	fi
	[ -f "$dir/port" ] || { if [ -n "${3:-}" ]; then echo "$3"; else free_port; fi; } | as_pg tee "$dir/port" >/dev/null
	as_pg "$bindir/pg_ctl" -D "$dir/data" -l "$dir/server.log" -w -t 60 start \
		-o "-k $dir -p $(cat "$dir/port") -c listen_addresses=${PG_LISTEN:-} -c max_connections=200 -c fsync=${PG_FSYNC:-on}" >/dev/null \
		|| { cat "$dir/server.log" >&2; exit 1; }
	as_pg "$bindir/psql" -qAtX -h "$dir" -p "$(cat "$dir/port")" -U ra -d postgres \
		-c "SELECT 1 FROM pg_database WHERE datname='ra'" | grep -q 1 \
		|| as_pg "$bindir/createdb" -h "$dir" -p "$(cat "$dir/port")" -U ra ra
	url
}

pid() { head -n 1 "$dir/data/postmaster.pid" 2>/dev/null || true; }

case $cmd in
start|restart) start "$@" ;;
stop)
	p=$(pid)
	if [ -n "$p" ]; then
		as_pg "$bindir/pg_ctl" -D "$dir/data" -m fast -w -t 30 stop >/dev/null 2>&1 || kill -9 "$p" 2>/dev/null || true
	fi ;;
kill)
	p=$(pid); [ -n "$p" ] && kill -9 "$p" 2>/dev/null; true ;;
url) url ;;
*) echo "usage: pg.sh start|stop|kill|restart|url DIR" >&2; exit 2 ;;
esac
