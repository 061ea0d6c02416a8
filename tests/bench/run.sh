#!/bin/sh
# `make bench`: starts a throwaway PostgreSQL, SoftHSM2 token, local CA and the test peers,
# runs `ra serve` (release build) and measures four scenarios (issue #8), each against a
# limit measured in the same run on the same machine:
#   1 intake       signed webhooks at 1/16/64 keep-alive connections   vs pgbench one-row INSERT
#   2 issuance     cert_issue jobs end to end                          vs slowest stage alone
#   3 revocation   revoke -> serial on GET /v1/ca/crl, 10k / 100k revoked
#   4 flow         intake at a steady rate while issuance runs         vs the same rate alone
#   5 keys         keygen+wrap and CSR from a blob at 0 and after N stored keys (wrapped
#                  storage, issue #15), token storage beside       vs the rate at 0
# Results: build/bench.json and docs/benchmarks.md (tests/bench/report.py).  Every scenario
# checks its counts (each order sent is in the database once, each certificate issued once);
# a failed operation or a count that does not add up makes the run exit 1.
#
# Sizes (environment; with the defaults each scenario takes minutes on 2 cores, scenario 2 about six):
#   BENCH_N1=400 (orders at 1 connection)  BENCH_N=2000 (orders at 16 and 64)
#   BENCH_CERTS=400 (scenario 2, per batch: long enough that a fast machine measures more than its ramp; scenario 3 revokes 2 x K3 of them)  BENCH_STAGES=40 (stage loop)  BENCH_REVOKE_K=75 (per level)
#   BENCH_S2_ROUNDS=3 (scenario 2: rounds of each kind of batch, each against its own limit; the median counts)
#   BENCH_PRELOAD="10000 100000" (revoked entries)  BENCH_CERTS4=100 (scenario 4)
#   BENCH_KEYS_N=100000 (keys stored in the n state, wrapped storage)
#   BENCH_KEYS_TOKEN_N=500 (the same under token storage: SoftHSM2 slows with every token key)
#   BENCH_KEYS_ROUNDS=40 rounds of BENCH_KEYS_K=25 operations per phase and state, alternating
#   BENCH_KEYS_TOKEN_K=5 BENCH_KEYS_TOKEN_ROUNDS=10 (token storage: each operation takes ~0.1 s there)
#   BENCH_KEYS_THREADS=2 (preload and parallel keygen threads, and sessions)
#   BENCH_KEYS_STORAGES="wrapped token" (which storages scenario 5 measures)
#   BENCH_KEYS_DIR=DIR keeps scenario 5's n states between runs and reuses them (same N)
#   BENCH_KEEP=1 keeps the temp dir; BENCH_ONLY="1 2" runs only those scenarios.
#   BENCH_S1_CONNS="1 16 64" (scenario 1's connection counts; e.g. "64" for a quick A/B run)
#   BENCH_PERF=1 records a system-wide profile of each held issuance batch (perf, Debian's
#                linux-perf; results/s2h.perf and s2w.perf, kept with BENCH_KEEP=1)
#   BENCH_PGSS=1 loads pg_stat_statements (planning counted too) and writes the statements that
#                took the server's time after each scenario-1 load (results/s1_pgss_cC.txt) and
#                each issuance batch (results/s2*_pgss.txt), kept with BENCH_KEEP=1
set -u
cd "$(dirname "$0")/../.."
REPO=$PWD
N1=${BENCH_N1:-400}
N=${BENCH_N:-2000}
CERTS=${BENCH_CERTS:-400}
S2_ROUNDS=${BENCH_S2_ROUNDS:-3}
STAGES=${BENCH_STAGES:-40}
K3=${BENCH_REVOKE_K:-75}
PRELOAD=${BENCH_PRELOAD:-10000 100000}
CERTS4=${BENCH_CERTS4:-100}
ONLY=${BENCH_ONLY:-1 2 3 4 5}
S1_CONNS=${BENCH_S1_CONNS:-1 16 64}
KEYS_N=${BENCH_KEYS_N:-100000}
KEYS_TOKEN_N=${BENCH_KEYS_TOKEN_N:-500}
KEYS_K=${BENCH_KEYS_K:-25}
KEYS_R=${BENCH_KEYS_ROUNDS:-40}
KEYS_T=${BENCH_KEYS_THREADS:-2}
KEYS_TOKEN_K=${BENCH_KEYS_TOKEN_K:-5}
KEYS_TOKEN_R=${BENCH_KEYS_TOKEN_ROUNDS:-10}
KEYS_STORAGES=${BENCH_KEYS_STORAGES:-wrapped token}
SECRET=bench-woo-aa7264fd368f0c13010afb0bbf02df33ec09106c3920aae0fccd4c6014f463f3
COMPANY=trustra
API_KEY=bench-api-key
PIN=1234
BB=build/bench

tests/bench/build.sh || exit 1
root=$(mktemp -d "${TMPDIR:-/tmp}/ra-bench-XXXXXX")
chmod 755 "$root"
res=$root/results
mkdir -p "$res" "$root/ca" "$root/mail"
RA_PID=
. tests/lib/peers.sh

