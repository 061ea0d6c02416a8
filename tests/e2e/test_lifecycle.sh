#!/usr/bin/env bash
# End-to-end test of time and notifications (issue #14; docs/lifecycle.md): a throwaway PostgreSQL, a
# SoftHSM2 token, the local CA, the ident, SMS and mail peers and TWO `ra serve` nodes on one
# database, driven through the product's interfaces only (shop webhook, ident callback, the
# signing routes, ractl).  Every change a user can see mails the user, review, fraud and a dead
# job mail support, each exactly once although both nodes run the notify task; the mails come
# from the template files (German, the default) and are what a person reads: headers, a UTF-8
# subject, a plain-text body.  Time: a product whose configured term is 20 seconds: term
# reminders once each at the configured offsets although node B is killed with SIGKILL on the
# way, renewals (a WooCommerce Subscriptions renewal order delivered twice, a catalogue renewal
# product, ractl cert renew) extend the term once each and suppress the end action, the
# certificate not renewed is revoked with cessationOfOperation after the grace period and is on
# the CRL; expiry reminders at an offset the 5-year validity is already within, once each.
# Prints "ok - ..." / "not ok - ..." per check and "N passed, M failed"; exits 1 if M > 0.
set -u
cd "$(dirname "$0")/../.."
# shellcheck source=tests/lib/peers.sh
. tests/lib/peers.sh
B=${RA_TEST_BIN:-build}
RA=$PWD/$B/ra
RACTL=$PWD/$B/ractl

. tests/lib/e2e.sh
pid_a= pid_b=
e2e_stop() {
	for p in $pid_a $pid_b; do kill -TERM "$p" 2>/dev/null; wait "$p" 2>/dev/null; done
}
e2e_begin lifecycle
E2E_LOGS=$work/a.log

E2E_T0=$(date +%s) # each ok line says when it passed

# ---- PostgreSQL, token, peers, two nodes ----------------------------------------------------
DB=$(tests/lib/pg.sh start "$work/pg") || die "cannot start PostgreSQL"
sql() { psql -qAtX -d "$DB" -v ON_ERROR_STOP=1 -c "$1"; }
SOFTHSM2_CONF=$(tests/lib/token.sh "$work/hsm" ra-lc 12345678 4711) || die "cannot make the token"
peer_start ident "$work/peers" --company-id trustra --api-key ident-key || die "ident peer"
peer_start sms "$work/peers" --token sms-token || die "sms peer"
peer_start mail "$work/peers" --dir "$work/mail" || die "mail sink"
IDENT="http://127.0.0.1:$IDENT_PORT" SMS="http://127.0.0.1:$SMS_PORT"
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
port_a=$(free_port) port_b=$(free_port)
URL="http://127.0.0.1:$port_a"
SHOP_SECRET=e2e-shop-$(openssl rand -hex 32) CB_SECRET=e2e-callback-$(openssl rand -hex 32) SUPPORT_MAIL=support@ra.example
export SOFTHSM2_CONF RA_DATABASE_URL="$DB" RA_PKCS11_PIN=4711 \
	RA_PKCS11_TOKEN=ra-lc RA_CA_DIR="$work/ca" RA_JOBS_BACKOFF_MS=100 RA_JOBS_BACKOFF_MAX_MS=500 \
	RA_JOBS_POLL_MS=200 RA_SHOP_WOOCOMMERCE_SECRET=$SHOP_SECRET RA_DEFAULT_COUNTRY=AT \
	RA_IDENT_BASE_URL="$IDENT" RA_IDENT_COMPANY_ID=trustra RA_IDENT_API_KEY=ident-key \
	RA_IDENT_CALLBACK_SECRET=$CB_SECRET RA_SMS_URL="$SMS/v1/sms" RA_SMS_TOKEN=sms-token \
	RA_SMTP_URL="smtp://127.0.0.1:$MAIL_PORT" RA_SMTP_TLS=none RA_SMTP_FROM=ra@ra.example \
	RA_EVIDENCE_KEY=000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f \
	RA_CA_PDS_URL=https://pki.example.test/pds_en.pdf RA_CA_CRL_URL="$URL/v1/ca/crl" \
	RA_SCHED_TICK_MS=100 RA_SCHED_LEASE_MS=1500 RA_NOTIFY_INTERVAL_S=1 RA_NOTIFY_SUPPORT_ADDRESS=$SUPPORT_MAIL \
	RA_LIFECYCLE_REMINDER_INTERVAL_S=1 RA_LIFECYCLE_TERM_INTERVAL_S=1 RA_LIFECYCLE_TERM_REMINDERS='["10s", "5s"]' \
	RA_LIFECYCLE_EXPIRY_REMINDERS='["1830d", "1000d"]' RA_TERM_GRACE=2s RA_TERM_ON_END=revoke \
	RA_PRODUCTS='{"QES-5Y": {"class": "qualified", "validity_years": 5, "contract_months": 12},
		"QES-T": {"class": "qualified", "validity_years": 5, "term": "20s"},
		"QES-RENEW": {"class": "qualified", "term": "1y", "renewal": true}}'
