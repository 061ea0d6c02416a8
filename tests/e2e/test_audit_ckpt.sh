#!/usr/bin/env bash
# Signed checkpoints of the audit log (issue #16, docs/audit.md "Checkpoints"): `ra serve`
# with the SoftHSM2 token signs the RFC 9162 tree head every few records with the audit key;
# the key and its certificate, the checkpoints, an inclusion proof (ractl audit proof) and a
# consistency proof are served; tools/audit-proof-verify.py checks them with nothing but the
# published key and refuses them for an altered record; `ra audit verify` checks every
# checkpoint and names one with a wrong signature or a tree head the chain no longer has.
# Prints "ok - ..." / "not ok - ..." per check and "N passed, M failed"; exits 1 if M > 0.
set -u
cd "$(dirname "$0")/../.."
B=${RA_TEST_BIN:-build}
RA=$PWD/$B/ra
RACTL=$PWD/$B/ractl
VERIFY=$PWD/tools/audit-proof-verify.py

. tests/lib/e2e.sh
own_pg= ra_pid=
e2e_stop() {
	if [ -n "$ra_pid" ]; then kill -TERM "$ra_pid" 2>/dev/null; wait "$ra_pid" 2>/dev/null; fi
}
e2e_begin auditckpt

sql() { psql -qAtX -d "$DB" -v ON_ERROR_STOP=1 -c "$1"; }
wait_for() { # wait_for SECONDS COMMAND...: polls every 0.2 s (the machine is loaded)
	_n=$(($1 * 5)); shift
	for _ in $(seq "$_n"); do "$@" && return 0; sleep 0.2; done
	return 1
}
get() { curl -sf "$BASE$1" >"$work/$2" 2>"$work/err"; }
py() { python3 -c "import json, sys; j = json.load(open(sys.argv[1])); $2" "$work/$1"; }
# verify KIND FILE: the verifier script's verdict; its output in $work/out and $work/err
verify() { "$VERIFY" "$1" --key "$work/key.json" "$work/$2" >"$work/out" 2>"$work/err"; }
refused() { ! verify "$@" && grep -q "NOT verified" "$work/err"; }
# Appends n records with the service's own append statement (the flows' outbox writes the
# same; records of real orders would need the whole intake and are not what is tested here).
append() {
	for i in $(seq "$1"); do
		sql "INSERT INTO audit_record (actor, action, object_type, object_id, reason, details)
		     VALUES ('support:alice', 'cert.revoked', 'certificate', 'crt-$2-$i', 'keyCompromise',
		     '{\"serial\": \"$i\", \"note\": \"Grüße\"}')" >/dev/null || die "append"
	done
}
tamper() { # tamper TABLE SQL: as only the owner or a superuser can
	sql "ALTER TABLE $1 DISABLE TRIGGER audit_no_update; $2; ALTER TABLE $1 ENABLE TRIGGER audit_no_update" >/dev/null
}

# ---- PostgreSQL, token, ra serve -----------------------------------------------------------
if [ -n "${RA_TEST_PG_URL:-}" ]; then
	PG=$RA_TEST_PG_URL
else
	PG=$(tests/lib/pg.sh start "$work/pg") || die "cannot start PostgreSQL"
	own_pg=1
fi
dbname="auditckpt_$$_$RANDOM"
psql -qAtX -d "$PG" -c "CREATE DATABASE $dbname" >/dev/null || die "cannot create a database"
DB=$(python3 -c 'import re, sys; print(re.sub(r"^(postgres(?:ql)?://[^/?]*)/[^?]*", r"\g<1>/" + sys.argv[2], sys.argv[1]))' \
	"$PG" "$dbname")
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
BASE=http://127.0.0.1:$port
SOFTHSM2_CONF=$(tests/lib/token.sh "$work/hsm" ra-ckpt 12345678 4711) || die "cannot make the token"
export SOFTHSM2_CONF RA_DATABASE_URL="$DB" RA_LISTEN="127.0.0.1:$port" RA_PKCS11_PIN=4711 RA_PKCS11_TOKEN=ra-ckpt \
	RA_CA_DIR="$work/ca" RA_CA_PDS_URL=https://pki.example.test/pds.pdf RA_CA_CRL_URL="$BASE/v1/ca/crl" \
	RA_AUDIT_CHECKPOINT_RECORDS=5 RA_AUDIT_CHECKPOINT_INTERVAL_S=0 RA_AUDIT_VERIFY_HOURS=0
"$RA" migrate >"$work/migrate.log" 2>&1 || { cat "$work/migrate.log"; die "ra migrate failed"; }
TOKEN=$("$RA" token create --name alice --role support --no-customer-account) || die "support token"
"$RA" serve >"$work/ra.log" 2>&1 &
ra_pid=$!
up() { curl -sf "$BASE/healthz" >/dev/null; }
wait_for 30 up || die "ra serve did not come up"

# ---- checkpoints are made and served -------------------------------------------------------
append 7 a
ckpt_of() { get /v1/audit/checkpoints ckpts.json && py ckpts.json "sys.exit(0 if any(c['tree_size'] >= $1 for c in j['checkpoints']) else 1)"; }
check "a signed checkpoint once 5 records are chained (GET /v1/audit/checkpoints)" wait_for 30 ckpt_of 5
append 6 b
check "... and another after 5 more" wait_for 30 ckpt_of 10
get /v1/audit/checkpoints ckpts.json
read -r M N < <(py ckpts.json "s = sorted(c['tree_size'] for c in j['checkpoints']); print(s[0], s[-1])")
check "checkpoints carry size, tree head, time, key and the signed note" \
	py ckpts.json "c = j['checkpoints'][0]; sys.exit(0 if c['note'] == 'ra-audit-checkpoint-v1\n%d\n%s\n%s\n' % (c['tree_size'], c['root_hash'], c['at']) and len(c['key_sha256']) == 64 and c['signature'] else 1)"
