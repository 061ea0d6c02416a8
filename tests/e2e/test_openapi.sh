#!/usr/bin/env bash
# docs/api.yaml under `redocly lint` with the recommended rules: 0 errors and 0 warnings
# (issue #18).  @redocly/cli is installed from the npm registry into build/node (once; later
# runs reuse it).  Only when the registry cannot be reached is the check skipped, and it says so.
# Prints "ok - ..." / "not ok - ..." per check and "N passed, M failed[, K skipped]".
set -u
cd "$(dirname "$0")/../.."
REDOCLY_VERSION=2.77.0 # pinned: the rules and their findings change between versions
dir=$PWD/build/node
bin=$dir/node_modules/.bin/redocly
export REDOCLY_TELEMETRY=off REDOCLY_SUPPRESS_UPDATE_NOTICE=true NO_UPDATE_NOTIFIER=1
passed=0 failed=0
out=$(mktemp "${TMPDIR:-/tmp}/ra-openapi-XXXXXX")
trap 'rm -f "$out"' EXIT

if ! command -v npm >/dev/null || ! command -v node >/dev/null; then
	echo "not ok - node and npm are needed for redocly (deploy/install-deps.sh installs them)"
	echo "0 passed, 1 failed"
	exit 1
fi
if [ "$("$bin" --version 2>/dev/null)" != "$REDOCLY_VERSION" ]; then
	mkdir -p "$dir"
	if ! npm install --prefix "$dir" --no-audit --no-fund --no-save --loglevel=error \
		"@redocly/cli@$REDOCLY_VERSION" >"$out" 2>&1; then
		if grep -qE 'ENOTFOUND|EAI_AGAIN|ECONNREFUSED|ETIMEDOUT|ECONNRESET|ENETUNREACH|network' "$out"; then
			echo "# SKIP redocly lint: the npm registry cannot be reached ($(grep -m1 -oE 'E[A-Z_]+' "$out"))"
			echo "0 passed, 0 failed, 1 skipped"
			exit 0
		fi
		sed 's/^/#   /' "$out" | head -n 20
		echo "not ok - npm install @redocly/cli@$REDOCLY_VERSION into build/node"
		echo "0 passed, 1 failed"
		exit 1
	fi
fi
"$bin" lint --extends=recommended docs/api.yaml >"$out" 2>&1
rc=$?
# a clean run ends "Your API description is valid" with no "You have N warning(s)" after it
if [ "$rc" -eq 0 ] && grep -q 'Your API description is valid' "$out" && ! grep -qE 'You have [0-9]+ warning' "$out"; then
	echo "ok - redocly lint --extends=recommended docs/api.yaml: 0 errors, 0 warnings (@redocly/cli $REDOCLY_VERSION)"
	passed=$((passed + 1))
else
	grep -vE '[║╔╚]' "$out" | sed 's/^/#   /' | head -n 60
	echo "not ok - redocly lint --extends=recommended docs/api.yaml: 0 errors, 0 warnings"
	failed=$((failed + 1))
fi
echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
