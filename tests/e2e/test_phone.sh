#!/usr/bin/env bash
# End-to-end test of a change of a user's mobile number (R3, issue #17; workflows/wf_phone.c):
# a throwaway PostgreSQL, a SoftHSM2 token, the local CA, the ident, SMS and mail peers and the
# real `ra serve`, driven through the shop webhook, the ident peer's callback, the real `ractl`
# and the signing service's route (POST /v1/signing/phone-changes/confirm, as the user's app
# reaches the RA).  The users and the certificate are reached through the product; SQL only
# reads.
# Checks: a number of another user refused (and a bad one, naming the field); one open change
# per user; no completion without proof; the requester cannot approve their own four-eyes
# change (R19) and a video-ident change has no approval; while a change is open every SMS
# (TransportPINs) goes to the old number and only the code reaches the new one; a wrong code is
# counted and the last allowed one cancels the change; the right code completes it: the user
# keeps user ID and certificate, later SMS go to the new number, the old number got a notice;
# cancel; a fresh video identification matched to the user as proof (and one of another
# person refused); every step audited.
# Prints "ok - ..." / "not ok - ..." per check and "N passed, M failed"; exits 1 if M > 0.
set -u
cd "$(dirname "$0")/../.."
# shellcheck source=tests/lib/peers.sh
. tests/lib/peers.sh
# shellcheck source=tests/lib/flow.sh
. tests/lib/flow.sh
B=${RA_TEST_BIN:-build}
RA=$PWD/$B/ra
RACTL=$PWD/$B/ractl

. tests/lib/e2e.sh
ra_pid=
e2e_stop() {
	if [ -n "$ra_pid" ]; then kill -TERM "$ra_pid" 2>/dev/null; wait "$ra_pid" 2>/dev/null; fi
}
e2e_begin phone

# ---- PostgreSQL, token, peers, ra serve -------------------------------------------------------
DB=$(tests/lib/pg.sh start "$work/pg") || die "cannot start PostgreSQL"
sql() { psql -qAtX -d "$DB" -v ON_ERROR_STOP=1 -c "$1"; }
SOFTHSM2_CONF=$(tests/lib/token.sh "$work/hsm" ra-phone 12345678 4711) || die "cannot make the token"
peer_start ident "$work/peers" --company-id trustra --api-key ident-key || die "ident peer"
peer_start sms "$work/peers" --token sms-token || die "sms peer"
peer_start mail "$work/peers" --dir "$work/mail" || die "mail sink"
IDENT="http://127.0.0.1:$IDENT_PORT" SMS="http://127.0.0.1:$SMS_PORT"
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
URL="http://127.0.0.1:$port"
SHOP_SECRET=e2e-shop-$(openssl rand -hex 32) CB_SECRET=e2e-callback-$(openssl rand -hex 32)
export SOFTHSM2_CONF RA_DATABASE_URL="$DB" RA_LISTEN="127.0.0.1:$port" RA_PKCS11_PIN=4711 \
	RA_PKCS11_TOKEN=ra-phone RA_CA_DIR="$work/ca" RA_JOBS_BACKOFF_MS=100 RA_JOBS_BACKOFF_MAX_MS=500 \
	RA_JOBS_POLL_MS=200 RA_SHOP_WOOCOMMERCE_SECRET=$SHOP_SECRET RA_DEFAULT_COUNTRY=AT \
	RA_IDENT_BASE_URL="$IDENT" RA_IDENT_COMPANY_ID=trustra RA_IDENT_API_KEY=ident-key \
	RA_IDENT_CALLBACK_SECRET=$CB_SECRET RA_SMS_URL="$SMS/v1/sms" RA_SMS_TOKEN=sms-token \
	RA_SMTP_URL="smtp://127.0.0.1:$MAIL_PORT" RA_SMTP_TLS=none RA_SIGNING_PHONE_CODE_MAX_TRIES=3 \
	RA_EVIDENCE_KEY=000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f \
	RA_CA_PDS_URL=https://pki.example.test/pds_en.pdf RA_CA_CRL_URL="$URL/v1/ca/crl" \
	RA_PRODUCTS='{"QES-5Y": {"class": "qualified", "validity_years": 5, "contract_months": 12}}'
"$RA" migrate >"$work/migrate.log" 2>&1 || { cat "$work/migrate.log"; die "ra migrate failed"; }
SAM=$("$RA" token create --name sam --role support --no-customer-account) || die "sam's token"
BOB=$("$RA" token create --name bob --role support --no-customer-account) || die "bob's token"
SIGNING=$("$RA" token create --name signsrv --role signing --no-customer-account) || die "signing token"

