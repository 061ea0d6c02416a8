# The customer's way through the product, for end-to-end scripts (bash): a signed shop order,
# then the identification that the ident peer (tests/peers/ident_peer.py) reports and calls
# back.  Sourced after tests/lib/peers.sh has started the ident peer.
#
#   flow_webhook FILE URL SECRET     posts FILE to URL/v1/shop/woocommerce signed with SECRET as
#                                    WooCommerce does; the answer to FILE.answer; prints the status
#   flow_identified N IDENT URL CB   the N-th identification started at the ident peer IDENT
#                                    (base URL) succeeds with the fixture's result and the peer
#                                    calls URL/v1/ident/idnow back with the token CB; waits up
#                                    to 60 s for the identification to start; 1 on failure
#   flow_identifications IDENT       prints how many identifications the ident peer has started
#   flow_started IDENT               prints the transaction numbers of the identifications the
#                                    ident peer has started, one a line, in the order they started
#   flow_result TX IDENT             the identification TX succeeds with the fixture's result
#                                    (under the ident id the peer gave TX at its start)
#   flow_callback TX IDENT URL CB    the ident peer calls URL/v1/ident/idnow back for TX with the
#                                    token CB (a delivery; repeat it to re-deliver); prints the
#                                    RA's status, 000 when the peer could not reach the RA

flow_webhook() {
	_fsig=$(openssl dgst -sha256 -hmac "$3" -binary "$1" | base64)
	curl -s -o "$1.answer" -w '%{http_code}' -X POST -H 'Content-Type: application/json' \
		-H "X-WC-Webhook-Signature: $_fsig" -H "X-WC-Webhook-Topic: order.created" --data-binary "@$1" \
		"$2/v1/shop/woocommerce"
}

flow_identifications() {
	curl -s "$1/_control/identifications" | python3 -c 'import json,sys; print(len(json.load(sys.stdin)))'
}

flow_started() {
	curl -s "$1/_control/identifications" | python3 -c 'import json,sys; print("\n".join(json.load(sys.stdin)))'
}

flow_result() {
	# the provider's record names the ident id the peer gave at the start, as IDnow's does: each
	# identification its own (the fixture's one id for all would make every identification
	# row share it, and the TransportPIN jobs' retention update lock them all)
	_fid=$(curl -s "$2/_control/identifications" |
		python3 -c 'import json,sys; print(json.load(sys.stdin).get(sys.argv[1], ""))' "$1" 2>/dev/null)
	_fres=$(mktemp "${TMPDIR:-/tmp}/flow-result-XXXXXX")
	sed -e "s/RA-T-8F3K2Q/$1/g" ${_fid:+-e "s/TST-QWRTZ/$_fid/g"} \
		"$(dirname "${BASH_SOURCE[0]}")/../fixtures/idnow-result-success.json" >"$_fres"
	curl -sf -X PUT --data-binary @"$_fres" "$2/_control/result/$1" >/dev/null
	_frc=$?
	rm -f "$_fres"
	return "$_frc"
}

flow_callback() {
	_fcout=$(curl -s -X POST -d "{\"url\": \"$3/v1/ident/idnow\", \"token\": \"$4\"}" "$2/_control/callback/$1")
	case $_fcout in
	*'"status": '[0-9][0-9][0-9]*) _fcout=${_fcout#*\"status\": }; echo "${_fcout%%[!0-9]*}" ;;
	*) echo 000 ;;
	esac
}

flow_identified() {
	_fn=$1 _fident=$2 _furl=$3 _fcb=$4
	for _ in $(seq 1 300); do
		[ "$(flow_identifications "$_fident")" -ge "$_fn" ] && break
		sleep 0.2
	done
	[ "$(flow_identifications "$_fident")" -ge "$_fn" ] || { echo "flow: identification $_fn not started" >&2; return 1; }
	# the identifications in the order they started
	_ftx=$(curl -s "$_fident/_control/identifications" | python3 -c '
import json, sys
d = json.load(sys.stdin)
print(list(d)[int(sys.argv[1]) - 1])' "$_fn")
	flow_result "$_ftx" "$_fident" || { echo "flow: the ident peer refused the result" >&2; return 1; }
	curl -sf -X POST -d "{\"url\": \"$_furl/v1/ident/idnow\", \"token\": \"$_fcb\"}" \
		"$_fident/_control/callback/$_ftx" >/dev/null || { echo "flow: the ident callback failed" >&2; return 1; }
}
