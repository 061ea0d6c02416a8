#!/bin/sh
# Walks one shop order through the RA started by `make run`, the way the real peers would:
# a signed WooCommerce webhook, the invitation e-mail, a successful video identification
# reported by the ident peer, the certificates issued, the user-ID mail and TransportPIN SMS;
# then, as the signing service would (deploy/signing-client.py), the user activates the
# certificate with the PIN from the SMS and the credentials are listed.
# Run it in a second terminal while `make run` is running.
set -eu
cd "$(dirname "$0")/.."
CFG=var/ra.json
[ -f "$CFG" ] || { echo "try-flow: start 'make run' first" >&2; exit 1; }
py() { python3 -c "import json,sys; c=json.load(open('$CFG')); print($1)"; }
RA="http://$(py "c['listen']")"
IDENT=$(py "c['ident']['base_url']")
SECRET=$(py "c['shop']['woocommerce_secret']")
CALLBACK=$(py "c['ident']['callback_secret']")
SMS=$(py "c['sms']['url'].rsplit('/',1)[0]")
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
sms_count() { curl -s "$SMS/_control/messages" | python3 -c 'import json,sys; print(len(json.load(sys.stdin)))'; }
sms_before=$(sms_count) # a second run waits for its own TransportPIN, not the last run's

# 1. the shop's webhook: the fixture with a fresh order id, signed as WooCommerce signs
oid=$(date +%s)
sed "s/\"id\":[0-9]*/\"id\":$oid/" tests/fixtures/woocommerce-order-paid.json >"$tmp/order.json"
sig=$(openssl dgst -sha256 -hmac "$SECRET" -binary "$tmp/order.json" | base64)
echo "1. POST /v1/shop/woocommerce (shop order $oid)"
curl -s -H 'Content-Type: application/json' -H 'X-WC-Webhook-Topic: order.created' \
	-H "X-WC-Webhook-Signature: $sig" --data-binary @"$tmp/order.json" "$RA/v1/shop/woocommerce"; echo

# 2. the invitation job starts an identification at the provider and mails the link
printf '2. waiting for the identification to be started'
tx=""
for _ in $(seq 1 50); do
	tx=$(curl -s "$IDENT/_control/identifications" | python3 -c 'import json,sys; d=json.load(sys.stdin); print(sorted(d)[-1] if d else "")')
	[ -n "$tx" ] && break
	printf .; sleep 0.2
done
echo " transaction $tx; invitation mail: $(ls -t var/mail/*.eml 2>/dev/null | head -n 1)"

# 3. the provider reports SUCCESS (the fixture result for this transaction) and calls back
sed "s/RA-T-8F3K2Q/$tx/g" tests/fixtures/idnow-result-success.json >"$tmp/result.json"
curl -s -X PUT --data-binary @"$tmp/result.json" "$IDENT/_control/result/$tx" >/dev/null
echo "3. ident peer calls back: $(curl -s -X POST -d "{\"url\": \"$RA/v1/ident/idnow\", \"token\": \"$CALLBACK\"}" \
	"$IDENT/_control/callback/$tx")"

# 4. issuance: key on the token, certificate from the local CA, TransportPIN by SMS
printf '4. waiting for the TransportPIN SMS'
for _ in $(seq 1 100); do
	n=$(sms_count)
	[ "$n" -gt "$sms_before" ] && break
	printf .; sleep 0.2
done
echo " $n SMS at the gateway peer ($SMS/_control/messages)"
echo "5. mails in var/mail/:"; ls var/mail/

# 6. activation at the signing service: the user ID from the mail, credential and TransportPIN
#    from the SMS (this order's certificate: the newest message that names one)
printf '6. waiting for the user-ID mail'
uid=""
for _ in $(seq 1 50); do
	uid=$(grep -h -o 'Your user ID: [0-9A-Z-]*' var/mail/*.eml 2>/dev/null | tail -n 1 | cut -d' ' -f4)
	[ -n "$uid" ] && break
	printf .; sleep 0.2
done
curl -s "$SMS/_control/messages" | python3 -c '
import json, re, sys
hits = [re.search(r"certificate (\S+): (\d+)", m["text"]) for m in json.load(sys.stdin)]
hits = [h for h in hits if h]
print(hits[-1].group(1), hits[-1].group(2)) if hits else print("")' >"$tmp/pin"
read -r cred pin <"$tmp/pin" || true
echo " user $uid, credential $cred"
if [ -f var/run/signing-token ] && [ -n "$uid" ] && [ -n "${cred:-}" ]; then
	export SIGNING_URL=$RA SIGNING_TOKEN=$(cat var/run/signing-token)
	echo "7. the signing service activates $cred with the TransportPIN (POST /v1/signing/activations):"
	deploy/signing-client.py activate "$uid" "$cred" "$pin" || true
	echo "8. and lists the user's credentials (POST /csc/v2/credentials/list):"
	deploy/signing-client.py list "$uid" --info || true
fi
if [ -f var/run/admin-token ]; then
	echo "9. the user, as support sees it:"
	RACTL_URL=$RA RACTL_TOKEN=$(cat var/run/admin-token) build/ractl user show +436641234567 || true
fi
