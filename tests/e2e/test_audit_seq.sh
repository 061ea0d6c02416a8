#!/usr/bin/env bash
# The audit sequencer over two `ra serve` nodes (issue #16, docs/audit.md "Sequencer"): 20
# concurrent writers append records (pgbench, the service's own append statements) while the
# node that is the sequencer is SIGKILLed inside a batch; the other node takes the lock over,
# and in the end every record is chained exactly once, seq has no gap, `ra audit verify` passes
# and both nodes' /metrics say who sequences and how much is pending.
# Prints "ok - ..." / "not ok - ..." per check and "N passed, M failed"; exits 1 if M > 0.
set -u
cd "$(dirname "$0")/../.."
B=${RA_TEST_BIN:-build}
RA=$PWD/$B/ra

. tests/lib/e2e.sh
own_pg= pgb_pid=
pids=()
e2e_stop() {
	[ -n "$pgb_pid" ] && kill "$pgb_pid" 2>/dev/null
	for p in "${pids[@]}"; do kill -TERM "$p" 2>/dev/null; wait "$p" 2>/dev/null; done
}
e2e_begin auditseq
E2E_LOGS="$work"/ra-*.log

sql() { psql -qAtX -d "$DB" -v ON_ERROR_STOP=1 -c "$1"; }
# wait_for SECONDS COMMAND...: polls every 0.1 s (the machine is loaded: generous limits)
wait_for() {
	_n=$(($1 * 10)); shift
	for _ in $(seq "$_n"); do "$@" && return 0; sleep 0.1; done
	return 1
}
metric() { # metric PORT NAME
	curl -sf "http://127.0.0.1:$1/metrics" 2>/dev/null | awk -v n="$2" '$1 == n {print $2}'
}

# ---- PostgreSQL, two nodes -----------------------------------------------------------------
if [ -n "${RA_TEST_PG_URL:-}" ]; then
	PG=$RA_TEST_PG_URL
else
	PG=$(tests/lib/pg.sh start "$work/pg") || die "cannot start PostgreSQL"
	own_pg=1
fi
dbname="auditseq_$$_$RANDOM"
psql -qAtX -d "$PG" -c "CREATE DATABASE $dbname" >/dev/null || die "cannot create a database"
DB=$(python3 -c 'import re, sys; print(re.sub(r"^(postgres(?:ql)?://[^/?]*)/[^?]*", r"\g<1>/" + sys.argv[2], sys.argv[1]))' \
	"$PG" "$dbname")
export RA_DATABASE_URL="$DB" RA_AUDIT_VERIFY_HOURS=0 RA_AUDIT_SEQUENCER_BATCH=5
"$RA" migrate >"$work/migrate.log" 2>&1 || { cat "$work/migrate.log"; die "ra migrate failed"; }
port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
P1=$(port) P2=$(port)
RA_LISTEN="127.0.0.1:$P1" "$RA" serve >"$work/ra-1.log" 2>&1 &
pid1=$!
pids+=("$pid1")
RA_LISTEN="127.0.0.1:$P2" "$RA" serve >"$work/ra-2.log" 2>&1 &
pid2=$!
pids+=("$pid2")
up() { curl -sf "http://127.0.0.1:$P1/healthz" >/dev/null && curl -sf "http://127.0.0.1:$P2/healthz" >/dev/null; }
wait_for 30 up || die "the two nodes did not come up"

one_leader() {
	l1=$(metric "$P1" ra_audit_sequencer_leader) l2=$(metric "$P2" ra_audit_sequencer_leader)
	[ "$l1$l2" = 10 ] || [ "$l1$l2" = 01 ]
}
check "exactly one of the two nodes is the sequencer (ra_audit_sequencer_leader 1 and 0)" wait_for 20 one_leader
if [ "$l1" = 1 ]; then
	lead_pid=$pid1 lead_port=$P1 other_port=$P2 other_log=$work/ra-2.log
else
	lead_pid=$pid2 lead_port=$P2 other_port=$P1 other_log=$work/ra-1.log
fi

# A batch takes long enough to be killed inside it: a test-only trigger (fixture, not part of
# the product) makes each chained row take 20 ms while the flag row exists.
sql "CREATE TABLE test_slow (on_ boolean);
     INSERT INTO test_slow VALUES (true);
     CREATE FUNCTION test_slow() RETURNS trigger LANGUAGE plpgsql AS \$\$
     BEGIN IF EXISTS (SELECT 1 FROM test_slow) THEN PERFORM pg_sleep(0.02); END IF; RETURN NEW; END \$\$;
     CREATE TRIGGER test_slow BEFORE INSERT ON audit_chain FOR EACH ROW EXECUTE FUNCTION test_slow();" \
	>/dev/null || die "cannot install the slow-batch fixture"