"$RA" migrate >"$work/migrate.log" 2>&1 || { cat "$work/migrate.log"; die "ra migrate failed"; }
SUPPORT=$("$RA" token create --name sam --role support --no-customer-account) || die "support token"
SIGNING=$("$RA" token create --name sigsrv --role signing --no-customer-account) || die "signing token"

start_node() { # start_node a|b PORT
	RA_LISTEN="127.0.0.1:$2" "$RA" serve >>"$work/$1.log" 2>&1 &
	eval "pid_$1=$!"
	for _ in $(seq 1 100); do
		curl -sf "http://127.0.0.1:$2/healthz" >/dev/null 2>&1 && return 0
		sleep 0.1
	done
	die "ra serve ($1) does not answer"
}
start_node a "$port_a"
start_node b "$port_b"
export RACTL_URL="$URL" RACTL_TOKEN="$SUPPORT" HOME="$work/home" XDG_CONFIG_HOME=
mkdir -p "$HOME"

# ---- helpers --------------------------------------------------------------------------------
api() { # api TOKEN PATH JSON: POST; the answer to $work/out, its status to $work/code
	curl -sS -o "$work/out" -w '%{http_code}' -X POST -H 'Content-Type: application/json' \
		-H "Authorization: Bearer $1" --data-binary "$3" "$URL$2" >"$work/code" 2>"$work/err" ||
		echo 000 >"$work/code"
}
status_is() { [ "$(cat "$work/code")" = "$1" ]; }
ractl() { "$RACTL" "$@" >"$work/out" 2>"$work/err"; echo $? >"$work/rc"; }
rc_is() { [ "$(cat "$work/rc")" = "$1" ]; }
wait_for() { # wait_for COMMAND...: up to 60 s
	for _ in $(seq 1 300); do
		"$@" && return 0
		sleep 0.2
	done
	return 1
}
sql_is() { [ "$(sql "$_wq")" = "$_wv" ]; }
wait_sql() { _wq=$1 _wv=$2; wait_for sql_is; }
# mails RCPT SUBJECT-REGEX: how many mails to RCPT have a subject matching (decoded, UTF-8)
mails() {
	python3 - "$work/mail" "$1" "$2" <<'EOF'
import email, email.header, email.policy, glob, re, sys
n = 0
for f in glob.glob(sys.argv[1] + "/*.eml"):
    m = email.message_from_binary_file(open(f, "rb"), policy=email.policy.default)
    if m["X-Envelope-To"] == "<%s>" % sys.argv[2] and re.search(sys.argv[3], str(m["Subject"])):
        n += 1
print(n)
EOF
}
mail_count_is() { [ "$(mails "$1" "$2")" = "$3" ]; } # mail_count_is RCPT SUBJECT N
# the one mail's body (decoded) to RCPT whose subject matches
mail_body() {
	python3 - "$work/mail" "$1" "$2" <<'EOF'
import email, email.policy, glob, re, sys
for f in sorted(glob.glob(sys.argv[1] + "/*.eml")):
    m = email.message_from_binary_file(open(f, "rb"), policy=email.policy.default)
    if m["X-Envelope-To"] == "<%s>" % sys.argv[2] and re.search(sys.argv[3], str(m["Subject"])):
        print(m.get_content())
EOF
}
pins_for() {
	curl -s "$SMS/_control/messages" | python3 -c '
import json, re, sys
for m in json.load(sys.stdin):
    hit = re.search(r"certificate %s: (\d+)" % re.escape(sys.argv[1]), m["text"])
    if hit:
        print(hit.group(1))' "$1"
}
pin_count_is() { [ "$(pins_for "$1" | wc -l)" -eq "$2" ]; }
webhook() { # webhook FILE: a signed WooCommerce delivery; prints the status
	_sig=$(openssl dgst -sha256 -hmac "$SHOP_SECRET" -binary "$1" | base64)
	curl -s -o /dev/null -w '%{http_code}' -X POST -H 'Content-Type: application/json' \
		-H "X-WC-Webhook-Signature: $_sig" -H "X-WC-Webhook-Topic: order.created" --data-binary "@$1" \
		"$URL/v1/shop/woocommerce"
}
# order SHOP_ID PHONE [SKU QTY]: the fixture order under another shop id and mobile number
order() {
	sed -e "s/\"id\":4711,/\"id\":$1,/" -e "s/\"number\":\"4711\"/\"number\":\"$1\"/" \
		-e "s/+43 664 1234567/$2/" -e "s/\"sku\":\"QES-5Y\"/\"sku\":\"${3:-QES-5Y}\"/" \
		-e "s/\"quantity\":1,/\"quantity\":${4:-1},/" tests/fixtures/woocommerce-order-paid.json >"$work/order-$1.json"
	_s=$(webhook "$work/order-$1.json")
	[ "$_s" = 200 ] || die "order $1 refused ($_s)"
}
idents() { curl -s "$IDENT/_control/identifications"; }
ident_started() { [ "$(idents | python3 -c 'import json,sys; print(len(json.load(sys.stdin)))')" -ge "$_want" ]; }
# identified N FIXTURE: the N-th identification ends with the fixture's result, called back
identified() {
	_want=$1
	wait_for ident_started || die "identification $1 not started"
	_tx=$(idents | python3 -c 'import json, sys; print(list(json.load(sys.stdin))[int(sys.argv[1]) - 1])' "$1")
	_old=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["identificationprocess"]["transactionnumber"])' "$2")
	sed "s/$_old/$_tx/g" "$2" >"$work/result.json"
	curl -sf -X PUT --data-binary @"$work/result.json" "$IDENT/_control/result/$_tx" >/dev/null || die "ident result"
	curl -sf -X POST -d "{\"url\": \"$URL/v1/ident/idnow\", \"token\": \"$CB_SECRET\"}" \
		"$IDENT/_control/callback/$_tx" >/dev/null || die "ident callback"
}
USER_MAIL=anna.gruber@example.at