cleanup() {
	[ -n "$RA_PID" ] && kill "$RA_PID" 2>/dev/null && wait "$RA_PID" 2>/dev/null
	peer_stop_all "$root/peers"
	tests/lib/pg.sh stop "$root/pg" >/dev/null 2>&1
	[ -n "${KEYS_PG:-}" ] && tests/lib/pg.sh stop "$KEYS_PG" >/dev/null 2>&1
	if [ "${BENCH_KEEP:-0}" = 1 ]; then echo "bench: kept $root" >&2; else rm -rf "$root"; fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM

say() { printf '%s\n' "$*" >&2; }
failed_scenarios=""
# fail SCENARIO MESSAGE: records a failure (the run will exit 1) and says why
fail() {
	say "bench: FAILED scenario $1: $2"
	printf '%s\t%s\n' "$1" "$2" >>"$res/failures.tsv"
	failed_scenarios="$failed_scenarios $1"
	return 1
}
wants() { case " $ONLY " in *" $1 "*) return 0 ;; esac; return 1; }
# jq-free JSON field read: jget FILE KEY
jget() { python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))[sys.argv[2]])' "$1" "$2"; }

# --- components ------------------------------------------------------------------------
DB=$(tests/lib/pg.sh start "$root/pg") || { say "bench: cannot start PostgreSQL"; exit 1; }
PGH=$root/pg PGP=$(cat "$root/pg/port")
bindir=$(ls -d /usr/lib/postgresql/*/bin | sort -V | tail -n 1)
psql_() { "$bindir/psql" -qAtX -v ON_ERROR_STOP=1 -h "$PGH" -p "$PGP" -U ra -d ra "$@"; }
# synchronous_commit = on is PostgreSQL's default; set it explicitly so the run states it
psql_ -c "ALTER SYSTEM SET synchronous_commit = on" -c "SELECT pg_reload_conf()" >/dev/null
# BENCH_PGSS=1: pg_stat_statements (PostgreSQL's contrib, part of the server package), and
# after each scenario-1 load the statements that took the server's time (results/s1_pgss_cC.txt)
if [ "${BENCH_PGSS:-0}" = 1 ]; then
	psql_ -c "ALTER SYSTEM SET shared_preload_libraries = 'pg_stat_statements'" >/dev/null
	tests/lib/pg.sh stop "$root/pg" && tests/lib/pg.sh restart "$root/pg" >/dev/null || { say "bench: PostgreSQL restart failed"; exit 1; }
	# planning counted apart from execution (a setting of the library: once it is loaded)
	psql_ -c "CREATE EXTENSION pg_stat_statements" -c "ALTER SYSTEM SET pg_stat_statements.track_planning = on" \
		-c "SELECT pg_reload_conf()" >/dev/null || { say "bench: pg_stat_statements setup failed"; exit 1; }
fi
pgss_reset() { [ "${BENCH_PGSS:-0}" = 1 ] && psql_ -c "SELECT pg_stat_statements_reset()" >/dev/null; true; }
pgss_dump() {
	[ "${BENCH_PGSS:-0}" = 1 ] || return 0
	# plan_ms: planning, counted apart from execution (track_planning); a statement planned once
	# per session shows it only on its first runs
	psql_ -F ' | ' -c "SELECT 'calls | exec_ms | exec_per_call | plan_ms | plans | rows | shared_blks_hit | query'" \
		-c "SELECT calls, round(total_exec_time::numeric, 1) AS ms, round((total_exec_time / nullif(calls, 0))::numeric, 3) AS per_call,
		round(total_plan_time::numeric, 1), plans, rows, shared_blks_hit, left(regexp_replace(query, '\s+', ' ', 'g'), 160)
		FROM pg_stat_statements ORDER BY total_exec_time + total_plan_time DESC LIMIT 25" >"$1"
}
# the machine's CPU counters (user nice system idle iowait irq softirq steal), first line of
# /proc/stat: at the end the report says which share of the run's CPU time the hypervisor gave
# to other guests (steal), the one load no load average inside this machine shows
python3 -c 'import json,sys; print(json.dumps(dict(zip(("postgres", "openssl", "softhsm", "loadavg_start", "cpu_start"), sys.argv[1:]))))' \
	"$("$bindir/postgres" --version)" "$(openssl version)" "$(softhsm2-util --version)" "$(cut -d' ' -f1 /proc/loadavg)" \
	"$(head -n 1 /proc/stat)" >"$res/meta.json"
SOFTHSM2_CONF=$(tests/lib/token.sh "$root/hsm" ra-bench 12345678 "$PIN") || exit 1
export SOFTHSM2_CONF
peer_start ident "$root/peers" --company-id "$COMPANY" --api-key "$API_KEY" || exit 1
peer_start mail "$root/peers" --dir "$root/mail" || exit 1
peer_start sms "$root/peers" --token bench-sms || exit 1
PORT=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
BASE=http://127.0.0.1:$PORT

export RA_DATABASE_URL="$DB" RA_LISTEN="127.0.0.1:$PORT" RA_SHOP_WOOCOMMERCE_SECRET=$SECRET \
	RA_PRODUCTS='{"QES-5Y": {"class": "qualified", "validity_years": 5, "contract_months": 12}}' \
	RA_DEFAULT_COUNTRY=AT RA_IDENT_BASE_URL="http://127.0.0.1:$IDENT_PORT" RA_IDENT_COMPANY_ID=$COMPANY \
	RA_IDENT_API_KEY=$API_KEY RA_SMTP_URL="smtp://127.0.0.1:$MAIL_PORT" RA_SMTP_TLS=none RA_SMTP_FROM=ra@bench.example \
	RA_SMS_URL="http://127.0.0.1:$SMS_PORT/messages" RA_SMS_TOKEN=bench-sms RA_CA_DIR="$root/ca" \
	RA_PKCS11_TOKEN=ra-bench RA_PKCS11_PIN=$PIN RA_CA_PDS_URL=https://ra.example/pds RA_CA_PDS_LANG=en \
	RA_CA_CRL_URL="$BASE/v1/ca/crl" RA_EVIDENCE_KEY="$(openssl rand -hex 32)" RA_IDENT_CALLBACK_SECRET=bench-callback-0031acabcc1df687b84fedd7466ccfd048b34c7bf6a9c06df340514e7e9f6d08
build/ra migrate >"$root/migrate.log" 2>&1 || { say "bench: ra migrate failed"; cat "$root/migrate.log" >&2; exit 1; }
# the schema again in a database of its own for the order-SQL pgbench (its orders and jobs must
# not meet the RA's counts and job runner)
psql_ -c "CREATE DATABASE ra_sql" >/dev/null
SQLDB=$(python3 -c 'import re, sys; print(re.sub(r"^(postgres(?:ql)?://[^/?]*)/[^?]*", r"\g<1>/ra_sql", sys.argv[1]))' "$DB")
RA_DATABASE_URL=$SQLDB build/ra migrate >>"$root/migrate.log" 2>&1 || { say "bench: ra migrate (ra_sql) failed"; exit 1; }

# start_ra [LOGLEVEL]: ra serve in the background, waits for /healthz
start_ra() {
	RA_LOG_LEVEL=${1:-info} build/ra serve >>"$root/ra.log" 2>&1 &
	RA_PID=$!
	for _ in $(seq 1 200); do
		curl -sf "$BASE/healthz" >/dev/null 2>&1 && return 0
		kill -0 "$RA_PID" 2>/dev/null || break
		sleep 0.05
	done
	say "bench: ra serve did not start; its log:"; tail -n 30 "$root/ra.log" >&2
	exit 1
}
stop_ra() {
	kill "$RA_PID" 2>/dev/null
	wait "$RA_PID" 2>/dev/null
	RA_PID=
}
# cpu_snap OUT: CPU seconds so far of ra serve, PostgreSQL and each peer (tests/bench/cpu.py)
cpu_snap() { tests/bench/cpu.py snap "$1" --ra "$RA_PID" --pg "$(head -n 1 "$root/pg/data/postmaster.pid")" --peers "$root/peers"; }
peak_rss_reset() { echo 5 >"/proc/$RA_PID/clear_refs" 2>/dev/null || true; }
peak_rss_kb() { awk '/^VmHWM:/ {print $2}' "/proc/$RA_PID/status"; }

# drain_jobs SCENARIO: waits until no job is queued or running (the invitation jobs the
# orders caused, TransportPIN deliveries), so the next measurement starts from a quiet
# service; no job may be dead
drain_jobs() {
	for _ in $(seq 1 1200); do
		[ "$(psql_ -c "SELECT count(*) FROM jobs WHERE state IN ('queued', 'running')")" = 0 ] && break
		sleep 0.25
	done
	busy=$(psql_ -c "SELECT count(*) FROM jobs WHERE state IN ('queued', 'running')")
	dead=$(psql_ -c "SELECT count(*) FROM jobs WHERE state = 'dead'")
	[ "$busy" = 0 ] || fail "$1" "$busy jobs still queued or running after 300 s"
	[ "$dead" = 0 ] || fail "$1" "$dead dead jobs: $(psql_ -c "SELECT kind || ': ' || last_error FROM jobs WHERE state = 'dead' LIMIT 1")"
}

next_id=1000000
# intake CONNS N NAME [RATE]: one load run; checks that every order sent is in the database once
intake() {
	_first=$next_id
	next_id=$((next_id + $2))
	$BB/bench_intake --url "$BASE" --secret $SECRET --fixture tests/fixtures/woocommerce-order-paid.json \
		--conns "$1" --n "$2" --first-id "$_first" --rate "${4:-0}" >"$res/$3.json" ||
		fail "$3" "deliveries failed ($(cat "$res/$3.json" 2>/dev/null))"
	_got=$(psql_ -c "SELECT count(*) || ' ' || count(DISTINCT shop_order_id) FROM orders
		WHERE shop_order_id BETWEEN $_first AND $((_first + $2 - 1))")
	[ "$_got" = "$2 $2" ] || fail "$3" "sent $2 orders, the database holds (rows, distinct) $_got"
	_all=$(psql_ -c "SELECT count(*) FROM orders")
	[ "$_all" = "$((next_id - 1000000))" ] || fail "$3" "orders in total $_all, sent $((next_id - 1000000))"
	_items=$(psql_ -c "SELECT count(*) FROM cert_requests")
	[ "$_items" = "$_all" ] || fail "$3" "$_all orders but $_items certificate requests (one each)"
}

# pgbench_limit CONNS TRANSACTIONS NAME [SCRIPT]: one-row INSERT committed per transaction, or
# SCRIPT (prepared statements): tests/bench/order.sql is the order transaction's own statements
# (the schema's limit), order_nojob.sql the same without the job insert.  Both in the session
# mode of ra serve's pool (ra.jobs_wake = after_commit, migrations/0016_jobs_wake.sql): the job
# insert does not NOTIFY in the transaction (ra wakes the runners after the commit)
psql_ -c "CREATE TABLE bench_rows (id bigserial PRIMARY KEY, v text NOT NULL, at timestamptz NOT NULL DEFAULT now())"
printf 'INSERT INTO bench_rows (v) VALUES (:client_id);\n' >"$root/insert.sql"
cp tests/bench/order.sql "$root/order.sql"
grep -v '^INSERT INTO jobs' tests/bench/order.sql >"$root/order_nojob.sql"
pgbench_limit() {
	_t=$(($2 / $1)); [ "$_t" -ge 1 ] || _t=1
	_j=$1; [ "$_j" -gt 2 ] && _j=2
	_f=${4:-insert.sql} _m=simple _d=ra
	[ "$_f" = insert.sql ] || { _m=prepared; _d=ra_sql; }
	PGOPTIONS="-c ra.jobs_wake=after_commit" \
		"$bindir/pgbench" -n -h "$PGH" -p "$PGP" -U ra -c "$1" -j "$_j" -t "$_t" -M "$_m" -f "$root/$_f" -r "$_d" \
		>"$root/$3.out" 2>&1 || { cat "$root/$3.out" >&2; fail "$3" "pgbench failed"; return 1; }
	python3 - "$root/$3.out" "$1" >"$res/$3.json" <<'PY'
import json, re, sys
t = open(sys.argv[1]).read()
tps = float(re.search(r"tps = ([0-9.]+) \(without initial", t).group(1))
lat = float(re.search(r"latency average = ([0-9.]+) ms", t).group(1))
# -r: each statement's mean latency (ms) and its first words
st = [[float(m.group(1)), " ".join(m.group(2).split()[:3])]
      for m in re.finditer(r"^\s+([0-9.]+)\s+[0-9]+\s+(\S.*)$", t.split("statement latencies")[-1], re.M)
      if not m.group(2).startswith("\\set")]
print(json.dumps({"clients": int(sys.argv[2]), "tps": tps, "latency_avg_ms": lat, "statements": st}))
PY
}
# seq_lag NAME MARK: once nothing is pending, the audit sequencer's lag (append -> chained, the
# batch's start) over the records with id > MARK: p50/p99 in ms
seq_lag() {
	for _ in $(seq 1 300); do
		[ "$(psql_ -c "SELECT pending FROM audit_pending()")" = 0 ] && break
		sleep 0.1
	done
	psql_ -c "SELECT json_build_object('records', count(*),
		'p50_ms', round((1000 * percentile_cont(0.5) WITHIN GROUP (ORDER BY extract(epoch FROM c.chained_at - r.at)))::numeric, 1),
		'p99_ms', round((1000 * percentile_cont(0.99) WITHIN GROUP (ORDER BY extract(epoch FROM c.chained_at - r.at)))::numeric, 1),
		'pending', (SELECT pending FROM audit_pending()))
		FROM audit_record r JOIN audit_chain c ON c.rec_id = r.id WHERE r.id > $2" >"$res/$1.json" ||
		fail "$1" "cannot read the sequencer lag"
}

# issue_certs N PREFIX [limit]: N certificate rows with an identification on record (R7), each
# for a user the intake made who has no certificate yet, plus their cert_issue jobs, one
# transaction: what the identification flow hands to issuance; with "limit", the stages alone
# are measured first, after the customers are made (batch_limit)
issue_certs() {
	_free=$(psql_ -c "SELECT count(*) FROM users u WHERE NOT EXISTS
		(SELECT 1 FROM certificates c WHERE c.user_id = u.public_id)")
	if [ "$_free" -lt "$1" ]; then
		intake 16 "$1" "$2_prep_users" # unmeasured: customers for the certificates
		drain_jobs "$2_prep_users"
	fi
	[ "${3:-}" = limit ] && batch_limit "$2"
	cpu_snap "$root/cpu_$2_0.json" # the issuance's CPU from here (issued_cpu)
	pgss_reset
	psql_ <<SQL >/dev/null
BEGIN;
INSERT INTO certificates (id, class, subject, validity_years, ident_id, user_id)
SELECT '$2-' || lpad(u.g::text, 6, '0'), 'qualified',
       jsonb_build_object('country', 'AT', 'given_name', 'Anna', 'surname', 'Gruber',
                          'serial_number', 'PNOAT-' || u.g, 'common_name', 'Anna Gruber'),
       5, 'TST-BENCH', u.public_id
FROM (SELECT public_id, row_number() OVER (ORDER BY id) AS g FROM users u
      WHERE NOT EXISTS (SELECT 1 FROM certificates c WHERE c.user_id = u.public_id)
      ORDER BY id LIMIT $1) u;
INSERT INTO jobs (kind, payload, idempotency_key)
SELECT 'cert_issue', jsonb_build_object('certificate_id', '$2-' || lpad(g::text, 6, '0')),
       'cert_issue:$2-' || lpad(g::text, 6, '0') FROM generate_series(1, $1) g;
COMMIT;
SQL
}
# issued_cpu PREFIX: CPU seconds by process from issue_certs until now (results/PREFIX_cpu.json)
# and, with BENCH_PGSS=1, the statements that took PostgreSQL's time (results/PREFIX_pgss.txt)
issued_cpu() {
	cpu_snap "$root/cpu_$1_1.json"
	tests/bench/cpu.py diff "$root/cpu_$1_0.json" "$root/cpu_$1_1.json" "$res/$1_cpu.json"
	pgss_dump "$res/$1_pgss.txt"
}
# wait_issued N PREFIX SCENARIO: until every certificate is issued (or a job died); checks
wait_issued() {
	# one session checks every 0.1 s (up to 10 minutes), committing between checks: a psql per
	# check would start a backend each time, on the cores whose CPU the batch measures.  Each
	# check reads only the rows still pending or failed (the index on state and id), not every
	# certificate made so far: the check is not part of what the batch's CPU is about
	psql_ -c "DO \$\$
DECLARE n bigint; f bigint; d bigint;
BEGIN
	FOR i IN 1..6000 LOOP
		SELECT count(*) FILTER (WHERE state <> 'failed'), count(*) FILTER (WHERE state = 'failed') INTO n, f
			FROM certificates WHERE state IN ('requested', 'key_generated', 'failed') AND id LIKE '$2-%';
		SELECT count(*) INTO d FROM jobs WHERE kind = 'cert_issue' AND state = 'dead';
		EXIT WHEN n = 0 OR f > 0 OR d > 0;
		COMMIT;
		PERFORM pg_sleep(0.1);
	END LOOP;
END \$\$" || fail "$3" "cannot wait for the batch"
	_s=$(psql_ -c "SELECT count(*) FILTER (WHERE state = 'issued') || ' ' ||
		count(*) FILTER (WHERE state = 'failed') FROM certificates WHERE id LIKE '$2-%'")
	_d=$(psql_ -c "SELECT count(*) FROM jobs WHERE kind = 'cert_issue' AND state = 'dead'")
	[ "$_s" = "$1 0" ] || { fail "$3" "issued/failed $_s of $1; dead cert_issue jobs: $_d"; return 1; }
	_u=$(psql_ -c "SELECT count(DISTINCT serial) || ' ' || count(DISTINCT key_fingerprint) FROM certificates
		WHERE id LIKE '$2-%'")
	[ "$_u" = "$1 $1" ] || fail "$3" "distinct serials/key fingerprints $_u for $1 certificates (R2)"
	_pins=$(psql_ -c "SELECT count(*) FROM jobs WHERE kind = 'transport_pin' AND payload->>'certificate_id' LIKE '$2-%'")
	[ "$_pins" = "$1" ] || fail "$3" "$_pins transport_pin jobs enqueued for $1 certificates"
	for _ in $(seq 1 200); do
		[ "$(psql_ -c "SELECT count(*) FROM jobs WHERE kind = 'cert_issue' AND state <> 'done'")" = 0 ] && break
		sleep 0.1
	done
}

# s2_analyse PREFIX RESULT: per certificate the job's times, the key-store record's (wrapped
# storage: cert.key_generated, written after keygen, before the CA is asked) and the store's,
# with the service's log since $log_from: tests/bench/issuance.py
s2_analyse() {
	tail -n +"$((log_from + 1))" "$root/ra.log" >"$root/$1.log"
	psql_ -F ' ' -c "SELECT j.id, c.id, extract(epoch FROM j.created_at), extract(epoch FROM c.issued_at),
		extract(epoch FROM j.done_at), coalesce((SELECT extract(epoch FROM min(a.at)) FROM audit_record a
		WHERE a.object_id = c.id AND a.action = 'cert.key_generated'), 0)
		FROM jobs j JOIN certificates c ON c.id = j.payload->>'certificate_id'
		WHERE j.kind = 'cert_issue' AND c.id LIKE '$1-%'" >"$root/$1.rows"
	python3 tests/bench/issuance.py "$root/$1.rows" "$root/$1.log" >"$res/$2.json" ||
		fail "$1" "cannot analyse the issuance run"
}

# batch_limit PREFIX: the stages alone once more, right before batch PREFIX (results/PREFIX_limit.json,
# without the TransportPIN hash: a fraction of a second): the batch's ratio is taken against the limit
# measured beside it, so that load from other guests on this shared host, which changes over
# seconds, falls on both alike
batch_limit() {
	SOFTHSM2_CONF=$conf2 $BB/bench_stages --n "$STAGES" --ca-dir "$root/ca-stages" --token ra-stages \
		--pin "$PIN" --db "$DB" --tpin 0 >"$res/$1_limit.json" || fail "$1" "stage loop failed"
}

# held_batch PREFIX: an issuance batch with its transport_pin jobs held until every certificate is
# issued, analysed as PREFIX_issuance; then they are released, run and checked.  The hold is a
# trigger of the bench only (no interface holds one kind of job): it dates those jobs an hour
# ahead.
held_batch() {
	psql_ <<'SQL' >/dev/null
CREATE FUNCTION bench_hold_tpin() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
	IF NEW.kind = 'transport_pin' THEN
		NEW.run_at := now() + interval '1 hour';
	END IF;
	RETURN NEW;
END $$;
CREATE TRIGGER bench_hold_tpin BEFORE INSERT ON jobs FOR EACH ROW EXECUTE FUNCTION bench_hold_tpin();
SQL
	log_from=$(wc -l <"$root/ra.log")
	issue_certs "$CERTS" "$1" limit # its customers first (unmeasured), its limit, then the rows and jobs
	[ -n "${BENCH_PERF:-}" ] && { perf record -a -g -F 997 -o "$res/$1.perf" >/dev/null 2>&1 & _perf=$!; }
	wait_issued "$CERTS" "$1" "$1"
	[ -n "${BENCH_PERF:-}" ] && { kill -INT $_perf; wait $_perf; }
	issued_cpu "$1"
	s2_analyse "$1" "$1_issuance"
	psql_ -c "DROP TRIGGER bench_hold_tpin ON jobs" -c "DROP FUNCTION bench_hold_tpin()" \
		-c "UPDATE jobs SET run_at = now() WHERE kind = 'transport_pin' AND state = 'queued'" >/dev/null
	drain_jobs "$1"
}

# alongside_round PREFIX: one more batch with its transport_pin jobs running alongside, as the
# first one (s2) but without its one-off checks and figures; analysed as PREFIX_issuance
alongside_round() {
	log_from=$(wc -l <"$root/ra.log")
	issue_certs "$CERTS" "$1" limit
	wait_issued "$CERTS" "$1" "$1"
	issued_cpu "$1"
	s2_analyse "$1" "$1_issuance"
	drain_jobs "$1"
}

# ======================================================================================
start_ra info
say "bench: ra serve at $BASE (pid $RA_PID), database $DB"

# --- 1. intake -------------------------------------------------------------------------
if wants 1; then
	for c in $S1_CONNS; do
		n=$N; [ "$c" = 1 ] && n=$N1
		peak_rss_reset
		say "bench: 1 intake, $n orders at $c connections"
		mark=$(psql_ -c "SELECT coalesce(max(id), 0) FROM audit_record")
		cpu_snap "$root/cpu0.json"
		pgss_reset
		intake "$c" "$n" "s1_intake_c$c"
		pgss_dump "$res/s1_pgss_c$c.txt"
		cpu_snap "$root/cpu1.json"
		echo "{\"peak_rss_kb\": $(peak_rss_kb)}" >"$res/s1_rss_c$c.json"
		seq_lag "s1_seqlag_c$c" "$mark"
		drain_jobs "s1_intake_c$c"
		cpu_snap "$root/cpu2.json"
		pgss_dump "$res/s1_pgssdrain_c$c.txt"
		# CPU seconds by process during the load (and until its invitation jobs drained)
		tests/bench/cpu.py diff "$root/cpu0.json" "$root/cpu1.json" "$res/s1_cpu_c$c.json"
		tests/bench/cpu.py diff "$root/cpu0.json" "$root/cpu2.json" "$res/s1_cpudrain_c$c.json"
		say "bench: 1 limit, pgbench one-row INSERT at $c clients"
		pgbench_limit "$c" "$n" "s1_pgbench_c$c"
		say "bench: 1 limit, pgbench with the order transaction's statements at $c clients (with and without the job)"
		pgbench_limit "$c" "$n" "s1_pgorder_c$c" order.sql
		pgbench_limit "$c" "$n" "s1_pgorder_nojob_c$c" order_nojob.sql
	done
fi

# --- 2. issuance -----------------------------------------------------------------------
if wants 2 || wants 3 || wants 4; then
	stop_ra
	start_ra debug # job.start per job: the claim time of each certificate (tests/bench/issuance.py)
	say "bench: 2 limits: each stage alone, $STAGES times"
	conf2=$(tests/lib/token.sh "$root/hsm-stages" ra-stages 12345678 "$PIN")
	SOFTHSM2_CONF=$conf2 $BB/bench_stages --n "$STAGES" --ca-dir "$root/ca-stages" --token ra-stages \
		--pin "$PIN" --db "$DB" >"$res/s2_stages.json" || fail s2 "stage loop failed"
	# the same stages with the key as a token object (pkcs11.key_storage = token), for comparison
	conf2t=$(tests/lib/token.sh "$root/hsm-stages-t" ra-stages-t 12345678 "$PIN")
	SOFTHSM2_CONF=$conf2t $BB/bench_stages --n "$STAGES" --ca-dir "$root/ca-stages-t" --token ra-stages-t \
		--pin "$PIN" --db "$DB" --storage token >"$res/s2_stages_token.json" || fail s2 "token stage loop failed"
	openssl speed -seconds 2 ecdsap256 2>/dev/null | python3 -c '
import json, re, sys
for l in sys.stdin:
    m = re.match(r"\s*256 bits ecdsa \(nistp256\)\s+\S+\s+\S+\s+([0-9.]+)\s+([0-9.]+)", l)
    if m: print(json.dumps({"sign_per_s": float(m.group(1)), "verify_per_s": float(m.group(2))}))
' >"$res/s2_openssl.json"
	say "bench: 2 issuance, $CERTS certificates"
	log_from=$(wc -l <"$root/ra.log")
	issue_certs "$CERTS" s2 limit
	wait_issued "$CERTS" s2 s2
	issued_cpu s2
	build/ra --print-config >"$root/config.json" 2>/dev/null
	curl -sf "$BASE/metrics" | python3 -c '
import json, re, sys
t = sys.stdin.read()
g = lambda n: int(float(re.search(r"^%s (\S+)$" % n, t, re.M).group(1)))
w = json.load(open(sys.argv[1]))["jobs"]["issue_workers"]
print(json.dumps({"sessions": g("ra_pkcs11_sessions"), "sessions_max_used": g("ra_pkcs11_sessions_max_used"),
                  "issue_workers": w}))
' "$root/config.json" >"$res/s2_sessions.json" || fail s2 "no session figures in /metrics"
	s2_analyse s2 s2_issuance
	# R2: one key per certificate, stored wrapped (pkcs11.key_storage's default) or on the token
	keys=$(psql_ -c "SELECT count(DISTINCT key_fingerprint) FROM certificates WHERE id LIKE 's2-%'
		AND (key_storage = 'token' OR key_blob IS NOT NULL)")
	[ "$keys" = "$CERTS" ] || fail s2 "$keys keys for $CERTS certificates (R2)"
	# (the service's own audit-checkpoint certificate is in the record too: count the s2 ones)
	_rows=$(python3 -c 'import sqlite3,sys; print(sqlite3.connect(sys.argv[1]).execute("SELECT count(*) FROM issued WHERE request_id LIKE ?", ("s2-%",)).fetchone()[0])' "$root/ca/ca.db")
	[ "$_rows" = "$CERTS" ] || fail s2 "the CA's record (ca.db) has $_rows issued rows for $CERTS certificates"
	# the TransportPIN jobs the issued certificates enqueued (scrypt on the thread pool, SMS):
	# let them finish so scenario 3 measures revocation on a quiet queue; their throughput is a figure
	drain_jobs s2
	psql_ -c "SELECT json_build_object('jobs', count(*), 'done', count(*) FILTER (WHERE state = 'done'),
		'span_s', extract(epoch FROM max(done_at) - min(created_at)))
		FROM jobs WHERE kind = 'transport_pin' AND payload->>'certificate_id' LIKE 's2-%'" >"$res/s2_tpin.json"
	for r in $(seq 2 "$S2_ROUNDS"); do
		say "bench: 2 issuance, $CERTS certificates, round $r of $S2_ROUNDS"
		alongside_round "s2r$r"
	done
	# the same again with the transport_pin jobs held until issuance is done: what the issuance
	# jobs reach without the TransportPIN hashes (scrypt) on the same cores; then once more with
	# twice the issue lane's slots and token sessions, to see whether the lane is the bound
	say "bench: 2 issuance, $CERTS certificates, transport_pin jobs held"
	held_batch s2h
	for r in $(seq 2 "$S2_ROUNDS"); do
		say "bench: 2 issuance, $CERTS certificates, transport_pin jobs held, round $r of $S2_ROUNDS"
		held_batch "s2hr$r"
	done
	w2=$(($(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["jobs"]["issue_workers"])' "$root/config.json") * 2))
	stop_ra
	export RA_JOBS_ISSUE_WORKERS=$w2 RA_PKCS11_SESSIONS=$w2
	start_ra debug
	say "bench: 2 issuance, $CERTS certificates, transport_pin jobs held, $w2 issue slots and token sessions"
	held_batch s2w
	for r in $(seq 2 "$S2_ROUNDS"); do
		say "bench: 2 issuance, $CERTS certificates, held, $w2 issue slots and sessions, round $r of $S2_ROUNDS"
		held_batch "s2wr$r"
	done
	curl -sf "$BASE/metrics" | python3 -c '
import json, re, sys
t = sys.stdin.read()
g = lambda n: int(float(re.search(r"^%s (\S+)$" % n, t, re.M).group(1)))
print(json.dumps({"sessions": g("ra_pkcs11_sessions"), "sessions_max_used": g("ra_pkcs11_sessions_max_used"),
                  "issue_workers": int(sys.argv[1])}))
' "$w2" >"$res/s2w_sessions.json" || fail s2w "no session figures in /metrics"
	unset RA_JOBS_ISSUE_WORKERS RA_PKCS11_SESSIONS
	stop_ra
	start_ra info
fi

# --- 3. revocation to status -----------------------------------------------------------
if wants 3; then
	token=$(build/ra token create --name bench --role support --no-customer-account) || fail s3 "ra token create failed"
	probe=$(curl -s -X POST -H "Authorization: Bearer $token" -H 'Content-Type: application/json' \
		-d '{"reason": "keyCompromise"}' "$BASE/v1/admin/certs/no-such-cert/revoke")
	case $probe in *"no such endpoint"*) via=sql ;; *) via=api ;; esac
	say "bench: 3 revocation through: $via"
	have=0
	for total in $PRELOAD; do
		stop_ra
		add=$((total - have))
		python3 - "$root/ca" "$have" "$add" <<'PY'
# written as rows of the CA's record (ca.db, docs/ca-bridge.md), as that many issuances and
# revocations would have left them; the CA reads them at open
import sys, time
d, have, add = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
now = int(time.time())
import sqlite3
db = sqlite3.connect(d + "/ca.db")
with db:
    for i in range(have, have + add):
        s = "%X" % (0x5EB0C0DE00000000 + i)
        db.execute("INSERT INTO issued (serial, not_after, request_id, der, issued_at) VALUES (?, ?, ?, NULL, ?)",
                   (s, now + 86400 * 365, "preload-%d" % i, now))
        db.execute("INSERT INTO revoked (serial, reason, at, recorded_at) VALUES (?, ?, ?, ?)",
                   (s, (0, 1, 3, 4, 5, 9)[i % 6], now - 86400 + i % 86400, now))
db.close()
PY
		have=$total
		start_ra info
		curl -sf "$BASE/v1/ca/crl" -o /dev/null || fail "s3_$total" "GET /v1/ca/crl failed"
		say "bench: 3 revocation with $total revoked, $K3 revocations"
		$BB/bench_revoke --db "$DB" --url "$BASE" --k "$K3" --via "$via" --token "$token" \
			>"$res/s3_revoke_$total.json" || fail "s3_$total" "a revocation failed or did not reach the CRL"
	done
	drain_jobs s3
	want=$((have + $(echo "$PRELOAD" | wc -w) * K3))
	got=$(curl -sf "$BASE/v1/ca/crl" | openssl crl -inform DER -noout -text | grep -c 'Serial Number:')
	[ "$got" = "$want" ] || fail s3 "the CRL lists $got serials, expected $want"
	cr=$(psql_ -c "SELECT count(*) FROM certificates WHERE ca_revoked_at IS NOT NULL")
	[ "$cr" = "$(($(echo "$PRELOAD" | wc -w) * K3))" ] || fail s3 "$cr certificates confirmed revoked by the CA"
	echo "{\"via\": \"$via\", \"crl_entries\": $got}" >"$res/s3_meta.json"
fi

# --- 4. flow under load ----------------------------------------------------------------
if wants 4; then
	r16=$(jget "$res/s1_intake_c16.json" rate 2>/dev/null || echo 100)
	rate=${BENCH_RATE:-$(python3 -c "print(max(10, int(float('$r16') * 0.5)))")}
	secs=$(python3 -c "import json; print(json.load(open('$res/s2_issuance.json'))['elapsed_s'])" 2>/dev/null || echo 20)
	n4=$(python3 -c "print(min(6000, max(200, int($rate * float('$secs') * $CERTS4 / $CERTS))))")
	say "bench: 4 baseline: $n4 orders at $rate/s, 16 connections, no issuance"
	intake 16 "$n4" s4_alone "$rate"
	drain_jobs s4_alone
	say "bench: 4 the same while $CERTS4 certificates are issued"
	issue_certs "$CERTS4" s4
	t4=$(date +%s.%N)
	intake 16 "$n4" s4_loaded "$rate"
	wait_issued "$CERTS4" s4 s4
	t5=$(date +%s.%N)
	psql_ -c "SELECT extract(epoch FROM max(done_at) - min(created_at)) FROM jobs
		WHERE kind = 'cert_issue' AND payload->>'certificate_id' LIKE 's4-%'" |
		python3 -c "import json,sys; s=float(sys.stdin.read()); print(json.dumps({'certs': $CERTS4, 'elapsed_s': s, 'rate': $CERTS4 / s, 'wall_s': $t5 - $t4}))" \
			>"$res/s4_issuance.json"
	drain_jobs s4_loaded
fi

# --- 5. keys at scale ------------------------------------------------------------------
# Per storage two states, each a token (DIR/softhsm2.conf), a CA directory and a database of
# its own with the product's schema: "0" (fresh every run) and "n" (N keys stored through the
# product's path).  BENCH_KEYS_DIR keeps the n states (and a PostgreSQL cluster of their own)
# between runs, so a run with the same N reuses them instead of storing N keys again.
if wants 5; then
	stop_ra
	kdir=${BENCH_KEYS_DIR:-$root/keys}
	mkdir -p "$kdir"
	kdir=$(cd "$kdir" && pwd)
	if [ -n "${BENCH_KEYS_DIR:-}" ]; then
		KDB=$(tests/lib/pg.sh start "$kdir/pg") || { fail s5 "cannot start PostgreSQL in $kdir/pg"; KDB=; }
		KEYS_PG=$kdir/pg
	else
		KDB=$DB
	fi
	kdb() { python3 -c 'import re, sys; print(re.sub(r"^(postgres(?:ql)?://[^/?]*)/[^?]*", r"\g<1>/" + sys.argv[2], sys.argv[1]))' "$KDB" "$1"; }
	# kfresh STATE: an empty token, CA directory and migrated database for STATE (e.g. wrapped-0)
	kfresh() {
		_db=keys_$(echo "$1" | tr - _)
		rm -rf "${kdir:?}/$1"
		tests/lib/token.sh "$kdir/$1" ra-keys 12345678 "$PIN" >/dev/null &&
			"$bindir/psql" -qAtX -v ON_ERROR_STOP=1 -d "$(kdb postgres)" -c "DROP DATABASE IF EXISTS $_db" \
				-c "CREATE DATABASE $_db" >/dev/null &&
			RA_DATABASE_URL=$(kdb "$_db") build/ra migrate >>"$root/migrate.log" 2>&1
	}
	for st in $KEYS_STORAGES; do
		[ -n "$KDB" ] || break
		n5=$KEYS_N k5=$KEYS_K r5=$KEYS_R
		[ "$st" = token ] && n5=$KEYS_TOKEN_N k5=$KEYS_TOKEN_K r5=$KEYS_TOKEN_R
		reuse=
		if [ -n "${BENCH_KEYS_DIR:-}" ] && [ "$(cat "$kdir/$st-n/stored" 2>/dev/null)" = "$n5" ]; then
			reuse=--reuse
		else
			kfresh "$st-n" || { fail "s5_$st" "cannot prepare the n state"; continue; }
		fi
		kfresh "$st-0" || { fail "s5_$st" "cannot prepare the 0 state"; continue; }
		say "bench: 5 keys, $st storage: N=$n5${reuse:+ (reused)}, $r5 rounds of $k5, $KEYS_T threads"
		if $BB/bench_keys --storage "$st" --n "$n5" --k "$k5" --rounds "$r5" --threads "$KEYS_T" \
			--token ra-keys --pin "$PIN" --dir0 "$kdir/$st-0" --db0 "$(kdb "keys_${st}_0")" \
			--dirn "$kdir/$st-n" --dbn "$(kdb "keys_${st}_n")" $reuse >"$res/s5_keys_$st.json"; then
			echo "$n5" >"$kdir/$st-n/stored"
		else
			rm -f "$kdir/$st-n/stored"
			fail "s5_$st" "a key operation failed"
		fi
	done
	[ -n "${KEYS_PG:-}" ] && tests/lib/pg.sh stop "$KEYS_PG" >/dev/null 2>&1
	KEYS_PG=
fi

stop_ra
python3 -c 'import json,sys; m=json.load(open(sys.argv[1])); m["loadavg_end"]=sys.argv[2]; m["cpu_end"]=sys.argv[3]; json.dump(m, open(sys.argv[1], "w"))' \
	"$res/meta.json" "$(cut -d' ' -f1 /proc/loadavg)" "$(head -n 1 /proc/stat)"
# --- report ----------------------------------------------------------------------------
python3 tests/bench/report.py "$res" build/bench.json docs/benchmarks.md \
	"N1=$N1 N=$N CERTS=$CERTS S2_ROUNDS=$S2_ROUNDS STAGES=$STAGES K3=$K3 PRELOAD=$PRELOAD CERTS4=$CERTS4 KEYS_N=$KEYS_N KEYS_TOKEN_N=$KEYS_TOKEN_N KEYS_K=$KEYS_K KEYS_ROUNDS=$KEYS_R KEYS_TOKEN_K=$KEYS_TOKEN_K KEYS_TOKEN_ROUNDS=$KEYS_TOKEN_R KEYS_THREADS=$KEYS_T" ||
	{ say "bench: report failed"; exit 1; }
if [ -n "$failed_scenarios" ]; then
	say "bench: failed:$failed_scenarios (see docs/benchmarks.md)"
	exit 1
fi
say "bench: all scenarios passed their checks; docs/benchmarks.md and build/bench.json written"
