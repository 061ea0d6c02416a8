#!/usr/bin/env bash
# End-to-end test of the support desk's look-ups and queues (issue #17): a throwaway
# PostgreSQL, a SoftHSM2 token, the local CA, the ident, SMS and mail peers and the real
# `ra serve`, driven through the shop webhook, the ident peer's callback and the real `ractl`.
# Users, orders and the certificate are reached through the product (orders by webhook, one
# identified); SQL only reads, except where noted.
# Checks `ractl search` / `user find` by each key (mobile in three notations, user ID, name
# without case and accents, e-mail, shop order number, RA order id, certificate id and
# serial), ranking and paging of results, and bad paging values (exit 2 in ractl, 422 naming
# the field on the server); the queues (review, order, ident, cert, jobs, audit) and API
# tokens; and, recorded on an 80-column terminal with tmux (capture-pane), that the tables of
# `user show`, `cert list` and `review list` fit it with the right header and rows.
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
	[ -S "$TMUX_SOCK" ] && tmux -S "$TMUX_SOCK" kill-server 2>/dev/null
	if [ -n "$ra_pid" ]; then kill -TERM "$ra_pid" 2>/dev/null; wait "$ra_pid" 2>/dev/null; fi
}
e2e_begin desk
TMUX_SOCK=$work/tmux.sock

# ---- PostgreSQL, token, peers, ra serve -------------------------------------------------------
DB=$(tests/lib/pg.sh start "$work/pg") || die "cannot start PostgreSQL"
sql() { psql -qAtX -d "$DB" -v ON_ERROR_STOP=1 -c "$1"; }
SOFTHSM2_CONF=$(tests/lib/token.sh "$work/hsm" ra-desk 12345678 4711) || die "cannot make the token"
peer_start ident "$work/peers" --company-id trustra --api-key ident-key || die "ident peer"
peer_start sms "$work/peers" --token sms-token || die "sms peer"
peer_start mail "$work/peers" --dir "$work/mail" || die "mail sink"
IDENT="http://127.0.0.1:$IDENT_PORT" SMS="http://127.0.0.1:$SMS_PORT"
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
URL="http://127.0.0.1:$port"
SHOP_SECRET=e2e-shop-$(openssl rand -hex 32) CB_SECRET=e2e-callback-$(openssl rand -hex 32)
export SOFTHSM2_CONF RA_DATABASE_URL="$DB" RA_LISTEN="127.0.0.1:$port" RA_PKCS11_PIN=4711 \
	RA_PKCS11_TOKEN=ra-desk RA_CA_DIR="$work/ca" RA_JOBS_BACKOFF_MS=100 RA_JOBS_BACKOFF_MAX_MS=500 \
	RA_JOBS_POLL_MS=200 RA_SHOP_WOOCOMMERCE_SECRET=$SHOP_SECRET RA_DEFAULT_COUNTRY=AT \
	RA_IDENT_BASE_URL="$IDENT" RA_IDENT_COMPANY_ID=trustra RA_IDENT_API_KEY=ident-key \
	RA_IDENT_CALLBACK_SECRET=$CB_SECRET RA_SMS_URL="$SMS/v1/sms" RA_SMS_TOKEN=sms-token \
	RA_SMTP_URL="smtp://127.0.0.1:$MAIL_PORT" RA_SMTP_TLS=none \
	RA_EVIDENCE_KEY=000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f \
	RA_CA_PDS_URL=https://pki.example.test/pds_en.pdf RA_CA_CRL_URL="$URL/v1/ca/crl" \
	RA_PRODUCTS='{"QES-5Y": {"class": "qualified", "validity_years": 5, "contract_months": 12},
		"AES-10Y": {"class": "advanced", "validity_years": 10, "contract_months": 12}}'
"$RA" migrate >"$work/migrate.log" 2>&1 || { cat "$work/migrate.log"; die "ra migrate failed"; }
SUPPORT=$("$RA" token create --name sam --role support --no-customer-account) || die "support token"
ADMIN=$("$RA" token create --name root --role admin --no-customer-account) || die "admin token"
BOB=$("$RA" token create --name bob --role support --no-customer-account) || die "bob's token"
CAROL=$("$RA" token create --name carol --role support --no-customer-account --expires-in-days 30) || die "carol's token"

"$RA" serve >>"$work/ra.log" 2>&1 &
ra_pid=$!
for _ in $(seq 1 100); do
	curl -sf "$URL/healthz" >/dev/null 2>&1 && break
	sleep 0.1