# ---- time runs: certificates with a 20-second term (checked at the end) ------------------------
PHONE2="+43 664 7654321"
order 4720 "$PHONE2" QES-T 1
identified 1 tests/fixtures/idnow-result-success.json
wait_sql "SELECT count(*) FROM certificates WHERE state = 'issued'" 1 || die "the term certificate was not issued"
term_b=$(sql "SELECT id FROM certificates")
uid2=$(sql "SELECT public_id FROM users")
order 4722 "$PHONE2" QES-T 1 # R17: the same user's identification is relied on
wait_sql "SELECT count(*) FROM certificates WHERE state = 'issued'" 2 || die "the second term certificate was not issued"
term_a=$(sql "SELECT id FROM certificates WHERE id <> '$term_b'")
check "R21: the term starts at issuance: term end = issued + the product's 20 s" \
	eval '[ "$(sql "SELECT count(*) FROM certificates WHERE term_end = issued_at + interval '"'20 seconds'"'")" = 2 ]'
# renewal SHOP_ID PARENT SKU CERT: a renewal order (WooCommerce Subscriptions when PARENT is not
# 0: meta _subscription_renewal and parent_id; else a renewal SKU naming CERT in its meta)
renewal() {
	python3 - "$@" <<'EOF' >"$work/renewal-$1.json"
import json, sys
o = json.load(open("tests/fixtures/woocommerce-order-paid.json"))
shop_id, parent, sku, cert = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3], sys.argv[4]
o["id"], o["number"], o["created_via"] = shop_id, str(shop_id), "subscription"
o["billing"]["phone"] = "+43 664 7654321"
if parent:
    o["parent_id"] = parent
    o["meta_data"].append({"id": 9100, "key": "_subscription_renewal", "value": "8800"})
