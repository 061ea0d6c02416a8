#!/usr/bin/env bash
# Self-test of the external test peers (tests/peers/): starts the ident provider, the SMS
# gateway and the mail sink through tests/lib/peers.sh and checks each behaviour the RA's
# tests rely on, over real HTTP (curl) and SMTP (python3 smtplib).
# Prints "ok - ..." / "not ok - ..." per check and "N passed, M failed"; exits 1 if M > 0.
set -eu
cd "$(dirname "$0")/../.."
# shellcheck source=tests/lib/peers.sh
. tests/lib/peers.sh

. tests/lib/e2e.sh
e2e_stop() {
	peer_stop_all "$work"
}
e2e_begin peers

# http METHOD URL [curl args...]: body to $work/out, status code to $work/code
http() {
	_m=$1 _u=$2; shift 2
	curl -sS -o "$work/out" -w '%{http_code}' -X "$_m" "$@" "$_u" >"$work/code" || echo 000 >"$work/code"
}
status_is() { [ "$(cat "$work/code")" = "$1" ]; }
# out_py EXPR: evaluate a Python expression over the last JSON answer, bound to j
out_py() { python3 -c "import json,sys; j=json.load(open(sys.argv[1])); sys.exit(0 if ($1) else 1)" "$work/out"; }
answer_is() { status_is "$1" && out_py "$2"; } # answer_is STATUS EXPR
out_get() { python3 -c "import json,sys; j=json.load(open(sys.argv[1])); print($1)" "$work/out"; }

company=trustra key=test-api-key sms_token=test-sms-token
peer_start ident "$work" --company-id "$company" --api-key "$key"
peer_start sms "$work" --token "$sms_token"
peer_start mail "$work" --dir "$work/mail"
ident="http://127.0.0.1:$IDENT_PORT"
api="$ident/api/v1/$company"
sms="http://127.0.0.1:$SMS_PORT"
json=(-H 'Content-Type: application/json')

# --- ident provider ------------------------------------------------------------------------
http POST "$api/login" "${json[@]}" -d "{\"apiKey\": \"wrong\"}"
check "ident: login with a wrong apiKey gets 401" status_is 401
http POST "$ident/api/v1/othercompany/login" "${json[@]}" -d "{\"apiKey\": \"$key\"}"
check "ident: login under another company id gets 404" status_is 404
http POST "$api/login" "${json[@]}" -d "{\"apiKey\": \"$key\"}"
check "ident: login with the right apiKey gets 200 and an authToken" \
	answer_is 200 "len(j['authToken']) >= 16"
token=$(out_get 'j["authToken"]' 2>/dev/null || echo none)
auth=(-H "X-API-LOGIN-TOKEN: $token")

tx="RA-T-$(date +%s)$$"
http POST "$api/identifications/$tx/start" "${json[@]}" -d '{"firstname": "ANNA"}'
check "ident: start without a login token gets 401" status_is 401
http POST "$api/identifications/$tx/start" "${json[@]}" -H "X-API-LOGIN-TOKEN: forged" -d '{}'
check "ident: start with a token it never issued gets 401" status_is 401
http POST "$api/identifications/$tx/start" "${json[@]}" "${auth[@]}" -d '{"firstname": "ANNA"}'
check "ident: start with the token answers an ident id TST-XXXXX" \
	answer_is 200 "__import__('re').fullmatch(r'TST-[A-Z]{5}', j['id'])"
ident_id=$(out_get 'j["id"]' 2>/dev/null || echo none)
http POST "$api/identifications/$tx/start" "${json[@]}" "${auth[@]}" -d '{"firstname": "ANNA"}'
check "ident: starting the same tx again answers the same ident id" \
	answer_is 200 "j['id'] == '$ident_id'"
http GET "$ident/_control/requests"
check "ident: the start request is recorded with its header and body" \
	out_py "any(r['path'].endswith('/$tx/start') and r['status'] == 200 and r['body'] == {'firstname': 'ANNA'} and r['headers'].get('X-API-LOGIN-TOKEN') == '$token' for r in j)"

http GET "$api/identifications/$tx" "${auth[@]}"
check "ident: result of a tx without a stored result gets 404" status_is 404
http GET "$api/identifications/NO-SUCH-TX" "${auth[@]}"
check "ident: result of an unknown tx gets 404" status_is 404

cat >"$work/result.json" <<EOF
{"identificationprocess": {"result": "SUCCESS", "id": "$ident_id", "companyid": "$company",
 "transactionnumber": "$tx", "identificationtime": "2026-11-02T11:02:13+01:00"},
 "userdata": {"firstname": {"value": "ANNA", "status": "MATCH"},
              "lastname": {"value": "GRUBER", "status": "MATCH"}}}
