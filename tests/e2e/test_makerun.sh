#!/usr/bin/env bash
# `make run` and `make stop` (issue #18): deploy/dev-run.sh brings up the local RA (PostgreSQL,
# SoftHSM2 token, local CA, peers, ra serve) in a place of its own (RA_VAR), here put in the
# background as a developer might; deploy/dev-stop.sh (`make stop`) must then stop all of it:
# the ra serve, the peers and PostgreSQL.  The database is not open to other local users (issue
# #20): socket directory 0700, peer authentication for this user only, `ra serve` connected as
# ra_app, which owns nothing and may not rewrite the audit trail; `ra migrate` as ra_owner.
# Prints "ok - ..." / "not ok - ..." per check and "N passed, M failed"; exits 1 if M > 0.
set -u
cd "$(dirname "$0")/../.."
B=${RA_TEST_BIN:-build}

. tests/lib/e2e.sh
run_pid=
e2e_stop() {
	deploy/dev-stop.sh >/dev/null 2>&1
	[ -n "$run_pid" ] && kill "$run_pid" 2>/dev/null
}
e2e_begin makerun
E2E_LOGS=$work/run.log
export RA_VAR=$work/var

port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
RA_PORT=$port B=$B deploy/dev-run.sh >"$work/run.log" 2>&1 &
run_pid=$!
up() { curl -sf "http://127.0.0.1:$port/healthz" >/dev/null 2>&1; }
for _ in $(seq 300); do up && break; sleep 0.2; done
check "make run: the RA answers /healthz" up
ra_pid=$(cat "$RA_VAR/run/ra-serve.pid" 2>/dev/null)
check "make run: ra serve's PID is recorded" [ -n "$ra_pid" ]
peer_pids=$(cat "$RA_VAR"/run/*.pid 2>/dev/null | grep -v "^$ra_pid\$" | tr '\n' ' ')
pg_pid=$(head -n 1 "$RA_VAR/pg/data/postmaster.pid" 2>/dev/null)
check "make run: peers and PostgreSQL are running" [ -n "$peer_pids" ] && [ -n "$pg_pid" ]

# ---- the database (issue #20, item 5) --------------------------------------------------------
sock=$RA_VAR/pg/sock pgport=$(cat "$RA_VAR/pg/port" 2>/dev/null)
sq() { # sq ROLE SQL: one value, as ROLE (peer: this OS user is mapped to all three roles)
	psql -qAtX "postgresql:///ra?host=$sock&port=$pgport&user=$1" -c "$2" 2>"$work/sqlerr"
}
check "the socket directory is 0700" [ "$(stat -c %a "$sock" 2>/dev/null)" = 700 ]
check "pg_hba.conf has no trust line and no TCP line" \
	eval '! grep -Eq "^[^#]*(trust|^host)" "$RA_VAR/pg/data/pg_hba.conf"'
check "ra serve is connected as ra_app, and only as ra_app" \
	eval '[ "$(sq ra "SELECT count(*) FROM pg_stat_activity WHERE datname = '"'ra'"' AND usename = '"'ra_app'"'")" -gt 0 ] &&
		[ "$(sq ra "SELECT count(*) FROM pg_stat_activity WHERE datname = '"'ra'"' AND usename <> '"'ra_app'"'
			AND pid <> pg_backend_pid() AND backend_type = '"'client backend'"'")" = 0 ]'
check "ra_app owns nothing and is no superuser; the audit tables and view are ra_owner's" \
	eval '[ "$(sq ra "SELECT (SELECT count(*) FROM pg_class WHERE relowner = r.oid AND relpersistence <> '"'t'"') + (SELECT count(*) FROM pg_proc
			WHERE proowner = r.oid) + (SELECT count(*) FROM pg_namespace WHERE nspowner = r.oid) +
			(SELECT count(*) FROM pg_database WHERE datdba = r.oid) + r.rolsuper::int FROM pg_roles r
			WHERE rolname = '"'ra_app'"'")" = 0 ] &&
		[ "$(sq ra "SELECT count(*) FROM pg_class c JOIN pg_roles o ON o.oid = c.relowner WHERE o.rolname = '"'ra_owner'"'
			AND c.relname IN ('"'audit_record'"', '"'audit_chain'"', '"'audit_log'"')")" = 3 ]'
check "ra_app may not UPDATE or DELETE the audit trail (permission, not only the trigger)" \
	eval '! sq ra_app "UPDATE audit_log SET actor = actor WHERE false" && grep -q "permission denied" "$work/sqlerr" &&
		! sq ra_app "DELETE FROM audit_log WHERE false" && grep -q "permission denied" "$work/sqlerr"'
if [ "$(id -u)" -eq 0 ]; then
	probe=raprobe$$
	useradd -M -N -r -s /usr/sbin/nologin "$probe" 2>"$work/err"
	as_probe() { # as_probe ROLE: psql as the second local user
		runuser -u "$probe" -- psql -qAtX "postgresql:///ra?host=$sock&port=$pgport&user=$1" -c "SELECT 1" \
			>"$work/probe" 2>&1
	}
	check "a second local user cannot connect as ra_app, ra_owner or ra (socket directory)" \
		eval '! as_probe ra_app && ! as_probe ra_owner && ! as_probe ra && ! grep -qx 1 "$work/probe"'
	# with the directory opened, peer authentication still refuses: two locks, not one
	chmod 711 "$sock"
	check "... and with the directory opened, peer authentication refuses it" \
		eval '! as_probe ra_app && grep -q "Peer authentication failed" "$work/probe" && ! as_probe ra'
	chmod 700 "$sock"
	userdel "$probe" 2>/dev/null
else
	echo "ok - a second local user cannot connect # SKIP needs root to create a throwaway system user"
	passed=$((passed + 1))
fi

deploy/dev-stop.sh >"$work/stop.log" 2>&1
check "make stop succeeds" [ $? = 0 ]
# gone PID: no such process, or a zombie nobody has reaped yet (it runs nothing any more)
gone() { ! kill -0 "$1" 2>/dev/null || [ "$(awk '{print $3}' "/proc/$1/stat" 2>/dev/null)" = Z ]; }
wait "$run_pid" 2>/dev/null; run_pid=
check "make stop stopped the background ra serve (pid $ra_pid)" gone "$ra_pid"
check "and it drained: ra serve exited 0" grep -q 'event=server.stopped' "$work/run.log"
all_gone() { for p in $peer_pids; do gone "$p" || return 1; done; }
check "make stop stopped the peers ($peer_pids)" all_gone
check "make stop stopped PostgreSQL (pid $pg_pid)" gone "$pg_pid"
check "nothing answers on the RA's port any more" eval '! up'

e2e_end