o["line_items"][0]["sku"] = sku
if cert != "-":
    o["line_items"][0]["meta_data"] = [{"id": 9200, "key": "certificate_id", "value": cert}]
print(json.dumps(o))
EOF
	webhook "$work/renewal-$1.json"
}
s1=$(renewal 4730 4722 QES-RENEW -) s2=$(renewal 4730 4722 QES-RENEW -)
check "R21: a WooCommerce Subscriptions renewal order (parent 4722) extends its certificate's term by a year, once (delivered twice)" \
	eval '[ "$s1$s2" = 200200 ] && [ "$(sql "SELECT (term_end = issued_at + interval '"'20 seconds'"' + interval '"'1 year'"') || '"'/'"' || (SELECT count(*) FROM renewals WHERE certificate_id = '"'$term_a'"') FROM certificates WHERE id = '"'$term_a'"'")" = true/1 ] && [ "$(sql "SELECT count(*) FROM audit_log WHERE action = '"'cert.renewed'"' AND object_id = '"'$term_a'"'")" = 1 ]'
check "... without a new identification, order or certificate" \
	eval '[ "$(sql "SELECT count(*) FROM certificates")" = 2 ] && [ "$(sql "SELECT count(*) FROM orders WHERE shop_order_id = 4730")" = 0 ] && [ "$(idents | python3 -c "import json,sys; print(len(json.load(sys.stdin)))")" = 1 ]'
s1=$(renewal 4731 0 QES-RENEW "$term_a")
check "a catalogue product marked renewal extends the certificate its line item names" \
	eval '[ "$s1" = 200 ] && [ "$(sql "SELECT term_end = issued_at + interval '"'20 seconds'"' + interval '"'2 years'"' FROM certificates WHERE id = '"'$term_a'"'")" = t ]'
until_day=$(date -u -d '+800 days' +%F)
ractl cert renew "$term_a" --until "$until_day" --reason "renewal paid by invoice"
check "ractl cert renew extends the term to the end of the day given" \
	eval 'rc_is 0 && [ "$(sql "SELECT term_end::date - 1 FROM certificates WHERE id = '"'$term_a'"'")" = "$until_day" ]'
ractl cert renew "$term_a" --until 2020-01-01 --reason "typo"
check "... a date before the current term end is refused (a renewal extends)" eval 'rc_is 1'
ractl cert renew "$term_a" --until 2027-02-30 --reason "typo"
check "... and a date that does not exist" eval 'rc_is 1 || rc_is 2'

# ---- a user with a certificate --------------------------------------------------------------
order 4711 "+43 664 1234567"
identified 2 tests/fixtures/idnow-result-success.json
wait_sql "SELECT count(*) FROM certificates WHERE state = 'issued' AND order_id = (SELECT id::text FROM orders WHERE shop_order_id = 4711)" 1 ||
	die "no certificate issued"
