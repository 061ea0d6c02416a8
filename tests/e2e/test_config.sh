#!/usr/bin/env bash
# The `ra` command line and configuration loader as an operator meets them (issue #18):
# global options before or after the command, unknown arguments refused, every fail-fast case
# of config_check naming its key (for `ra serve` and `ra --print-config` alike), secrets from
# systemd credentials ($CREDENTIALS_DIRECTORY), and that every configuration key the docs name
# is one the loader knows (and every key the loader knows is in docs/configuration.md).
# Prints "ok - ..." / "not ok - ..." per check and "N passed, M failed"; exits 1 if M > 0.
set -u
cd "$(dirname "$0")/../.."
B=${RA_TEST_BIN:-build}
RA=$PWD/$B/ra

. tests/lib/e2e.sh
own_pg=
e2e_begin config

# run ARGS...: `ra` with a clean RA_* environment; exit status in $work/rc, stderr in $work/err
run() {
	env -u CREDENTIALS_DIRECTORY $(env | sed -n 's/^\(RA_[A-Z0-9_]*\)=.*/-u \1/p' | grep -v 'RA_TEST') \
		"${ENVS[@]}" timeout 60 "$RA" "$@" >"$work/out" 2>"$work/err" # a serve that starts is a failure: bounded
	echo $? >"$work/rc"
}
ENVS=()
rc_is() { [ "$(cat "$work/rc")" = "$1" ]; }
err_has() { grep -qF -- "$1" "$work/err"; }
fails_naming() { rc_is "$1" && err_has "$2"; } # fails_naming STATUS TEXT

# ---- a database for migrate ----------------------------------------------------------------
if [ -n "${RA_TEST_PG_URL:-}" ]; then
	PG=$RA_TEST_PG_URL
else
	PG=$(tests/lib/pg.sh start "$work/pg") || { echo "setup: cannot start PostgreSQL" >&2; exit 1; }
	own_pg=1
fi
dbname="cfg_$$_$RANDOM"
psql -qAtX -d "$PG" -c "CREATE DATABASE $dbname" >/dev/null || { echo "setup: cannot create a database" >&2; exit 1; }
DB=$(python3 -c 'import re, sys; print(re.sub(r"^(postgres(?:ql)?://[^/?]*)/[^?]*", r"\g<1>/" + sys.argv[2], sys.argv[1]))' \
	"$PG" "$dbname")
cat >"$work/ra.json" <<JSON
{ "database_url": "$DB", "listen": "127.0.0.1:0" }
JSON

# ---- global options anywhere, unknown arguments refused ------------------------------------
ENVS=()
run migrate --config "$work/ra.json"
check "ra migrate --config FILE: a trailing --config is read (schema migrated)" \
	eval 'rc_is 0 && grep -q "schema at version" "$work/out"'
run --config "$work/ra.json" migrate
check "ra --config FILE migrate: the leading form still works" rc_is 0
run migrate "--config=$work/ra.json"
check "ra migrate --config=FILE works" rc_is 0
# a database migrated before a lower-numbered migration landed (0016 came after 0018 and 0019)
# lacks it although its newest version is this ra's; SQL takes the row away because no
# interface makes an old schema
psql -qAtX -d "$DB" -c "DELETE FROM schema_migrations WHERE version = 16" >/dev/null
run serve --config "$work/ra.json"
check "ra serve refuses a schema that lacks a migration below its newest, naming it" \
	fails_naming 1 "lacks migration 0016"
run migrate --config "$work/ra.json"
check "... and ra migrate applies the one missing" \
	eval 'rc_is 0 && [ "$(psql -qAtX -d "$DB" -c "SELECT count(*) FROM schema_migrations WHERE version = 16")" = 1 ]'
run migrate
check "ra migrate without a configuration names database_url" fails_naming 1 "database_url"
run serve --bogus
check "ra serve --bogus: unknown argument after the command, exit 2, named" fails_naming 2 "'--bogus'"
run --bogus serve
check "ra --bogus serve: unknown option before the command, exit 2, named" fails_naming 2 "'--bogus'"
run migrate extra --config "$work/ra.json"
check "ra migrate extra: a stray argument is refused, exit 2, named" fails_naming 2 "'extra'"
run --config "$work/ra.json" audit verify extra
check "ra audit verify extra: refused, exit 2" rc_is 2
run frobnicate
check "ra frobnicate: unknown command, exit 2, named" fails_naming 2 "'frobnicate'"
run --config
check "ra --config without FILE: exit 2" fails_naming 2 "--config"
run --print-config serve
check "ra --print-config serve: --print-config takes no command, exit 2" rc_is 2
run serve --help
check "ra serve --help: help after the command prints usage, exit 0" eval 'rc_is 0 && grep -q "usage: ra" "$work/out"'

