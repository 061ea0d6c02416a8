#!/bin/sh
# Installs the Debian 12 packages the RA needs to build, test and run.  Idempotent:
# installs only what is missing; as root it runs apt-get, otherwise it prints the command.
set -eu
PKGS="build-essential pkg-config libh2o-dev libuv1-dev libpq-dev libssl-dev openssl
libcurl4-openssl-dev libjansson-dev libsqlite3-dev libcriterion-dev libphonenumber-dev libunistring-dev
postgresql-15 postgresql-client-15 softhsm2 libp11-kit-dev opensc python3 python3-aiosmtpd curl procps
util-linux cppcheck clang-format tmux man-db python3-yaml prometheus debhelper lintian
fakeroot systemd clang libclang-rt-14-dev"
missing=""
for p in $PKGS; do
	if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed'; then
		missing="$missing $p"
	fi
done
# npm (tests/e2e/test_openapi.sh installs @redocly/cli with it): any Node.js that has npm will
# do, whichever package brought it; Debian's own only when there is none
command -v npm >/dev/null 2>&1 || missing="$missing npm"
[ -z "$missing" ] && exit 0
if [ "$(id -u)" -eq 0 ]; then
	echo "install-deps: installing$missing" >&2
	export DEBIAN_FRONTEND=noninteractive
	apt-get update -q >/dev/null || true
	# shellcheck disable=SC2086
	apt-get install -y -q --no-install-recommends $missing </dev/null >/dev/null
else
	echo "install-deps: missing Debian packages. Run:" >&2
	echo "  sudo apt-get install -y$missing" >&2
	exit 1
fi
