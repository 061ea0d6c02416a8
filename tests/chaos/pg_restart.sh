#!/usr/bin/env bash
# PostgreSQL restarts under a steady webhook stream (issue #19, docs/faults.md "The fault
# suite"): two shop streams deliver CHAOS_ORDERS orders (each of its own customer, retried on
# anything but 200 as WooCommerce does) while PostgreSQL is restarted twice - `pg_ctl restart
# -m immediate` (a crash of the database: no checkpoint, every connection cut) and `pg_ctl
# stop -m fast` with CHAOS_PG_PAUSE seconds down before it starts again.  The ident peer
# calls every identification back.  Checks: `ra serve` stays up and answers only 200 or 503
# (nothing committed on 503, docs/api.md) while the database is down, `/healthz` is 200 again
# within CHAOS_HEALTH_S seconds of the database accepting connections (measured and reported),
# and then every effect once (tests/chaos/lib.sh check_effects).
# shellcheck source=tests/chaos/lib.sh
. "$(dirname "$0")/lib.sh"
N=${CHAOS_ORDERS:-60}
PAUSE=${CHAOS_PG_PAUSE:-5}
HEALTH_S=${CHAOS_HEALTH_S:-30}
echo "# pg_restart: $N orders in two streams; restart -m immediate, then -m fast with ${PAUSE} s down"

chaos_setup
ra_start 1 || die "ra serve does not start"
pgbin=$(ls -d /usr/lib/postgresql/*/bin | sort -V | tail -n 1)
pg_ctl() { # as pg.sh runs it: as Debian's postgres user when we are root
	if [ "$(id -u)" -eq 0 ]; then runuser -u postgres -- "$pgbin/pg_ctl" -D "$work/pg/data" "$@"
	else "$pgbin/pg_ctl" -D "$work/pg/data" "$@"; fi
}
pg_ready() { psql -qAtX -d "$DB" -c 'SELECT 1' >/dev/null 2>&1; }
health_after() { # health_after LABEL: seconds from the database accepting to /healthz 200
	wait_for 120 pg_ready || die "PostgreSQL does not accept connections after the $1 restart"
	_t0=$(date +%s.%N)
	wait_for "$HEALTH_S" ra_up 1
	_t1=$(date +%s.%N)
	python3 -c "print('%.2f' % ($_t1 - $_t0))"
}

stream() { # stream FIRST STEP: orders FIRST, FIRST+STEP, ... up to N, one every 0.1 s
	for i in $(seq "$1" "$2" "$N"); do
		deliver "$i" 1 || exit 1
		sleep 0.1
	done
}
stream 1 2 &
s1=$!
stream 2 2 &
s2=$!
ident_provider "$N" 1 &
ip=$!
bg_pids="$s1 $s2 $ip"

# a third of the stream in, the database crashes (immediate: no shutdown checkpoint)
wait_for 120 eval '[ "$(awk "\$2 == 200" "$work/deliveries" 2>/dev/null | wc -l)" -ge $((N / 3)) ]'
echo "# restart -m immediate at $(awk '$2 == 200' "$work/deliveries" | wc -l) orders in"
mark1=$(wc -l <"$work/deliveries")
pg_ctl restart -m immediate -w -t 60 -l "$work/pg/server.log" >/dev/null 2>&1 || die "pg_ctl restart -m immediate failed"
h_immediate=$(health_after immediate)
# two thirds in: a fast shutdown, the database down for PAUSE seconds
wait_for 120 eval '[ "$(awk "\$2 == 200" "$work/deliveries" | wc -l)" -ge $((2 * N / 3)) ]'
echo "# stop -m fast at $(awk '$2 == 200' "$work/deliveries" | wc -l) orders in, ${PAUSE} s down"
pg_ctl stop -m fast -w -t 60 >/dev/null 2>&1 || die "pg_ctl stop -m fast failed"
sleep "$PAUSE"
check "while PostgreSQL is down ra serve answers /healthz 503" \
	eval '[ "$(curl -s -o /dev/null -w "%{http_code}" --max-time 5 "$(url_of 1)/healthz")" = 503 ]'
tests/lib/pg.sh restart "$work/pg" >/dev/null || die "PostgreSQL does not start again"
h_fast=$(health_after fast)
echo "# /healthz 200 again ${h_immediate} s after the immediate restart, ${h_fast} s after the fast one"
check "/healthz is back within ${HEALTH_S} s of the database (${h_immediate} s, ${h_fast} s)" \
	eval 'ra_up 1 && python3 -c "import sys; sys.exit(0 if max($h_immediate, $h_fast) < $HEALTH_S else 1)"'

wait "$s1"; r1=$?
wait "$s2"; r2=$?
wait "$ip"; r3=$?
bg_pids=
check "the shop streams delivered all $N orders (each until 200)" [ "$r1" = 0 -a "$r2" = 0 ]
check "the ident provider called every identification back" [ "$r3" = 0 ]
# what the shop saw: 200, or 503 while the database was down; a 500 or a dropped connection
# (000) would be a fault of the service, which stays up throughout
tail -n +"$((mark1 + 1))" "$work/deliveries" | awk '{print $2}' | sort | uniq -c >"$work/why"
n503=$(awk '$2 == 503' "$work/deliveries" | wc -l)
nbad=$(awk '$2 != 200 && $2 != 503' "$work/deliveries" | wc -l)
check "the shop got only 200 or 503 ($n503 times 503, $nbad other)" [ "$nbad" = 0 -a "$n503" -gt 0 ]
check "ra serve was never restarted: one process throughout" kill -0 "$(ra_pid 1)"
check_effects "$N"
ra_term 1
check "ra serve drains and exits 0 after the run" [ "$ra_rc" = 0 ]
summary "pg_restart orders=$N lost=$lost duplicated=$duplicated orphans=$orphans webhook_503=$n503" \
	"webhook_other_errors=$nbad healthz_after_immediate_s=$h_immediate healthz_after_fast_s=$h_fast" \
	"dup_sms=$dup_sms dup_mail=$dup_mail"
finish