# ---- fail fast: each configured feature's keys, named, for serve and --print-config --------
EVKEY=000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f
IDENT=(RA_DATABASE_URL="$DB" RA_IDENT_BASE_URL=http://127.0.0.1:9 RA_IDENT_COMPANY_ID=c RA_IDENT_API_KEY=k
	RA_IDENT_CALLBACK_SECRET=cb-4f3e2d1c0b9a8f7e6d5c4b3a29180f1e2d3c4b5a6978)
QUAL='{"QES-5Y": {"class": "qualified", "validity_years": 5, "contract_months": 12}}'
# both STATUS TEXT NAME: `ra serve` and `ra --print-config` both fail with STATUS naming TEXT
both() {
	run serve
	check "serve: $3 (names $2)" fails_naming "$1" "$2"
	run --print-config
	check "--print-config exits 1 as serve would: $3 (names $2)" fails_naming "$1" "$2"
}
ENVS=("${IDENT[@]}")
both 1 "evidence.key" "ident configured without evidence.key"
ENVS=("${IDENT[@]}" RA_EVIDENCE_KEY=$EVKEY)
run --print-config
check "--print-config exits 0 once ident has everything it needs" rc_is 0
ENVS=(RA_DATABASE_URL="$DB" RA_IDENT_BASE_URL=http://127.0.0.1:9 RA_EVIDENCE_KEY=$EVKEY)
both 1 "ident.company_id" "ident configured without ident.company_id"
ENVS=(RA_DATABASE_URL="$DB" RA_PRODUCTS="$QUAL")
both 1 "ca.pds_url" "a qualified product without ca.pds_url (no placeholder default)"
ENVS=(RA_DATABASE_URL="$DB" RA_PRODUCTS="$QUAL" RA_CA_PDS_URL=http://pki.example.test/pds.pdf)
both 1 "ca.pds_url must be an https:// URL" "a PDS URL that is not https"
ENVS=(RA_DATABASE_URL="$DB" RA_PRODUCTS="$QUAL" RA_CA_PDS_URL=https://pki.example.test/pds.pdf)
run --print-config
check "--print-config exits 0 with a qualified product and a real ca.pds_url" rc_is 0
check "--print-config shows no placeholder PDS URL" eval '! grep -q "ra.example" "$work/out"'
ENVS=(RA_DATABASE_URL="$DB" RA_PKCS11_PIN=4711 RA_CA_PDS_URL=https://pki.example.test/pds.pdf)
both 1 "ca.crl_url" "the local CA running (pkcs11.pin) without ca.crl_url"
ENVS=(RA_DATABASE_URL="$DB" RA_CA_CRL_HOURS=0)
both 1 "ca.crl_hours" "ca.crl_hours out of 1..240"
ENVS=(RA_DATABASE_URL="$DB" RA_CA_BACKEND=cmp)
both 1 "cmp.url" "ca.backend=cmp without cmp.url"
ENVS=(RA_DATABASE_URL="$DB" RA_SMS_URL=http://127.0.0.1:9/sms)
both 1 "sms.token" "sms.url without sms.token"
ENVS=(RA_DATABASE_URL="$DB" RA_TLS_CERT=/nonexistent.pem)
both 1 "tls.key" "tls.cert without tls.key"
ENVS=(RA_DATABASE_URL="$DB" RA_SMTP_USER=ra)
both 1 "smtp.password" "smtp.user without smtp.password"
# placeholder and weak secrets (issue #20): refused at start-up, named, never printed
ENVS=(RA_DATABASE_URL="$DB" RA_SHOP_WOOCOMMERCE_SECRET=set-me)
both 1 "shop.woocommerce_secret" "the example's placeholder set-me"
ENVS=(RA_DATABASE_URL="$DB" RA_SMS_URL=http://127.0.0.1:9/sms RA_SMS_TOKEN=changeme)
both 1 "sms.token" "a placeholder in a secret the RA does not generate"
ENVS=(RA_DATABASE_URL="$DB" RA_IDENT_CALLBACK_SECRET=short-but-not-32-bytes-12)
both 1 "ident.callback_secret" "a callback secret of less than 32 bytes of entropy"
ENVS=(RA_DATABASE_URL="$DB" RA_SHOP_WOOCOMMERCE_SECRET=$(printf 'ab%.0s' $(seq 40)))
both 1 "shop.woocommerce_secret" "a long secret of two characters"
check "... and the weak value is not printed" eval '! grep -q "ababab" "$work/out" "$work/err"'
ENVS=(RA_DATABASE_URL="$DB" RA_SHOP_WOOCOMMERCE_SECRET=$(openssl rand -hex 32) RA_CMP_SECRET=$(openssl rand -base64 32) RA_CMP_REFERENCE=ra-test)
run --print-config
check "--print-config exits 0 with secrets from openssl rand (hex and base64)" rc_is 0
ENVS=(RA_DATABASE_URL="$DB")
run --config deploy/ra.example.json --print-config
check "deploy/ra.example.json as it stands is refused for its placeholders" fails_naming 1 "shop.woocommerce_secret"
ENVS=()
both 1 "database_url" "no database_url"
ENVS=(RA_DATABASE_URL="$DB")
run --print-config
check "--print-config lists every key, unset ones as null" eval 'rc_is 0 && grep -q "\"pds_url\": null" "$work/out"'

# ---- secrets from systemd credentials --------------------------------------------------------
cred=$work/creds
mkdir -m 700 "$cred"
printf '%s\n' "$DB" >"$cred/database_url"
printf 'unused\n' >"$cred/listen"
ENVS=(CREDENTIALS_DIRECTORY="$cred")
run migrate
check "credentials: database_url read from \$CREDENTIALS_DIRECTORY/database_url (migrate connects)" rc_is 0
ENVS=(CREDENTIALS_DIRECTORY="$cred" RA_DATABASE_URL="postgresql:///nonexistent_db_$$?host=$work")
run migrate
check "credentials: an RA_* variable overrides the credential" rc_is 1
ENVS=(CREDENTIALS_DIRECTORY="$cred")
run --print-config
check "credentials: only secret keys are read (a 'listen' file is ignored)" \
	eval 'grep -q "\"listen\": \"127.0.0.1:8080\"" "$work/out"'
check "credentials: the secret is masked in --print-config" eval '! grep -qF "$DB" "$work/out"'
rm "$cred/database_url"
printf '%s' "$DB" >"$cred/ra_database_url"
run migrate
check "credentials: the directory form (LoadCredential=ra:DIR gives ra_<key>) is read" rc_is 0
printf '%s' "$DB" >"$cred/database_url"
run migrate
check "credentials: <key> and ra_<key> both present is refused, naming the key" fails_naming 1 "database_url"
rm "$cred/database_url" "$cred/ra_database_url"
printf '%s\n' "$EVKEY" >"$cred/evidence.key"
ENVS=(CREDENTIALS_DIRECTORY="$cred" "${IDENT[@]}")
run --print-config
check "credentials: evidence.key from a credential file satisfies ident's needs" rc_is 0

# ---- every key the docs name is one the loader knows ----------------------------------------
ENVS=(RA_DATABASE_URL="$DB")
run --print-config
docs_keys_known() {
	python3 - "$work/out" <<'EOF'
import glob, json, re, sys
cfg = json.load(open(sys.argv[1]))
known = set()
def walk(o, pre):
    for k, v in o.items():
        p = pre + k
        if p == "products" or not isinstance(v, dict):
            known.add(p)
        else:
            walk(v, p + ".")
walk(cfg, "")
sections = {k.split(".")[0] for k in known}
envs = {"RA_" + k.replace(".", "_").upper() for k in known}
# Names the code logs as events (log_info("jobs.started", ...)) look like keys but are not.
events = set()
for f in glob.glob("ra/**/*.c", recursive=True):
    events |= set(re.findall(r'log_(?:debug|info|warn|error)\("([a-z0-9_.]+)"', open(f).read()))
# Environment names that are not configuration keys: error codes (RA_E_*), the test runner's
# (RA_TEST_*), the config path (RA_CONFIG) and make run's port (RA_PORT).
env_other = re.compile(r"RA_(E_[A-Z_]*|TEST_[A-Z_]+|CONFIG|PORT)$")
files = sorted(glob.glob("docs/*.md")) + ["README.md"]
bad, seen = [], set()
for f in files:
    text = re.sub(r"```.*?```", "", open(f).read(), flags=re.S)  # code blocks show commands, not keys
    for span in re.findall(r"`([^`\n]+)`", text):
        for tok in re.findall(r"(?<![\w./-])([a-z][a-z0-9_]*(?:\.[a-z0-9_]+)+)(?![\w/(-])", span):
            if tok.split(".")[0] not in sections or tok in events:
                continue
            if re.search(r"\.(c|h|cc|md|json|pem|sql|sh|py|yaml|so|service)$", tok):
                continue  # a file name
            seen.add(tok)
            if tok not in known:
                bad.append("%s: %s" % (f, tok))
    for tok in re.findall(r"\bRA_[A-Z0-9_]+\b", open(f).read()):
        if not env_other.match(tok) and tok not in envs:
            bad.append("%s: %s" % (f, tok))
conf = open("docs/configuration.md").read()
undocumented = sorted(known - set(re.findall(r"`([a-z0-9_.]+)`", conf)))
if bad or undocumented or len(seen) < 40:
    print("unknown to the loader:", bad, "\nnot in docs/configuration.md:", undocumented,
          "\nkeys seen in docs:", len(seen), file=sys.stderr)
    sys.exit(1)
print("# %d keys named in docs/, all known; %d loader keys, all in docs/configuration.md" % (len(seen), len(known)))
EOF
}
check "every configuration key named in docs/ is known to the loader, and every loader key is documented" \
	docs_keys_known

e2e_end