crt=$(sql "SELECT id FROM certificates WHERE order_id = (SELECT id::text FROM orders WHERE shop_order_id = 4711)")
uid=$(sql "SELECT public_id FROM users WHERE public_id <> '$uid2'")
s1=$(renewal 4733 0 QES-RENEW "$crt")
check "a renewal naming another user's certificate is refused (422) and extends nothing" \
	eval '[ "$s1" = 422 ] && [ "$(sql "SELECT count(*) FROM renewals WHERE certificate_id = '"'$crt'"'")" = 0 ]'
wait_for pin_count_is "$crt" 1 || die "no TransportPIN SMS"

# ---- what support does, what the signing service reports: each mails the user once ----------
ractl user transport-pin "$uid" --reason "the SMS did not arrive"
wait_for pin_count_is "$crt" 2 || die "no second TransportPIN"
check "a new TransportPIN mails the user (template transport_pin_new)" \
	wait_for mail_count_is "$USER_MAIL" "^Eine neue TransportPIN ist unterwegs$" 1
api "$SIGNING" /v1/signing/activations \
	"{\"user_id\": \"$uid\", \"credential_id\": \"$crt\", \"transport_pin\": \"$(pins_for "$crt" | tail -n 1)\"}"
status_is 200 || die "activation refused: $(cat "$work/out")"
api "$SIGNING" /v1/signing/events "{\"event_id\": \"ev-1\", \"user_id\": \"$uid\", \"type\": \"locked\"}"
check "locked (signing service) mails the user" wait_for mail_count_is "$USER_MAIL" "^Ihr Signaturzugang wurde gesperrt$" 1
ractl user unlock "$uid" --reason "identity confirmed by phone"
check "unlocked (ractl) mails the user" wait_for mail_count_is "$USER_MAIL" "^Ihr Signaturzugang wurde entsperrt$" 1
api "$SIGNING" /v1/signing/events "{\"event_id\": \"ev-2\", \"user_id\": \"$uid\", \"type\": \"app_registered\"}"
check "a factor change mails the user" \
	wait_for mail_count_is "$USER_MAIL" "^Ihr zweiter Faktor zum Signieren wurde geändert$" 1
ractl cert rekey "$crt" --reason "ActivationPIN forgotten" --json
new=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["replacement_id"])' "$work/out" 2>/dev/null)
check "a re-key mails the user what to do next" \
	wait_for mail_count_is "$USER_MAIL" "^Für Sie werden ein neuer Schlüssel und ein neues Zertifikat ausgestellt$" 1
wait_sql "SELECT state FROM certificates WHERE id = '$crt'" revoked || die "old certificate not revoked"
wait_sql "SELECT state FROM certificates WHERE id = '$new'" issued || die "replacement not issued"
ractl cert revoke "$new" --reason keyCompromise --comment "phone with the app stolen" --yes
check "a revocation mails the user with the reason" \
	wait_for mail_count_is "$USER_MAIL" "^Ihr Signaturzertifikat wurde widerrufen$" 1
mail_body "$USER_MAIL" "widerrufen" >"$work/err"
check "... its body names the certificate, the reason and the comment (UTF-8 text)" \
	eval 'grep -q "$new" "$work/err" && grep -q "Grund: keyCompromise" "$work/err" && grep -q "phone with the app stolen" "$work/err" && grep -q "können" "$work/err"'