"$RA" serve >>"$work/ra.log" 2>&1 &
ra_pid=$!
for _ in $(seq 1 100); do
	curl -sf "$URL/healthz" >/dev/null 2>&1 && break
	sleep 0.1
done
curl -sf "$URL/healthz" >/dev/null || die "ra serve does not answer"
export RACTL_URL="$URL" RACTL_TOKEN="$SAM"
export HOME="$work/home" XDG_CONFIG_HOME=
mkdir -p "$HOME"

# ---- helpers --------------------------------------------------------------------------------
out_py() { python3 -c "import json,re,sys; j=json.load(open(sys.argv[1])); sys.exit(0 if ($1) else 1)" "$work/out"; }
ractl() { "$RACTL" "$@" >"$work/out" 2>"$work/err"; echo $? >"$work/rc"; }
as() { _t=$1; shift; RACTL_TOKEN=$_t ractl "$@"; }
rc_is() { [ "$(cat "$work/rc")" = "$1" ]; }
err_has() { grep -q -- "$1" "$work/err"; }
wait_for() { # wait_for COMMAND...: up to 60 s
	for _ in $(seq 1 300); do
		"$@" && return 0
		sleep 0.2
	done
	return 1
}
sql_is() { [ "$(sql "$_wq")" = "$_wv" ]; }
wait_sql() { _wq=$1 _wv=$2; wait_for sql_is; }
# the SMS the gateway accepted: "to<TAB>text" a line
sms_all() { curl -s "$SMS/_control/messages" | python3 -c '
import json, sys
for m in json.load(sys.stdin):
    print(m["to"] + "\t" + m["text"].replace("\n", " "))'; }
sms_count() { sms_all | awk -F'\t' -v to="$1" -v re="$2" '$1 == to && $2 ~ re' | wc -l; }
sms_count_is() { [ "$(sms_count "$1" "$2")" = "$3" ]; }
code_of() { sms_all | awk -F'\t' -v to="$1" '$1 == to && $2 ~ /code to confirm/' | tail -n 1 |
	sed -E 's/.*account: ([0-9]+).*/\1/'; }
confirm() { # confirm USER CODE: the signing service relays the user's code; status to stdout
	curl -s -o "$work/out" -w '%{http_code}' -H "Authorization: Bearer $SIGNING" -H 'Content-Type: application/json' \
		--data "{\"user_id\": \"$1\", \"code\": \"$2\"}" "$URL/v1/signing/phone-changes/confirm"
}
# order ID FIRST LAST PHONE: a paid shop order for one qualified certificate
order() {
	python3 - "$work/o$1.json" "$@" <<'PY'
import json, sys
path, oid, first, last, phone = sys.argv[1:6]
d = json.load(open("tests/fixtures/woocommerce-order-paid.json"))
d["id"] = int(oid)
d["number"] = oid
d["order_key"] = "wc_order_phone" + oid
d["billing"].update(first_name=first, last_name=last, email=f"{first.lower()}@example.test", phone=phone)
json.dump(d, open(path, "w"), ensure_ascii=False)
PY
	s=$(flow_webhook "$work/o$1.json" "$URL" "$SHOP_SECRET")
	[ "$s" = 200 ] || die "shop order $1 refused ($s): $(cat "$work/o$1.json.answer")"
}
pc_state() { sql "SELECT state FROM phone_changes WHERE id = $1"; }

# ---- the users, through the shop: Anna identified with a certificate, Hans only ordered ------
OLD=+436643000000 NEW=+436643000099 HANS=+436643000001
order 6100 "Anna" "Gruber" "+43 664 3000000"
flow_identified 1 "$IDENT" "$URL" "$CB_SECRET" || die "identification"
order 6101 "Hans" "Huber" "0664 3000001"
wait_sql "SELECT count(*) FROM certificates WHERE state = 'issued' AND serial IS NOT NULL" 1 || die "no certificate"
anna=$(sql "SELECT public_id FROM users WHERE phone_e164 = '$OLD'")
crt=$(sql "SELECT id FROM certificates")
wait_for sms_count_is "$OLD" TransportPIN 1 || die "no TransportPIN SMS"

# ---- starting: refusals name the field, nothing changes --------------------------------------
ractl user phone-change "$anna" --to "0664 3000001" --proof four_eyes --document "letter" --reason "new SIM"
check "R3: a number of another user is refused, naming it (exit 1), nothing written" \
	eval 'rc_is 1 && err_has "another user" && err_has "\[to\]" && [ "$(sql "SELECT count(*) FROM phone_changes")" = 0 ]'
ractl user phone-change "$anna" --to "not a number" --proof four_eyes --document "letter" --reason "new SIM"
check "a malformed number: exit 2, the server names the field to" eval 'rc_is 2 && err_has "\[to\]"'
ractl user phone-change "$anna" --to "0664 3000099" --proof four_eyes --reason "new SIM"
check "four_eyes without --document: exit 2 naming document" eval 'rc_is 2 && err_has "document"'
ractl user phone-change "$anna" --to "0664 3000099" --proof trust_me --reason "new SIM"
check "an unknown --proof: exit 2 naming the allowed ones" eval 'rc_is 2 && err_has "video_ident|four_eyes"'
code=$(curl -s -o "$work/out" -w '%{http_code}' -H "Authorization: Bearer $SAM" -H 'Content-Type: application/json' \
	--data '{"to": "0664 3000099", "proof": "four_eyes", "document": "x"}' "$URL/v1/admin/users/$anna/phone-change")
check "the API wants a reason (R16), naming it" eval '[ "$code" = 400 ] || [ "$code" = 422 ] && out_py "j[\"field\"] == \"reason\""'
ractl user phone-change "$anna" --to "0664 3000099" --proof four_eyes --document "carrier letter, ID copy: ticket 8812" \
	--reason "number ported to a new SIM" --dry-run -o json
check "--dry-run: the answer says what would change, nothing written" \
	eval 'rc_is 0 && out_py "j[\"dry_run\"] is True and j[\"new_e164\"] == \"$NEW\"" && [ "$(sql "SELECT count(*) FROM phone_changes")" = 0 ]'

# ---- four eyes: started by sam, approved by bob ------------------------------------------------
ractl user phone-change "$OLD" --to "0664 3000099" --proof four_eyes --document "carrier letter, ID copy: ticket 8812" \
	--reason "number ported to a new SIM" -o json
pc=$(python3 -c "import json,sys; print(json.load(open(sys.argv[1]))['phone_change_id'])" "$work/out" 2>/dev/null)
check "start (user named by the old number in another notation): awaiting_proof, old and new in E.164" \
	eval 'rc_is 0 && out_py "j[\"state\"] == \"awaiting_proof\" and j[\"old_e164\"] == \"$OLD\" and j[\"user_id\"] == \"$anna\""'
ractl user show "$anna" -o json
check "user show names the open phone change (still under the old number)" \
	out_py "j['phone_change']['phone_change_id'] == '$pc' and j['phone_change']['new_e164'] == '$NEW' and j['phone_e164'] == '$OLD'"
ractl user phone-change "$anna" --to "0664 3000098" --proof four_eyes --document "x" --reason "again"
check "one open change per user: a second is refused (exit 1)" eval 'rc_is 1 && err_has "open phone change"'
as "$BOB" user phone-change "$HANS" --to "0664 3000099" --proof four_eyes --document "x" --reason "mine too"
check "R3: a number another user's open change asks for is refused" eval 'rc_is 1 && err_has "asks for"'
s=$(confirm "$anna" 12345678)
check "no completion without proof: the code route refuses (409), the number stays" \
	eval '[ "$s" = 409 ] && out_py "j[\"reason\"] == \"awaiting_proof\"" && [ "$(sql "SELECT phone_e164 FROM users WHERE public_id = '"'$anna'"'")" = "$OLD" ]'
ractl user phone-change approve "$pc" --reason "I checked it myself"
check "R19: the requester cannot approve their own four-eyes change (exit 1), nothing changed" \
	eval 'rc_is 1 && err_has R19 && [ "$(pc_state "$pc")" = awaiting_proof ]'
check "... and no code was sent to the new number" sms_count_is "$NEW" . 0
as "$BOB" user transport-pin "$anna" --reason "PIN SMS lost"
check "while the change waits for proof a TransportPIN goes to the OLD number" \
	eval 'rc_is 0 && wait_for sms_count_is "$OLD" TransportPIN 2'
as "$BOB" user phone-change approve "$pc" --reason "carrier letter and ID copy checked" -o json
check "four eyes: a second support user approves; a code goes to the new number" \
	eval 'rc_is 0 && out_py "j[\"state\"] == \"awaiting_code\" and j[\"approved_by\"] == \"support:bob\"" && wait_for sms_count_is "$NEW" "code to confirm" 1'
check "the code is stored only as a hash (scrypt), never in clear" \
	eval '[ "$(sql "SELECT code_hash LIKE '"'"'\$scrypt\$%'"'"' OR length(code_hash) > 40 FROM phone_changes WHERE id = $pc")" = t ] &&
		! sql "SELECT row_to_json(p)::text FROM phone_changes p" | grep -q "$(code_of "$NEW")"'
as "$BOB" user transport-pin "$anna" --reason "PIN SMS lost again"
check "while the change waits for the code the TransportPIN still goes to the OLD number" \
	eval 'rc_is 0 && wait_for sms_count_is "$OLD" TransportPIN 3'
check "before completion nothing but the code reached the new number (no TransportPIN, no TAN)" \
	eval '[ "$(sms_count "$NEW" .)" = 1 ] && [ "$(sms_count "$NEW" TransportPIN)" = 0 ]'
good=$(code_of "$NEW")
s=$(confirm "$anna" 99999999)
check "a wrong code is refused and counted: 2 of 3 tries left" \
	eval '[ "$s" = 422 ] && out_py "j[\"reason\"] == \"wrong_code\" and j[\"tries_left\"] == 2" && [ "$(sql "SELECT code_failures FROM phone_changes WHERE id = $pc")" = 1 ]'
s=$(confirm "$anna" "$good")
check "the right code from the new number completes the change" \
	eval '[ "$s" = 200 ] && out_py "j[\"state\"] == \"completed\" and j[\"phone_e164\"] == \"$NEW\"" && [ "$(pc_state "$pc")" = completed ]'
check "R3: the user keeps user ID and certificate, now under the new number" \
	eval '[ "$(sql "SELECT public_id FROM users WHERE phone_e164 = '"'$NEW'"'")" = "$anna" ] && [ "$(sql "SELECT user_id FROM certificates WHERE id = '"'$crt'"'")" = "$anna" ]'
ractl cert list --user "0664 3000099" -o json
check "... ractl finds the certificate by the new number" out_py "[c['id'] for c in j['certificates']] == ['$crt']"
check "the old number is told (by SMS, showing only the new number's last digits)" \
	eval 'wait_for sms_count_is "$OLD" "ending in 099" 1 && [ "$(sms_count "$OLD" "3000099")" = 0 ]'
as "$BOB" user transport-pin "$anna" --reason "after the change"
check "after completion SMS go to the new number" eval 'rc_is 0 && wait_for sms_count_is "$NEW" TransportPIN 1'
check "... and no more to the old one" eval 'sleep 1; [ "$(sms_count "$OLD" TransportPIN)" = 3 ]'
s=$(confirm "$anna" "$good")
check "a completed change takes no code any more (404)" '[' "$s" = 404 ']'
audited() {
	ractl audit show --object "$pc" --type phone_change -o json
	out_py "[r['action'] for r in j['records']] == ['phone_change.requested', 'phone_change.approved',
		'phone_change.code_sent', 'phone_change.code_wrong', 'phone_change.completed', 'phone_change.old_number_notified']"
}
check "R16: every step audited, in order (requested, approved, code sent, wrong code, completed, old number told)" \
	wait_for audited
