#!/bin/sh
# `make run`: a complete local RA under var/ - a throwaway PostgreSQL cluster, a SoftHSM2
# token, the local CA, a mail sink, an ident-provider peer and an SMS peer - then `ra serve`
# in the foreground.  A second run reuses var/.  `make stop` stops what stays running.
set -eu
cd "$(dirname "$0")/.."
VAR=${RA_VAR:-$PWD/var} # RA_VAR: another place for all of it (tests/e2e/test_makerun.sh)
B=${B:-build}
PORT=${RA_PORT:-8080}
mkdir -p "$VAR/run" "$VAR/mail" "$VAR/ca" "$VAR/softhsm/tokens"
chmod 700 "$VAR/ca" "$VAR/softhsm"

# 1. PostgreSQL on a unix socket in var/pg/sock (0700), peer authentication for this OS user
#    only; `ra serve` connects as ra_app, which owns nothing, `ra migrate` as ra_owner
#    (tests/lib/pg.sh, PG_ROLES=1; docs/audit.md)
DBURL=$(PG_ROLES=1 tests/lib/pg.sh start "$VAR/pg")
OWNER_URL=$(PG_ROLES=1 tests/lib/pg.sh owner-url "$VAR/pg")

# 2. SoftHSM2 token "ra" (subscriber keys; R2)
export SOFTHSM2_CONF="$VAR/softhsm/softhsm2.conf"
if [ ! -f "$SOFTHSM2_CONF" ]; then
	printf 'directories.tokendir = %s\nobjectstore.backend = file\nlog.level = ERROR\n' "$VAR/softhsm/tokens" >"$SOFTHSM2_CONF"
fi
[ -f "$VAR/softhsm/pin" ] || { openssl rand -hex 12 >"$VAR/softhsm/pin"; chmod 600 "$VAR/softhsm/pin"; }
PIN=$(cat "$VAR/softhsm/pin")
if ! softhsm2-util --show-slots 2>/dev/null | grep -q 'Label:.*\bra\b'; then
	softhsm2-util --init-token --free --label ra --so-pin "$(openssl rand -hex 12)" --pin "$PIN" >/dev/null
fi

# 3. Peers: mail sink, ident provider, SMS gateway (local stand-ins for the real services)
. tests/lib/peers.sh
# 32 random bytes for the secrets the RA shares (config_check refuses less); a file from an
# older make run with shorter ones (no SECRETS=2 line) is made again
grep -qx 'SECRETS=2' "$VAR/run/secrets" 2>/dev/null || {
	umask 077
	printf 'SECRETS=2\nSHOP=%s\nIDENT_KEY=%s\nCALLBACK=%s\nSMS=%s\nEVIDENCE=%s\n' "$(openssl rand -hex 32)" \
		"$(openssl rand -hex 16)" "$(openssl rand -hex 32)" "$(openssl rand -hex 16)" "$(openssl rand -hex 32)" \
		>"$VAR/run/secrets"
	umask 022
}
. "$VAR/run/secrets"
peer_stop_all "$VAR/run" 2>/dev/null || true
peer_start mail "$VAR/run" --dir "$VAR/mail"
peer_start ident "$VAR/run" --company-id trustra --api-key "$IDENT_KEY"
peer_start sms "$VAR/run" --token "$SMS"

# 4. Configuration (regenerated each run so peer ports are current; secrets persist)
umask 077
cat >"$VAR/ra.json" <<JSON
{
  "listen": "127.0.0.1:$PORT",
  "database_url": "$DBURL",
  "shop": { "woocommerce_secret": "$SHOP" },
  "ident": { "base_url": "http://127.0.0.1:$IDENT_PORT", "company_id": "trustra", "api_key": "$IDENT_KEY",
             "callback_secret": "$CALLBACK", "callback_allow": "127.0.0.1" },
  "smtp": { "url": "smtp://127.0.0.1:$MAIL_PORT", "from": "ra@localhost", "tls": "none" },
  "notify": { "support_address": "support@localhost" },
  "sms": { "url": "http://127.0.0.1:$SMS_PORT/messages", "token": "$SMS" },
  "ca": { "backend": "local", "dir": "$VAR/ca", "crl_url": "http://127.0.0.1:$PORT/v1/ca/crl",
          "pds_url": "https://127.0.0.1/pds_en.pdf" },
  "pkcs11": { "module": "/usr/lib/softhsm/libsofthsm2.so", "token": "ra", "pin": "$PIN" },
  "evidence": { "key": "$EVIDENCE" },
  "products": {
    "QES-5Y": { "class": "qualified", "validity_years": 5, "contract_months": 12 },
    "AES-10Y": { "class": "advanced", "validity_years": 10, "contract_months": 12 },
    "QES-1Y": { "class": "qualified", "validity_years": 5, "contract_months": 12 },
    "AES-1Y": { "class": "advanced", "validity_years": 10, "contract_months": 12 },
    "SEAL-1Y": { "class": "seal", "validity_years": 10, "contract_months": 12 }
  },
  "default_country": "AT"
}
JSON
umask 022

# 5. Schema (as the owner), then what the application role may not do to the audit trail
#    (docs/audit.md), dev admin token
RA_DATABASE_URL=$OWNER_URL "$B/ra" --config "$VAR/ra.json" migrate
psql -qAtX -v ON_ERROR_STOP=1 "$OWNER_URL" -c "REVOKE UPDATE, DELETE, TRUNCATE ON audit_log FROM ra_app" >/dev/null
if "$B/ra" --help 2>&1 | grep -q 'token create' && [ ! -f "$VAR/run/admin-token" ]; then
	"$B/ra" --config "$VAR/ra.json" token create --name dev --role admin --no-customer-account >"$VAR/run/admin-token"
	chmod 600 "$VAR/run/admin-token"
fi
# the signing service's token (docs/signing.md): deploy/try-flow.sh activates with it
if [ ! -f "$VAR/run/signing-token" ]; then
	"$B/ra" --config "$VAR/ra.json" token create --name dev-signing --role signing --no-customer-account \
		>"$VAR/run/signing-token"
	chmod 600 "$VAR/run/signing-token"
fi

cat <<MSG

The RA runs at http://127.0.0.1:$PORT  (Ctrl-C stops it; 'make stop' stops PostgreSQL and peers)
  configuration  var/ra.json          (secrets in var/run/secrets; 'build/ra --config var/ra.json --print-config')
  database       $DBURL  (ra serve; ra migrate as ra_owner)
  mail sink      var/mail/*.eml       (SMTP on 127.0.0.1:$MAIL_PORT)
  ident peer     http://127.0.0.1:$IDENT_PORT   SMS peer http://127.0.0.1:$SMS_PORT/_control/messages
  local CA       var/ca/              token: SoftHSM2 label 'ra' (var/softhsm/)
  admin token    var/run/admin-token  (RACTL_URL=http://127.0.0.1:$PORT RACTL_TOKEN=\$(cat var/run/admin-token) build/ractl ...)
  signing token  var/run/signing-token (SIGNING_TOKEN for deploy/signing-client.py; docs/signing.md)
Try:  curl -s http://127.0.0.1:$PORT/healthz
      deploy/try-flow.sh     (a shop order all the way to an active certificate; see README)

MSG
# `make stop` stops this ra serve too (also when it was put in the background): its PID, which
# exec keeps, is the one written here
echo $$ >"$VAR/run/ra-serve.pid"
exec "$B/ra" --config "$VAR/ra.json" serve