# ---- what support must know --------------------------------------------------------------------
order 4712 "+43 664 1234568"
identified 3 tests/fixtures/idnow-result-data-changed.json
check "a review opened mails support" wait_for mail_count_is "$SUPPORT_MAIL" "^RA: Bestellung 4712 wartet auf manuelle Prüfung$" 1
order 4713 "+43 664 1234569"
identified 4 tests/fixtures/idnow-result-fraud.json
check "a confirmed fraud mails support" wait_for mail_count_is "$SUPPORT_MAIL" "^RA: Betrug bestätigt für Bestellung 4713$" 1
curl -sf -X POST "$IDENT/_control/fail?count=50&status=400" >/dev/null || die "ident fail control"
order 4714 "+43 664 1234570"
wait_sql "SELECT count(*) FROM jobs WHERE kind = 'ident_invite' AND state = 'dead'" 1 || die "the invitation did not die"
curl -sf -X POST "$IDENT/_control/fail?count=0" >/dev/null
check "a dead job mails support" wait_for mail_count_is "$SUPPORT_MAIL" "^RA: Job [0-9]+ \\(ident_invite\\) ist tot$" 1

# ---- the term: reminders once each over a SIGKILL, renewal, the end-of-term policy ---------------
kill -KILL "$pid_b"; wait "$pid_b" 2>/dev/null; pid_b=
sleep 0.5
start_node b "$port_b"
wait_sql "SELECT state || ' ' || revocation_reason FROM certificates WHERE id = '$term_b'" "revoked cessationOfOperation" ||
	echo "the unrenewed certificate was not revoked" >"$work/err"
check "R21: the certificate not renewed is revoked with cessationOfOperation after term + grace" \
	eval '[ "$(sql "SELECT state || (term_ended_at >= term_end + interval '"'2 seconds'"') FROM certificates WHERE id = '"'$term_b'"'")" = revokedtrue ]'
check "... audited cert.term_ended (policy revoke) then cert.revoked, once each" \
	eval '[ "$(sql "SELECT string_agg(action || '"':'"' || coalesce(details->>'"'policy'"', reason), '"','"' ORDER BY seq) FROM audit_log WHERE object_id = '"'$term_b'"' AND action IN ('"'cert.term_ended'"', '"'cert.revoked'"')")" = "cert.term_ended:revoke,cert.revoked:cessationOfOperation" ]'
on_crl() {
	_serial=$(sql "SELECT serial FROM certificates WHERE id = '$term_b'")
	curl -sf "$URL/v1/ca/crl" -o "$work/crl.der" || return 1
	openssl crl -inform DER -in "$work/crl.der" -noout -text >"$work/crl.txt" 2>/dev/null || return 1
	python3 - "$work/crl.txt" "$_serial" <<'PY'
import re, sys
text = open(sys.argv[1]).read()
for m in re.finditer(r"Serial Number: ([0-9A-Fa-f]+)\s*\n\s*Revocation Date:[^\n]*\n(?:[^\n]*\n){0,3}?\s*(Cessation Of Operation|[A-Z][A-Za-z ]+)\n", text):
    if int(m.group(1), 16) == int(sys.argv[2], 16):
        sys.exit(0 if m.group(2) == "Cessation Of Operation" else 1)
sys.exit(1)
PY
}
check "... and it is on the CRL with reason cessationOfOperation" wait_for on_crl
check "the renewed certificate is untouched by the end of its old term" \
	eval '[ "$(sql "SELECT state || coalesce(term_ended_at::text, '"'-'"') FROM certificates WHERE id = '"'$term_a'"'")" = issued- ]'
check "R21: term reminders: at 10 s and 5 s before the end, once each (node B killed on the way)" \
	eval '[ "$(sql "SELECT string_agg(offset_s::text, '"','"' ORDER BY offset_s DESC) FROM cert_reminders WHERE certificate_id = '"'$term_b'"' AND kind = '"'term'"'")" = 10,5 ] && [ "$(sql "SELECT count(*) FROM audit_log WHERE action = '"'cert.term_reminder'"' AND object_id = '"'$term_b'"'")" = 2 ]'
check "... none for the renewed certificate (its term end moved past the offsets)" \
	eval '[ "$(sql "SELECT count(*) FROM cert_reminders WHERE certificate_id = '"'$term_a'"' AND kind = '"'term'"'")" = 0 ]'