ractl audit show --object "$pc" --type phone_change -o json
check "... with who: sam asked, bob approved, the signing service relayed the code" \
	out_py "[r['actor'] for r in j['records']][:2] == ['support:sam', 'support:bob'] and j['records'][4]['actor'] == 'signing:signsrv'"

# ---- limited attempts: the last wrong code cancels ---------------------------------------------
as "$BOB" user phone-change "$anna" --to "0664 3000098" --proof four_eyes --document "ticket 8813" --reason "again" -o json
pc2=$(python3 -c "import json,sys; print(json.load(open(sys.argv[1]))['phone_change_id'])" "$work/out" 2>/dev/null)
ractl user phone-change approve "$pc2" --reason "ticket 8813 checked"
wait_for sms_count_is +436643000098 "code to confirm" 1 || die "no second code"
right=$(code_of +436643000098)
s1=$(confirm "$anna" 11111111) s2=$(confirm "$anna" 22222222) s3=$(confirm "$anna" 33333333)
check "three wrong codes (signing.phone_code_max_tries = 3): the last cancels the change" \
	eval '[ "$s1 $s2 $s3" = "422 422 422" ] && out_py "j[\"tries_left\"] == 0" && [ "$(pc_state "$pc2")" = cancelled ]'
s=$(confirm "$anna" "$right")
check "... then even the right code changes nothing (404), the number stays" \
	eval '[ "$s" = 404 ] && [ "$(sql "SELECT phone_e164 FROM users WHERE public_id = '"'$anna'"'")" = "$NEW" ]'

