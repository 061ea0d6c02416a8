#!/bin/sh
# Throwaway PostgreSQL for tests, make run and make bench.
#   pg.sh start DIR [PORT]  initdb in DIR (if new), start on a unix socket in DIR; prints the
#                           libpq URL on stdout.  PostgreSQL refuses to run as root, so as root
#                           the server runs as Debian's 'postgres' user, which is given DIR.
#                           PG_LISTEN=127.0.0.1 also listens on TCP (default: socket only).
#   pg.sh stop DIR          stop it (fast shutdown, by the PID in DIR/data/postmaster.pid)
#   pg.sh kill DIR          SIGKILL the postmaster (crash tests)
#   pg.sh restart DIR       start again after stop/kill, same port
#   pg.sh owner-url DIR     (PG_ROLES=1 clusters) the URL of the role that owns the schema
# PG_ROLES=1 (`make run`, issue #20): the socket in DIR/sock (0700, the server's user only),
# peer authentication mapped to the invoking OS user only (no trust, no TCP), and two roles
# besides the bootstrap superuser `ra`: `ra_owner` owns the database and the schema (`ra
# migrate`), `ra_app` owns nothing and gets DML through default privileges (`ra serve`;
# docs/audit.md).  The printed URL is ra_app's.  Without it (the tests' clusters): trust, as
# before.
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

sockdir() { if [ "${PG_ROLES:-}" = 1 ]; then echo "$dir/sock"; else echo "$dir"; fi; }
url() {
	if [ "${PG_ROLES:-}" = 1 ]; then
		echo "postgresql:///ra?host=$dir/sock&port=$(cat "$dir/port")&user=${1:-ra_app}"
	else
		echo "postgresql:///ra?host=$dir&port=$(cat "$dir/port")&user=ra"
	fi
}

# PG_ROLES=1: who may connect is decided by the OS user (peer), mapped in pg_ident.conf:
# the server's own user (setup) to the superuser, the invoking user to all three roles.
# Nobody else: the socket directory is 0700, and pg_hba has no other line.
write_auth() {
	me=$(id -un)
	srv=$me
	[ "$(id -u)" -eq 0 ] && srv=postgres
	{
		echo "# written by tests/lib/pg.sh (PG_ROLES=1): peer only, no TCP, no trust"
		echo "local all ra peer map=ra"
		echo "local ra ra_owner,ra_app peer map=ra"
	} | as_pg tee "$dir/data/pg_hba.conf" >/dev/null
	{
		echo "ra $srv ra"
		echo "ra $me ra"
		echo "ra $me ra_owner"
		echo "ra $me ra_app"
	} | as_pg tee "$dir/data/pg_ident.conf" >/dev/null
}

roles_sql() {
	cat <<'SQL'
DO $$ BEGIN
	IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'ra_owner') THEN CREATE ROLE ra_owner LOGIN; END IF;
	IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'ra_app') THEN CREATE ROLE ra_app LOGIN; END IF;
END $$;
ALTER DATABASE ra OWNER TO ra_owner;
REVOKE ALL ON DATABASE ra FROM PUBLIC;
GRANT CONNECT, TEMPORARY ON DATABASE ra TO ra_app;
ALTER SCHEMA public OWNER TO ra_owner;
REVOKE CREATE ON SCHEMA public FROM PUBLIC;
GRANT USAGE ON SCHEMA public TO ra_app;
ALTER DEFAULT PRIVILEGES FOR ROLE ra_owner IN SCHEMA public GRANT SELECT, INSERT, UPDATE, DELETE ON TABLES TO ra_app;
ALTER DEFAULT PRIVILEGES FOR ROLE ra_owner IN SCHEMA public GRANT USAGE, SELECT, UPDATE ON SEQUENCES TO ra_app;
SQL
}

start() {
	# a cluster an older `make run` made with trust authentication and a socket in DIR: set
	# aside (throwaway data; its name is printed), a secured one is made in its place
	if [ "${PG_ROLES:-}" = 1 ] && [ -f "$dir/data/PG_VERSION" ] && [ ! -d "$dir/sock" ]; then
		old="$dir.trust-$(date +%Y%m%d%H%M%S)"
		p=$(pid)
		[ -z "$p" ] || as_pg "$bindir/pg_ctl" -D "$dir/data" -m fast -w -t 30 stop >/dev/null 2>&1 || true
		mv "$dir" "$old"
		echo "pg.sh: $dir used trust authentication; moved to $old, making a secured cluster" >&2
	fi
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
	if [ "${PG_ROLES:-}" = 1 ]; then
		as_pg mkdir -p "$dir/sock"
		as_pg chmod 700 "$dir/sock"
		write_auth
	fi
	sock=$(sockdir)
	as_pg "$bindir/pg_ctl" -D "$dir/data" -l "$dir/server.log" -w -t 60 start \
		-o "-k $sock -p $(cat "$dir/port") -c listen_addresses=${PG_LISTEN:-} -c max_connections=200 -c fsync=${PG_FSYNC:-on}" >/dev/null \
		|| { cat "$dir/server.log" >&2; exit 1; }
	as_pg "$bindir/psql" -qAtX -h "$sock" -p "$(cat "$dir/port")" -U ra -d postgres \
		-c "SELECT 1 FROM pg_database WHERE datname='ra'" | grep -q 1 \
		|| as_pg "$bindir/createdb" -h "$sock" -p "$(cat "$dir/port")" -U ra ra
	if [ "${PG_ROLES:-}" = 1 ]; then
		roles_sql | as_pg "$bindir/psql" -qAtX -v ON_ERROR_STOP=1 -h "$sock" -p "$(cat "$dir/port")" -U ra -d ra \
			>/dev/null || { echo "pg.sh: cannot set up the roles" >&2; exit 1; }
	fi
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
owner-url) url ra_owner ;;
*) echo "usage: pg.sh start|stop|kill|restart|url DIR" >&2; exit 2 ;;
esac