check "... two term reminder mails, one term-ended mail, three renewal mails" \
	eval 'wait_for mail_count_is "$USER_MAIL" "^Ihr Signaturvertrag endet am" 2 && wait_for mail_count_is "$USER_MAIL" "^Ihr Signaturvertrag ist beendet: Zertifikat widerrufen$" 1 && wait_for mail_count_is "$USER_MAIL" "^Ihr Signaturvertrag wurde bis .* verlängert$" 3'
check "expiry reminders: the closest due offset only, once per certificate" \
	eval '[ "$(sql "SELECT count(*) || '"'/'"' || count(DISTINCT certificate_id) || '"'/'"' || min(offset_s) FROM cert_reminders WHERE kind = '"'expiry'"' AND certificate_id IN ('"'$term_a'"', '"'$term_b'"')")" = "2/2/158112000" ]'
ractl user show "$uid2" --json
check "ractl user show: term end and the reminders sent per certificate" \
	python3 -c 'import json,sys; j=json.load(open(sys.argv[1])); c={x["id"]: x for x in j["certificates"]}; b=c[sys.argv[2]]; assert b["term_end"] and b["term_ended_at"]; assert sorted(r["offset_s"] for r in b["reminders_sent"] if r["kind"] == "term") == [5, 10]' "$work/out" "$term_b"
ractl cert list --expiring 1830d --json
check "ractl cert list --expiring 1830d lists the usable certificates, not the revoked one" \
	python3 -c 'import json,sys; ids=[c["id"] for c in json.load(open(sys.argv[1]))["certificates"]]; assert sys.argv[2] in ids and sys.argv[3] not in ids, ids' "$work/out" "$term_a" "$term_b"
ractl cert list --expiring 1d --json
check "... and --expiring 1d none" python3 -c 'import json,sys; assert json.load(open(sys.argv[1]))["certificates"] == []' "$work/out"
ractl cert list --expiring soon
check "... a malformed duration is refused" eval 'rc_is 1 || rc_is 2'

ractl jobs schedules --json
check "ractl jobs schedules shows the four tasks with their last tick" \
	python3 -c 'import json,sys; s={x["name"]: x for x in json.load(open(sys.argv[1]))["schedules"]}; assert set(s) == {"expiry", "reminders", "term", "notify"}, s; assert s["term"]["interval_s"] == 1 and s["term"]["last_done_at"] and s["notify"]["runs"] > 0 and s["term"]["last_error"] is None, s' "$work/out"
ractl jobs schedules
check "... and as a table" eval 'rc_is 0 && grep -q "^TASK" "$work/out" && grep -q "^reminders " "$work/out"'

# ---- exactly once, over two nodes ---------------------------------------------------------------
sleep 2 # a few more ticks of both nodes
all_once() {
	python3 - "$work/mail" >"$work/err" <<'EOF'
import collections, email, email.policy, glob, sys
seen = collections.Counter()
for f in glob.glob(sys.argv[1] + "/*.eml"):
    m = email.message_from_binary_file(open(f, "rb"), policy=email.policy.default)
    seen[(m["X-Envelope-To"], str(m["Subject"]), m.get_content())] += 1
# a certificate's two term reminders share their subject (the term end): two is once each
twice = {k: v for k, v in seen.items() if v != (2 if k[1].startswith("Ihr Signaturvertrag endet am") else 1)}
print("mails:", len(seen), "more than once:", [k[:2] for k in twice])
sys.exit(1 if twice or len(seen) < 10 else 0)
EOF
}
check "every notification reached the SMTP peer exactly once (two nodes ran the notify task)" all_once
check "each mail sent is recorded once, with its audit record" \
	eval '[ "$(sql "SELECT count(*) FROM jobs WHERE kind = '"'notify'"' AND state = '"'done'"'")" = "$(sql "SELECT count(*) FROM audit_log WHERE action = '"'notify.sent'"'")" ]'