# ---- cancel --------------------------------------------------------------------------------
ractl user phone-change "$anna" --to "0664 3000096" --proof four_eyes --document "ticket 8814" --reason "asked by phone" -o json
pc3=$(python3 -c "import json,sys; print(json.load(open(sys.argv[1]))['phone_change_id'])" "$work/out" 2>/dev/null)
as "$BOB" user phone-change cancel "$pc3" --reason "the customer withdrew it" -o json
check "cancel: the change ends, the user keeps the number" \
	eval 'rc_is 0 && out_py "j[\"state\"] == \"cancelled\"" && [ "$(pc_state "$pc3")" = cancelled ]'
as "$BOB" user phone-change approve "$pc3" --reason "too late"
check "... a cancelled change is approved by nobody (exit 1)" eval 'rc_is 1 && err_has cancelled'
ractl user phone-change show "$pc3" -o json
check "show: numbers, proof, who cancelled and why; never the code's hash" \
	eval 'rc_is 0 && out_py "j[\"cancelled_by\"] == \"support:bob\" and j[\"new_e164\"] == \"+436643000096\" and \"code_hash\" not in j"'
ractl user phone-change show nope
check "show of an id that is none: 404 (exit 3)" rc_is 3

# ---- video identification as proof ----------------------------------------------------------
VNEW=+436643000097
ractl user phone-change "$anna" --to "0664 3000097" --proof video_ident --reason "lost the SIM, no letter" -o json
pc4=$(python3 -c "import json,sys; print(json.load(open(sys.argv[1]))['phone_change_id'])" "$work/out" 2>/dev/null)
as "$BOB" user phone-change approve "$pc4" --reason "looks fine"
check "a video-ident change has no four-eyes approval (exit 1), naming the proof" \
	eval 'rc_is 1 && err_has "video identification" && [ "$(pc_state "$pc4")" = awaiting_proof ]'