get /v1/audit/key key.json
check "GET /v1/audit/key: the public key and its certificate (issued by the RA's CA, same key)" \
	eval 'py key.json "open(sys.argv[1] + \".crt\", \"w\").write(j[\"certificate\"]); open(sys.argv[1] + \".pub\", \"w\").write(j[\"public_key\"])" &&
	[ "$(openssl x509 -in "$work/key.json.crt" -noout -pubkey)" = "$(cat "$work/key.json.pub")" ] &&
	[ "$(openssl pkey -pubin -in "$work/key.json.pub" -outform DER | sha256sum | cut -c1-64)" = "$(py key.json "print(j[\"key_sha256\"])")" ]'
check "the audit key is on the token (one private key object with its CKA_ID)" \
	eval 'pkcs11-tool --module /usr/lib/softhsm/libsofthsm2.so --token-label ra-ckpt --login --pin 4711 -O 2>/dev/null | grep -q "label: *cab-ra-audit-log"'

"$RA" audit verify >"$work/out" 2>"$work/err"
check "ra audit verify checks the chain and every checkpoint" \
	eval 'grep -q "audit log OK: 13 records, .*; 0 pending; [0-9]* signed checkpoints verified" "$work/out" && ! grep -q "; 0 signed" "$work/out"'

# ---- proofs, checked with nothing but the published key -----------------------------------
RACTL_URL=$BASE RACTL_TOKEN=$TOKEN "$RACTL" audit proof 3 --json >"$work/proof.json" 2>"$work/err"
check "ractl audit proof 3: an inclusion proof in the newest checkpoint" py proof.json "sys.exit(0 if j['record']['seq'] == 3 and j['tree_size'] == $N else 1)"
check "tools/audit-proof-verify.py: the inclusion proof verifies" verify inclusion proof.json
for s in 1 $N; do
	RACTL_URL=$BASE RACTL_TOKEN=$TOKEN "$RACTL" audit proof "$s" --json >"$work/proof-$s.json" 2>/dev/null
done
check "... also for the first and the last record" eval 'verify inclusion proof-1.json && verify inclusion proof-$N.json'
py proof.json "j['record']['reason'] = 'unspecified'; json.dump(j, open(sys.argv[1] + '.alt', 'w'))"
cp "$work/proof.json.alt" "$work/proof-alt.json"
check "the proof of an altered record is refused (its hash does not match its content)" refused inclusion proof-alt.json
get "/v1/audit/consistency/$M/$N" cons.json
check "GET /v1/audit/consistency/$M/$N: the consistency proof verifies" verify consistency cons.json
curl -s "$BASE/v1/audit/consistency/$N/$M" >"$work/out"
check "a consistency proof backwards is a JSON 400 naming the field" py out "sys.exit(0 if j['field'] == 'first' else 1)"

# ---- a wrong signature is named ------------------------------------------------------------
sig_m=$(sql "SELECT signature FROM audit_checkpoint WHERE tree_size = $M")
sig_n=$(sql "SELECT signature FROM audit_checkpoint WHERE tree_size = $N")
tamper audit_checkpoint "UPDATE audit_checkpoint SET signature = '$sig_n' WHERE tree_size = $M"
"$RA" audit verify >"$work/out" 2>"$work/err"
vrc=$?
check "a checkpoint with another checkpoint's signature: ra audit verify names it (exit 1)" \
	eval '[ "$vrc" = 1 ] && grep -q "BROKEN at seq $M: checkpoint of tree size $M: the signature does not verify" "$work/out"'
get "/v1/audit/consistency/$M/$N" cons-badsig.json
check "... and the verifier script refuses it" refused consistency cons-badsig.json
tamper audit_checkpoint "UPDATE audit_checkpoint SET signature = '$sig_m' WHERE tree_size = $M"

# ---- a rewritten log: the signed tree heads no longer fit -----------------------------------
# A forger changes record 3 and recomputes every hash after it, so the chain alone is whole.
tamper audit_record "UPDATE audit_record SET reason = 'forged' WHERE id = (SELECT rec_id FROM audit_chain WHERE seq = 3)"
tamper audit_chain "DO \$\$ DECLARE r record; prev text; BEGIN
	SELECT hash INTO prev FROM audit_chain WHERE seq = 2;
	FOR r IN SELECT * FROM audit_log WHERE seq >= 3 ORDER BY seq LOOP
		UPDATE audit_chain SET prev_hash = prev, hash = audit_hash(prev, r.seq, r.at, r.actor, r.action,
			r.object_type, r.object_id, r.reason, r.details) WHERE seq = r.seq RETURNING hash INTO prev;
	END LOOP; END \$\$"
"$RA" audit verify >"$work/out" 2>"$work/err"
vrc=$?
check "a rewritten chain: ra audit verify names the first checkpoint whose tree head it no longer has" \
	eval '[ "$vrc" = 1 ] && grep -q "BROKEN at seq $M: checkpoint of tree size $M: its tree head" "$work/out"'
RACTL_URL=$BASE RACTL_TOKEN=$TOKEN "$RACTL" audit proof 3 --json >"$work/proof-forged.json" 2>"$work/err"
check "the altered record's fresh inclusion proof is refused by the script" refused inclusion proof-forged.json
get "/v1/audit/consistency/$M/$N" cons-forged.json
check "the consistency proof between the signed checkpoints is refused (the log was rewritten)" \
	refused consistency cons-forged.json

e2e_end