# ---- 20 writers, the sequencer killed mid-batch ----------------------------------------------
# Each transaction appends two records, one through the audit_log view (the statement flows
# still use) and one as audit_append does it.
cat >"$work/writer.sql" <<'EOF'
BEGIN;
INSERT INTO audit_log (actor, action, object_type, object_id, reason, details)
	VALUES ('support:writer' || :client_id, 'test.append', 'thing', 'a', NULL, '{"n": 1}'::jsonb);
INSERT INTO audit_record (actor, action, object_type, object_id, reason, details)
	VALUES ('support:writer' || :client_id, 'test.append', 'thing', 'b', 'second', NULL);
COMMIT;
EOF
pgbench -n -c 20 -j 2 -T 8 -R 150 -f "$work/writer.sql" "$DB" >"$work/pgbench.out" 2>&1 &
pgb_pid=$!

chained_some() { [ "$(sql "SELECT count(*) FROM audit_chain")" -ge 20 ]; }
wait_for 30 chained_some || die "the sequencer chained nothing"
# the sequencer's backend inside audit_sequence(), then at once SIGKILL its node
in_batch() {
	[ "$(sql "SELECT a.state || ' ' || (a.query LIKE '%audit_sequence%') FROM pg_stat_activity a
		JOIN pg_locks l ON l.pid = a.pid WHERE l.locktype = 'advisory' AND l.objid = 7310016
		AND l.granted AND l.database = (SELECT oid FROM pg_database WHERE datname = current_database())")" \
		= "active true" ]
}
if wait_for 20 in_batch; then
	kill -KILL "$lead_pid"
	wait "$lead_pid" 2>/dev/null
	killed=1
else
	killed=0
fi
check "the sequencer node was SIGKILLed while its connection ran a batch" [ "$killed" = 1 ]
took_over() { [ "$(metric "$other_port" ra_audit_sequencer_leader)" = 1 ]; }
check "the other node took over as sequencer within seconds" wait_for 20 took_over
sql "DELETE FROM test_slow" >/dev/null
wait "$pgb_pid"
pgb_rc=$?
pgb_pid=
grep -q 'number of failed transactions: 0' "$work/pgbench.out" || pgb_rc=1
cp "$work/pgbench.out" "$work/err"
check "20 writers committed their transactions (pgbench: no failures)" [ "$pgb_rc" = 0 ]
: >"$work/err"

# ---- every record chained exactly once -------------------------------------------------------
drained() {
	[ "$(sql "SELECT count(*) FROM audit_record r WHERE NOT EXISTS (SELECT 1 FROM audit_chain c WHERE c.rec_id = r.id)")" = 0 ]
}
check "the new sequencer chained every pending record (none left)" wait_for 60 drained
n=$(sql "SELECT count(*) FROM audit_record WHERE action = 'test.append'")
check "the writers appended records while the sequencer was killed ($n)" [ "$n" -ge 200 ]
check "every record chained exactly once" \
	[ "$(sql "SELECT count(*) FROM audit_record r WHERE (SELECT count(*) FROM audit_chain c WHERE c.rec_id = r.id) <> 1")" = 0 ]
check "seq has no gap: 1..n for n records" \
	[ "$(sql "SELECT count(*) || ' ' || min(seq) || ' ' || max(seq) || ' ' || (SELECT count(*) FROM audit_record) FROM audit_chain")" \
		= "$n 1 $n $n" ]
"$RA" audit verify >"$work/out" 2>"$work/err"
vrc=$?
cp "$work/out" "$work/err"
check "ra audit verify: the chain is whole, nothing pending" \
	eval '[ "$vrc" = 0 ] && grep -q "audit log OK: $n records, head seq $n hash [0-9a-f]\{64\}; 0 pending" "$work/out"'
: >"$work/err"
took_part() { [ "$(metric "$other_port" ra_audit_chained_records_total)" -gt 0 ]; }
check "the surviving node chained records itself (ra_audit_chained_records_total > 0)" took_part
no_pending() { [ "$(metric "$other_port" ra_audit_pending_records)" = 0 ] && [ "$(metric "$other_port" ra_audit_chain_head_seq)" = "$n" ]; }
check "its /metrics: 0 pending, head seq n" wait_for 10 no_pending
check "its log says it became the sequencer" grep -q 'event=audit.sequencer_leader' "$other_log"
: "$lead_port"

e2e_end