done
curl -sf "$URL/healthz" >/dev/null || die "ra serve does not answer"
export RACTL_URL="$URL" RACTL_TOKEN="$SUPPORT"
export HOME="$work/home" XDG_CONFIG_HOME=
mkdir -p "$HOME"

# ---- helpers --------------------------------------------------------------------------------
out_py() { python3 -c "import json,re,sys; j=json.load(open(sys.argv[1])); sys.exit(0 if ($1) else 1)" "$work/out"; }
ractl() { "$RACTL" "$@" >"$work/out" 2>"$work/err"; echo $? >"$work/rc"; }
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
# order ID FIRST LAST EMAIL PHONE: a paid shop order for one qualified certificate
order() {
	python3 - "$work/o$1.json" "$@" <<'PY'
import json, sys
path, oid, first, last, email, phone = sys.argv[1:7]
d = json.load(open("tests/fixtures/woocommerce-order-paid.json"))
d["id"] = int(oid)
d["number"] = oid
d["order_key"] = "wc_order_desk" + oid
d["billing"].update(first_name=first, last_name=last, email=email, phone=phone)
json.dump(d, open(path, "w"), ensure_ascii=False)
PY
	s=$(flow_webhook "$work/o$1.json" "$URL" "$SHOP_SECRET")
	[ "$s" = 200 ] || die "shop order $1 refused ($s): $(cat "$work/o$1.json.answer")"
}

# ---- the customers, through the shop --------------------------------------------------------
# the first one is identified: its name is the ident fixture's
order 5100 "Anna" "Gruber" "anna.gruber@example.test" "+43 664 2000000"
order 5101 "Anna" "Müller" "anna.mueller@example.test" "+43 664 2000001"
order 5102 "ÉLODIE" "Çelik" "elodie@example.test" "0664 2000002"
order 5103 "Hans" "Mueller" "hans@example.test" "0043 664 2000003"
order 5104 "Annabell" "Berger" "annabell@example.test" "+43 664 2000004"
order 5105 "Petra" "Muller" "petra@example.test" "+43 664 2000005"
flow_identified 1 "$IDENT" "$URL" "$CB_SECRET" || die "identification"
wait_sql "SELECT count(*) FROM certificates WHERE state = 'issued' AND serial IS NOT NULL" 1 || die "no certificate issued"
crt=$(sql "SELECT id FROM certificates")
serial=$(sql "SELECT serial FROM certificates")
anna=$(sql "SELECT public_id FROM users WHERE phone_e164 = '+436642000001'")
elodie=$(sql "SELECT public_id FROM users WHERE phone_e164 = '+436642000002'")
anna_order=$(sql "SELECT id FROM orders WHERE shop_order_id = 5101")
check "intake writes the folded name with the user (libunistring: case, accents, both spellings)" \
	[ "$(sql "SELECT name_fold FROM users WHERE public_id = '$anna'")" = "anna muller | anna mueller" ]

# ---- search by each key -----------------------------------------------------------------------
first_is() { # first_is KIND ID MATCHED: the best result
	out_py "j['results'][0]['kind'] == '$1' and j['results'][0]['id'] == '$2' and j['results'][0]['matched'] == '$3'"
}
for n in "+43 664 2000001" "0664 2000001" "0043664/2000001"; do
	ractl search "$n" -o json
	check "R3: search by mobile number as '$n'" eval 'rc_is 0 && first_is user "$anna" mobile'
done
ractl search "$(echo "$anna" | tr 'A-Z' 'a-z')" -o json
check "search by user ID (any case)" eval 'rc_is 0 && first_is user "$anna" user_id'
ractl search ANNA.MUELLER@example.test -o json
check "search by e-mail (any case)" eval 'rc_is 0 && first_is user "$anna" email'
ractl search 5102 -o json
check "search by shop order number: the order, with its user" \
	out_py "j['results'][0]['kind'] == 'order' and j['results'][0]['matched'] == 'shop_order' and j['results'][0]['user_id'] == '$elodie'"
