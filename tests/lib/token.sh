#!/bin/sh
# token.sh DIR [LABEL] [SO_PIN] [PIN] - a SoftHSM2 token for tests and `make run`.
# Writes DIR/softhsm2.conf (tokens under DIR/tokens), initialises a token labelled LABEL
# (default ra-dev) unless one with that label exists, and prints the conf path, so:
#   export SOFTHSM2_CONF=$(tests/lib/token.sh var/hsm ra-dev 12345678 1234)
# The RA then finds the token by label (pkcs11.token) with the user PIN (pkcs11.pin).
set -eu
dir=$1; label=${2:-ra-dev}; so_pin=${3:-12345678}; pin=${4:-1234}
command -v softhsm2-util >/dev/null || { echo "token.sh: softhsm2-util not found; run deploy/install-deps.sh" >&2; exit 1; }
mkdir -p "$dir/tokens"
dir=$(cd "$dir" && pwd)
conf="$dir/softhsm2.conf"
if [ ! -f "$conf" ]; then
	printf 'directories.tokendir = %s/tokens\nobjectstore.backend = file\nlog.level = ERROR\nslots.removable = false\n' "$dir" >"$conf"
fi
export SOFTHSM2_CONF="$conf"
if ! softhsm2-util --show-slots 2>/dev/null | grep -q "Label: *$label *\$"; then
	softhsm2-util --init-token --free --label "$label" --so-pin "$so_pin" --pin "$pin" >/dev/null
fi
echo "$conf"