check "a fresh identification is started at the ident provider and its link mailed to the user" \
	eval 'wait_sql "SELECT ident_mailed_at IS NOT NULL FROM phone_changes WHERE id = $pc4" t && grep -rlq "new mobile number" "$work/mail"'
s=$(confirm "$anna" 12345678)
check "... and until it passes no code is sent and none accepted" eval '[ "$s" = 409 ] && [ "$(sms_count "$VNEW" .)" = 0 ]'
flow_identified 3 "$IDENT" "$URL" "$CB_SECRET" || die "the phone change's identification"
check "the identification matches the user (names, birth date): a code goes to the new number" \
	eval 'wait_for sms_count_is "$VNEW" "code to confirm" 1 && [ "$(pc_state "$pc4")" = awaiting_code ]'
s=$(confirm "$anna" "$(code_of "$VNEW")")
check "... and the code completes the change" \
	eval '[ "$s" = 200 ] && [ "$(sql "SELECT phone_e164 FROM users WHERE public_id = '"'$anna'"'")" = "$VNEW" ]'
check "... the number it left (the first new one) is told" eval 'wait_for sms_count_is "$NEW" "ending in 097" 1'
ident_audited() {
	ractl audit show --object "$pc4" --type phone_change -o json
	out_py "any(r['action'] == 'phone_change.ident_passed' and r['actor'] == 'ident:idnow' for r in j['records'])"
}
check "R16: the identification's outcome is audited, the ident provider as actor" wait_for ident_audited

# a video identification of somebody else is no proof
ractl user phone-change "$anna" --to "0664 3000095" --proof video_ident --reason "SIM lost again" -o json
pc5=$(python3 -c "import json,sys; print(json.load(open(sys.argv[1]))['phone_change_id'])" "$work/out" 2>/dev/null)
wait_sql "SELECT ident_mailed_at IS NOT NULL FROM phone_changes WHERE id = $pc5" t || die "no identification for $pc5"
tx5=$(sql "SELECT ident_tx FROM phone_changes WHERE id = $pc5")
sed -e "s/RA-T-8F3K2Q/$tx5/g" -e 's/GRUBER/HUBER/g' tests/fixtures/idnow-result-success.json >"$work/other.json"
curl -sf -X PUT --data-binary @"$work/other.json" "$IDENT/_control/result/$tx5" >/dev/null || die "ident peer refused the result"
s=$(flow_callback "$tx5" "$IDENT" "$URL" "$CB_SECRET")
check "R7: an identification of another person (the last name differs) is no proof: cancelled, no code sent" \
	eval '[ "$s" = 200 ] && wait_sql "SELECT state FROM phone_changes WHERE id = $pc5" cancelled &&
		[ "$(sms_count +436643000095 .)" = 0 ] && [ "$(sql "SELECT phone_e164 FROM users WHERE public_id = '"'$anna'"'")" = "$VNEW" ]'

e2e_end