ractl search "$anna_order" -o json
check "search by RA order id" out_py "any(r['kind'] == 'order' and r['id'] == '$anna_order' and r['matched'] == 'order_id' for r in j['results'])"
ractl search "$crt" -o json
check "search by certificate id" eval 'rc_is 0 && first_is cert "$crt" certificate_id'
ractl search "$(echo "$serial" | tr 'A-F' 'a-f')" -o json
check "search by certificate serial (any case)" eval 'rc_is 0 && first_is cert "$crt" serial'
ractl search "elodie celik" -o json
check "search by name without accents finds ÉLODIE Çelik" eval 'rc_is 0 && first_is user "$elodie" name'
ractl user find "MÜLLER" -o json
check "user find MÜLLER: Müller and Muller, not Mueller (accents and case do not matter)" \
	out_py "sorted(r['last_name'] for r in j['results']) == ['Muller', 'Müller']"
ractl search "mueller" -o json
check "search mueller: the German spelling finds Müller as well as Mueller" \
	out_py "sorted(r['last_name'] for r in j['results']) == ['Mueller', 'Müller']"
ractl search "muller" -o json
check "ranked: the closer name first (Petra Muller before Anna Müller)" \
	out_py "[r['first_name'] for r in j['results']] == ['Petra', 'Anna'] and j['results'][0]['rank'] > j['results'][1]['rank']"
ractl search "ann" -o json
check "ranked: names by closeness, ties by id; each once" \
	out_py "[r['rank'] for r in j['results']] == sorted([r['rank'] for r in j['results']], reverse=True) and len(j['results']) == 3 == len(set(r['id'] for r in j['results']))"