EOF
http PUT "$ident/_control/result/$tx" "${json[@]}" --data-binary "@$work/result.json"
check "ident: control stores a result" status_is 200
http GET "$api/identifications/$tx"
check "ident: result without a login token gets 401" status_is 401
http GET "$api/identifications/$tx" "${auth[@]}"
check "ident: result with the token is the stored result" \
	answer_is 200 "j == json.load(open('$work/result.json'))"

http POST "$ident/_control/fail?count=2&status=503"
http POST "$api/login" "${json[@]}" -d "{\"apiKey\": \"$key\"}"
check "ident: injected failure 1 of 2 answers 503" status_is 503
http GET "$api/identifications/$tx" "${auth[@]}"
check "ident: injected failure 2 of 2 answers 503" status_is 503
http GET "$api/identifications/$tx" "${auth[@]}"
check "ident: after the injected failures the API answers again" status_is 200

http POST "$ident/_control/reset-tokens"
http GET "$api/identifications/$tx" "${auth[@]}"
check "ident: after reset-tokens the old token gets 401" status_is 401

# The callback goes to the SMS peer, a real HTTP server that records it and answers 401
# (it wants a bearer token): proves delivery, headers and that the RA's status comes back.
http POST "$ident/_control/callback/$tx" "${json[@]}" -d "{\"url\": \"$sms/callback\", \"token\": \"cb-secret\"}"
check "ident: callback relays the receiver's status code" \
	answer_is 200 "j['status'] == 401"
http GET "$sms/_control/requests"
check "ident: callback posted the stored result with X-Callback-Token" \
	out_py "any(r['path'] == '/callback' and r['headers'].get('X-Callback-Token') == 'cb-secret' and r['body']['identificationprocess']['transactionnumber'] == '$tx' for r in j)"

# --- SMS gateway ---------------------------------------------------------------------------
msg='{"to": "+436641234567", "text": "Your TransportPIN: 123456"}'
http POST "$sms/send" "${json[@]}" -H "Authorization: Bearer wrong" -d "$msg"
check "sms: a wrong bearer token gets 401" status_is 401
http POST "$sms/send" "${json[@]}" -d "$msg"
check "sms: no bearer token gets 401" status_is 401
http POST "$sms/send" "${json[@]}" -H "Authorization: Bearer $sms_token" -d '{"text": "x"}'
check "sms: a message without 'to' gets 400" status_is 400
http POST "$sms/send" "${json[@]}" -H "Authorization: Bearer $sms_token" -d "$msg"
check "sms: the right token gets 200 and id sms-1" answer_is 200 "j['id'] == 'sms-1'"
http POST "$sms/_control/fail?count=1"
http POST "$sms/send" "${json[@]}" -H "Authorization: Bearer $sms_token" -d "$msg"
check "sms: an injected failure answers 503" status_is 503
http GET "$sms/_control/messages"
check "sms: exactly the accepted message is recorded" \
	out_py "j == [{'id': 'sms-1', 'to': '+436641234567', 'text': 'Your TransportPIN: 123456', 'path': '/send'}]"

# --- mail sink -----------------------------------------------------------------------------
send_mail() {
	python3 - "$MAIL_PORT" <<'EOF'
import smtplib, sys
from email.message import EmailMessage
m = EmailMessage()
m["From"], m["To"], m["Subject"] = "ra@example.test", "anna.gruber@example.at", "Ihre Benutzerkennung"
m.set_content("Grüß Gott, Ihre Benutzerkennung lautet U-0001.\n")
with smtplib.SMTP("127.0.0.1", int(sys.argv[1]), timeout=10) as s:
    s.send_message(m)
EOF
}
check "mail: smtplib submits a message without AUTH" send_mail
mail_written() {
	set -- "$work"/mail/*.eml
	[ "$#" -eq 1 ] && [ -f "$1" ] && grep -q '^Subject: Ihre Benutzerkennung' "$1" &&
		grep -q '^X-Envelope-To: <anna.gruber@example.at>' "$1"
}
check "mail: one .eml with the subject and envelope is in the folder" mail_written
no_temp() { [ -z "$(find "$work/mail" -mindepth 1 ! -name '*.eml')" ]; }
check "mail: no temporary file is left behind" no_temp

# --- stopping ------------------------------------------------------------------------------
pids="$(cat "$work"/*.pid)"
peer_stop_all "$work"
all_gone() {
	for p in $pids; do
		if _peer_running "$p"; then return 1; fi
	done
	! ls "$work"/*.pid >/dev/null 2>&1
}
check "peers.sh: peer_stop_all stops every peer and removes the PID files" all_gone

e2e_end