sql "SELECT j.payload::text || ' ' || a.details::text FROM jobs j JOIN audit_log a ON a.seq = (j.payload->>'seq')::bigint WHERE j.kind = 'notify' AND j.payload->>'template' = 'cert_revoked'" >"$work/err"
check "the superseded revocation of the re-key and the term's revocation sent no cert_revoked mail (their own mails said it)" \
	eval '[ "$(sql "SELECT count(*) FROM jobs WHERE kind = '"'notify'"' AND payload->>'"'template'"' = '"'cert_revoked'"'")" = 1 ]'
headers_ok() {
	python3 - "$work/mail" "$USER_MAIL" >"$work/err" <<'EOF'
import email, email.policy, glob, sys
for f in glob.glob(sys.argv[1] + "/*.eml"):
    raw = open(f, "rb").read()
    m = email.message_from_bytes(raw, policy=email.policy.default)
    if "geändert" in str(m["Subject"]) and m["X-Envelope-To"] == "<%s>" % sys.argv[2]:
        assert m["From"] == "ra@ra.example" and m["To"] == sys.argv[2], (m["From"], m["To"])
        assert m["Date"] and m["Message-ID"], "Date and Message-ID"
        assert m.get_content_type() == "text/plain" and m.get_content_charset() == "utf-8"
        assert b"=?UTF-8?" in raw or b"=?utf-8?" in raw, "a non-ASCII subject is RFC 2047 encoded"
        sys.exit(0)
sys.exit(1)
EOF
}
check "the mails are plain text with From, To, Date, Message-ID and an encoded UTF-8 subject" headers_ok

# ---- a missing template or variable stops the start ---------------------------------------------
cp -r deploy/templates "$work/tpl"
rm "$work/tpl/en/user_locked.txt"
RA_NOTIFY_TEMPLATES="$work/tpl" RA_LISTEN=127.0.0.1:0 "$RA" serve >"$work/out" 2>"$work/err"
src=$?
check "ra serve refuses to start when a template is missing, naming it" \
	eval '[ "$src" = 1 ] && grep -q "^ra: notify.templates: .*en/user_locked.txt: missing" "$work/err"'
cp deploy/templates/en/user_locked.txt "$work/tpl/en/"
sed -i 's/{{user_id}}/{{user_nr}}/' "$work/tpl/de/user_unlocked.txt"
RA_NOTIFY_TEMPLATES="$work/tpl" RA_LISTEN=127.0.0.1:0 "$RA" serve >"$work/out" 2>"$work/err"
src=$?
check "... or when one uses an unknown variable" \
	eval '[ "$src" = 1 ] && grep -q "de/user_unlocked.txt: unknown variable {{user_nr}}" "$work/err"'
sed -i 's/{{user_nr}}/{{user_id}}/' "$work/tpl/de/user_unlocked.txt"
rm "$work/tpl/de/user_id.txt"
RA_NOTIFY_TEMPLATES="$work/tpl" RA_LISTEN=127.0.0.1:0 "$RA" serve >"$work/out" 2>"$work/err"
src=$?
check "... the user-ID mail's too (R8: its words are a template as well)" \
	eval '[ "$src" = 1 ] && grep -q "^ra: notify.templates: .*de/user_id.txt: missing" "$work/err"'

# ---- shutdown ---------------------------------------------------------------------------------
check "no notify job died" eval '[ "$(sql "SELECT count(*) FROM jobs WHERE kind = '"'notify'"' AND state <> '"'done'"'")" = 0 ]'
for n in a b; do
	eval "p=\$pid_$n"
	kill -TERM "$p"; wait "$p"; rc=$?
	eval "pid_$n="
	check "node $n drains and exits 0" [ "$rc" = 0 ]
done
san_clean() {
	! grep -qE "ERROR: (Address|Leak)Sanitizer|runtime error:" "$work/a.log" "$work/b.log"
}
check "no sanitizer report in the server logs" san_clean

e2e_end