ractl search "nobody-by-that-name" -o json
check "no match: an empty list, exit 0" eval 'rc_is 0 && out_py "j[\"results\"] == [] and j.get(\"next\") is None"'
ractl search "mu" --limit 1 -o json
p1=$(python3 -c "import json,sys; j=json.load(open(sys.argv[1])); print(j['results'][0]['id'], j['next'])" "$work/out")
next=${p1#* }
ractl search "mu" --limit 1 --after "$next" -o json
p2=$(python3 -c "import json,sys; j=json.load(open(sys.argv[1])); print(j['results'][0]['id'])" "$work/out")
ractl search "mu" --limit 50 -o json
all=$(python3 -c "import json,sys; j=json.load(open(sys.argv[1])); print(' '.join(r['id'] for r in j['results']))" "$work/out")
check "paged: page 1 and page 2 are the first two of the whole list" [ "${p1% *} $p2" = "$(echo "$all" | cut -d' ' -f1-2)" ]
ractl search "mu" --limit 1
check "a table says on stderr that more exist and how to get them" eval 'rc_is 0 && err_has "add --after 1"'
ractl search anna --limit 0
check "--limit 0: a usage error before anything is sent (exit 2)" eval 'rc_is 2 && err_has "from 1 to 500"'
ractl search anna --after x
check "a bad --after: the server refuses it naming the field, ractl exits 2" eval 'rc_is 2 && err_has "\[after\]"'
code=$(curl -s -o "$work/out" -w '%{http_code}' -H "Authorization: Bearer $SUPPORT" "$URL/v1/admin/search?q=anna&after=x")
check "a bad cursor: 422 naming the field" eval '[ "$code" = 422 ] && out_py "j[\"field\"] == \"after\""'
code=$(curl -s -o "$work/out" -w '%{http_code}' -H "Authorization: Bearer $SUPPORT" "$URL/v1/admin/search")
check "no text: 422 naming q" eval '[ "$code" = 422 ] && out_py "j[\"field\"] == \"q\""'
ractl search "Anna"
check "the table shows kind, id and name" eval 'rc_is 0 && grep -q "^KIND  *ID" "$work/out" && grep -q "Anna Müller" "$work/out"'

# ---- queues: reviews, orders, identifications, certificates, jobs, audit ----------------------
# Anna Müller's identification reports ANNA GRUBER (the ident fixture): a manual review (R7).
flow_identified 2 "$IDENT" "$URL" "$CB_SECRET" || die "identification 2"
wait_sql "SELECT state FROM orders WHERE shop_order_id = 5101" in_review || die "no review"
ractl review list -o json
check "review list: the order in review, why and since when" \
	out_py "len(j['reviews']) == 1 and j['reviews'][0]['order_id'] == $anna_order and j['reviews'][0]['reason'] and j['reviews'][0]['opened_at'] and j['reviews'][0]['user_id'] == '$anna'"
ractl review list
check "review list as a table: ORDER, WHY, SINCE" eval 'rc_is 0 && grep -q "^ORDER .*WHY .*SINCE" "$work/out"'

# ---- an 80-column terminal, recorded with tmux (capture-pane) ------------------------------
# The user, certificate and review above reached through the product (shop order, ident
# callback, issuance), shown as a person sees them: ractl on a real terminal of 80 columns,
# so the width comes from the terminal (TIOCGWINSZ), not from COLUMNS.
gruber=$(sql "SELECT public_id FROM users WHERE phone_e164 = '+436642000000'")
tmux_text() { tmux -S "$TMUX_SOCK" capture-pane -p -J -S - -t "$1"; }
tty80() { # tty80 NAME COMMAND: runs COMMAND in an 80x50 tmux pane; the recorded screen to $work/NAME.tty
	env -u COLUMNS tmux -S "$TMUX_SOCK" -f /dev/null new-session -d -s "$1" -x 80 -y 50 \
		"env -u COLUMNS $2; echo \"[exit \$?]\"; sleep 600" 2>"$work/err" || return 1
	for _ in $(seq 1 100); do tmux_text "$1" | grep -qF "[exit " && break; sleep 0.2; done
	tmux_text "$1" >"$work/$1.tty"
	cp "$work/$1.tty" "$work/out"
	grep -qF "[exit 0]" "$work/$1.tty"
}
# fits80 NAME HEADER ROW...: no recorded line is wider than 80 columns (display width, so a
# wide character counts twice), a line matches HEADER (an ERE) and each ROW ERE matches a line
fits80() {
	_f=$work/$1.tty; shift
	python3 - "$_f" "$@" <<'PY'
import re, sys, unicodedata
lines = [l.rstrip() for l in open(sys.argv[1], encoding="utf-8").read().splitlines()]
def width(s):
    return sum(0 if unicodedata.combining(c) else 2 if unicodedata.east_asian_width(c) in "WF" else 1 for c in s)
wide = [l for l in lines if width(l) > 80]
for l in wide:
    print(f"wider than 80 ({width(l)}): {l}", file=sys.stderr)
missing = [p for p in sys.argv[2:] if not any(re.search(p, l) for l in lines)]
for p in missing:
    print(f"no line matches: {p}", file=sys.stderr)
sys.exit(1 if wide or missing or len(lines) < 3 else 0)
PY
}

D16='[0-9]{4}-[0-9]{2}-[0-9]{2} [0-9]{2}:[0-9]{2}'
check "tmux, 80 columns: user show fits; its fields and its certificate table (fitted columns, the row)" \
	eval 'tty80 user80 "$RACTL user show $gruber" && fits80 user80 "^user id +$gruber\$" \
		"^mobile +\\+436642000000\$" "^name +Anna Gruber\$" "^state +pending\$" "^certificates \\(1\\):\$" \
		"^ID +CLASS +STATE +NOT-AFTER +TERM-END +REVOKED +ACTIVATED\$" \
		"^$crt +qualified +issued +$D16 +$D16 +- +-\$" "^open orders: none\$"'
check "tmux, 80 columns: cert list fits; header and the certificate's row" \
	eval 'tty80 cert80 "$RACTL cert list" && fits80 cert80 "^ID +CLASS +STATE +USER +NOT-AFTER +REVOKED\$" \
		"^$crt +qualified +issued +$gruber +$D16 +-\$"'
check "tmux, 80 columns: review list fits; the order in review with why and since when" \
	eval 'tty80 review80 "$RACTL review list" && fits80 review80 "^ORDER +NAME +WHY +SINCE\$" \
		"^$anna_order +Anna Müller +R7: identified name differs from the order +[0-9]+[smhd]\$"'
check "... and the width check sees a line that is too wide (cert list -o wide, every column)" \
	eval 'tty80 wide80 "$RACTL cert list -o wide" && ! fits80 wide80 "^ID +CLASS +STATE +SERIAL" 2>"$work/wide.err" && grep -q "^wider than 80" "$work/wide.err"'
tmux -S "$TMUX_SOCK" kill-server 2>/dev/null

ractl order list --state in_review -o json
check "order list --state in_review" out_py "[o['shop_order_id'] for o in j['orders']] == [5101]"
ractl order list -o json
check "order list: every order, oldest first" out_py "[o['shop_order_id'] for o in j['orders']] == [5100, 5101, 5102, 5103, 5104, 5105]"
ractl order list --since 2999-01-01 -o json
check "order list --since a later day: none" out_py "j['orders'] == []"
ractl order list --state bogus
check "order list --state bogus: exit 2 naming the allowed values" eval 'rc_is 2 && err_has "in_review" && [ ! -s "$work/out" ]'
code=$(curl -s -o "$work/out" -w '%{http_code}' -H "Authorization: Bearer $SUPPORT" "$URL/v1/admin/orders?state=bogus")
check "... and the server refuses it: 422 naming the field" eval '[ "$code" = 422 ] && out_py "j[\"field\"] == \"state\""'
ractl order list --since yesterday
check "order list --since yesterday: exit 2 (the server names since)" eval 'rc_is 2 && err_has "\[since\]"'
ractl ident list -o json
check "ident list: both identifications, without evidence" \
	out_py "[i['outcome'] for i in j['identifications']] == ['passed', 'review'] and all('evidence' not in i for i in j['identifications'])"
ractl ident list --outcome review -o json
check "ident list --outcome review" out_py "[i['order_id'] for i in j['identifications']] == [$anna_order]"
ractl ident list --outcome maybe
check "ident list --outcome maybe: exit 2" eval 'rc_is 2 && err_has "passed|review|rejected|failed"'
ractl ident show "$anna_order" -o json
check "ident show ORDER: the identification with its evidence" out_py "len(j['identifications']) == 1"
ractl cert list --state issued --class qualified -o json
check "cert list --state issued --class qualified" out_py "[c['id'] for c in j['certificates']] == ['$crt']"
ractl cert list --class advanced -o json
check "cert list --class advanced: none" out_py "j['certificates'] == []"
ractl cert list --class gold
check "cert list --class gold: exit 2 naming the classes" eval 'rc_is 2 && err_has "qualified|advanced|seal"'
ractl audit show --object "$anna_order" --limit 1 -o json
a1=$(python3 -c "import json,sys; j=json.load(open(sys.argv[1])); print(j['records'][0]['seq'], j['next'])" "$work/out")
ractl audit show --object "$anna_order" --limit 1 --after "${a1#* }" -o json
a2=$(python3 -c "import json,sys; j=json.load(open(sys.argv[1])); print(j['records'][0]['seq'])" "$work/out")
ractl audit show --object "$anna_order" -o json
check "audit show pages by sequence number" \
	out_py "[r['seq'] for r in j['records']][:2] == [${a1% *}, $a2] and len(j['records']) >= 2"

# 1,200 jobs.  SQL: no interface makes jobs on demand (each is the outbox of a state change);
# they are parked a day ahead under a kind no runner has, so nothing runs them meanwhile.
sql "INSERT INTO jobs (kind, payload, idempotency_key, run_at)
 SELECT 'desk.parked', jsonb_build_object('n', g), 'desk.parked:' || g, now() + interval '1 day'
 FROM generate_series(1, 1200) g"
pages=0 after=
: >"$work/ids"
while :; do
	ractl jobs list --state queued --limit 97 ${after:+--after "$after"} -o json
	rc_is 0 || break
	python3 -c "import json,sys; [print(x['id'], x['kind']) for x in json.load(open(sys.argv[1]))['jobs']]" "$work/out" >>"$work/ids"
	after=$(python3 -c "import json,sys; print(json.load(open(sys.argv[1])).get('next') or '')" "$work/out")
	pages=$((pages + 1))
	[ -n "$after" ] && [ "$pages" -lt 100 ] || break
done
want=$(sql "SELECT id FROM jobs WHERE kind = 'desk.parked' ORDER BY id" | tr '\n' ' ')
got=$(awk '$2 == "desk.parked" {print $1}' "$work/ids" | tr '\n' ' ')
check "paging through 1,200 jobs (--limit 97, --after): every one once, in id order" \
	eval '[ "$got" = "$want" ] && [ "$(awk "{print \$1}" "$work/ids" | sort | uniq -d | wc -l)" = 0 ] && [ "$pages" -ge 13 ]'
ractl jobs list --state queued --limit 5
check "a page of jobs as a table says more exist" eval 'rc_is 0 && err_has "more exist" && [ "$(grep -c desk.parked "$work/out")" = 5 ]'
ractl jobs list --limit 501
check "--limit 501: exit 2" rc_is 2
ractl jobs list --state sleeping
check "jobs list --state sleeping: exit 2" eval 'rc_is 2 && err_has "queued|running|done|dead"'

# ---- API tokens ---------------------------------------------------------------------------------
as() { _t=$1; shift; RACTL_TOKEN=$_t ractl "$@"; }
as "$ADMIN" token list -o json
check "token list (admin): every token with role and expiry, never a token or its hash" \
	eval 'rc_is 0 && out_py "[t[\"name\"] for t in j[\"tokens\"]] == [\"sam\", \"root\", \"bob\", \"carol\"] and j[\"tokens\"][3][\"expires_at\"] and j[\"tokens\"][0][\"expires_at\"] is None" && ! grep -Eq "[0-9a-f]{64}|$SUPPORT|$BOB" "$work/out"'
as "$SUPPORT" token list
check "token list needs the admin role (403, exit 1)" eval 'rc_is 1 && err_has 403'
bob_id=$(sql "SELECT id FROM support_tokens WHERE name = 'bob'")
carol_id=$(sql "SELECT id FROM support_tokens WHERE name = 'carol'")
as "$BOB" whoami
check "bob's token works" rc_is 0
as "$ADMIN" token revoke "$bob_id" --reason "laptop lost" </dev/null
check "token revoke in a pipe without --yes: refused (exit 6), nothing sent" \
	eval 'rc_is 6 && [ -z "$(sql "SELECT revoked_at FROM support_tokens WHERE id = $bob_id")" ]'
as "$ADMIN" token revoke "$bob_id" --reason "laptop lost" --yes -o json
check "token revoke --yes" eval 'rc_is 0 && out_py "j[\"active\"] is False"'
as "$BOB" whoami
check "a revoked token is refused at once (401, exit 1)" eval 'rc_is 1 && err_has 401'
as "$ADMIN" token revoke "$bob_id" --reason "again" --yes
check "revoking it again: refused (409, exit 1)" eval 'rc_is 1 && err_has "already revoked"'
as "$ADMIN" audit show --object "$bob_id" --type token -o json
check "R16: the revocation is audited with who and why" \
	out_py "[(r['action'], r['actor'], r['reason']) for r in j['records']] == [('token.revoked', 'support:root', 'laptop lost')]"
as "$ADMIN" token rotate "$carol_id" --expires-in-days 7 --reason "rotation" -o json
new=$(python3 -c "import json,sys; print(json.load(open(sys.argv[1])).get('token', ''))" "$work/out")
check "token rotate: a new token, printed once" eval 'rc_is 0 && [ ${#new} -ge 40 ]'
as "$CAROL" whoami
check "... the old one is refused at once" eval 'rc_is 1 && err_has 401'
as "$new" whoami -o json
check "... the new one works with the same name and role" out_py "j['name'] == 'carol' and j['role'] == 'support'"
check "... and expires in 7 days" \
	[ "$(sql "SELECT round(extract(epoch FROM expires_at - now()) / 86400) FROM support_tokens WHERE name = 'carol' AND revoked_at IS NULL")" = 7 ]
# SQL: an expiry is reached only by time passing
sql "UPDATE support_tokens SET expires_at = now() - interval '1 minute' WHERE name = 'carol' AND revoked_at IS NULL"
as "$new" whoami
check "an expired token is refused (401, exit 1)" eval 'rc_is 1 && err_has "expired"'
as "$ADMIN" token rotate "$carol_id" --reason "rotate a revoked one"
check "a revoked token is not rotated (409, exit 1)" rc_is 1
as "$ADMIN" contract list -o json
check "contracts with their quota usage (quota, used, remaining)" eval 'rc_is 0 && out_py "j[\"contracts\"] == []"'
ractl order approve 5101 --reason "passport checked" --dry-run -o json
check "order approve by shop order number (dry run): the RA order decided" \
	out_py "j['order_id'] == '$anna_order' and j['decision'] == 'approved' and j['dry_run'] is True"

# ---- users written by another system get their folded name at the next start ---------------
# SQL: no interface of the RA writes a user without intake; this stands for another system
# sharing the database (or a row from before migration 0014).
sql "INSERT INTO users (public_id, phone_e164, first_name, last_name, email) VALUES
 ('AAAA-AAAA-AAAA-0099', '+436642000099', 'Zoë', 'Ärmel', 'zoe@example.test')"
"$RA" migrate >>"$work/migrate.log" 2>&1
check "ra migrate fills the folded name of rows without one" \
	[ "$(sql "SELECT name_fold FROM users WHERE public_id = 'AAAA-AAAA-AAAA-0099'")" = "zoe armel | zoe aermel" ]

e2e_end
