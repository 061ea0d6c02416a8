#!/usr/bin/env bash
# Installing and packaging as an operator would (issue #18): `make install DESTDIR=...` lays out
# binaries, man pages, units, examples; `systemd-analyze verify` on the installed units is clean
# and `systemd-analyze security --offline=true` rates both units at most 2.0 (the figures are
# printed); the Debian package builds from the tree with `dpkg-buildpackage -us -uc`, lintian
# finds no error in it, and (as root) it installs: system users ra and ca-bridge, directories
# with their modes, the units; then it is purged again.
# Prints "ok - ..." / "not ok - ..." per check and "N passed, M failed"; exits 1 if M > 0.
set -u
cd "$(dirname "$0")/../.."
B=${RA_TEST_BIN:-build}
case $B in build/san | */build/san) SAN=1 ;; *) SAN=0 ;; esac

. tests/lib/e2e.sh
installed=
e2e_stop() {
	if [ -n "$installed" ]; then dpkg --purge ra ra-ca-bridge >/dev/null 2>&1; fi
}
e2e_begin install

mode_is() { [ "$(stat -c '%a %U:%G' "$1" 2>/dev/null)" = "$2" ] || { stat -c '%n %a %U:%G' "$1" >"$work/err" 2>&1; return 1; }; }

# ---- make install DESTDIR ---------------------------------------------------------------------
root=$work/root
make --no-print-directory SAN=$SAN install DESTDIR="$root" PREFIX=/usr >"$work/install.log" 2>&1
rc=$?
cp "$work/install.log" "$work/err"
check "make install DESTDIR=... PREFIX=/usr succeeds" [ "$rc" = 0 ]
for f in usr/bin/ra usr/bin/ractl usr/bin/ca-bridge; do
	check "installed $f (executable)" [ -x "$root/$f" ]
done
for f in usr/share/man/man8/ra.8 usr/share/man/man8/ca-bridge.8 lib/systemd/system/ra.service \
	lib/systemd/system/ca-bridge.service usr/share/ra/ra.example.json usr/share/ra/ra-alerts.yml \
	usr/share/ra/ra-dashboard.json usr/share/doc/ra/operations.md etc/ra/softhsm2.conf \
	etc/ca-bridge/ca-bridge.env; do
	check "installed $f" [ -s "$root/$f" ]
done
check "installed usr/share/man/man1/ractl.1 (generated from ractl's command table)" \
	[ -s "$root/usr/share/man/man1/ractl.1" ]
templates() { [ -f "$root/usr/share/ra/templates/de/cert_revoked.txt" ] && [ -f "$root/usr/share/ra/templates/en/cert_revoked.txt" ]; }
check "the mail templates (de, en) are installed" templates
check "units name the installed binaries (no placeholders left)" \
	eval '! grep -l "@[A-Z]*@" "$root"/lib/systemd/system/*.service && grep -q "^ExecStart=/usr/bin/ra " "$root/lib/systemd/system/ra.service"'
check "the installed ra runs (migrations built in: ra --version)" eval '"$root/usr/bin/ra" --version | grep -q "^ra "'
make --no-print-directory SAN=$SAN install DESTDIR="$work/local" PREFIX=/usr/local >/dev/null 2>&1
check "make install PREFIX=/usr/local puts units beside the prefix" \
	eval 'grep -q "^ExecStart=/usr/local/bin/ra " "$work/local/usr/local/lib/systemd/system/ra.service"'

# ---- systemd-analyze: verify and security ------------------------------------------------------
# verify resolves dependencies (sysinit.target ...) and the Documentation= man pages: the
# system's own targets go beside the installed tree, man reads the installed pages.
aroot=$work/aroot
cp -a "$root" "$aroot"
mkdir -p "$aroot/usr/lib/systemd/system" "$aroot/etc/systemd/system"
cp -a /lib/systemd/system/*.target "$aroot/usr/lib/systemd/system/" 2>/dev/null
cp "$aroot"/lib/systemd/system/*.service "$aroot/etc/systemd/system/"
verify_clean() {
	(cd "$aroot" && MANPATH="$aroot/usr/share/man" systemd-analyze verify --root="$aroot" \
		/etc/systemd/system/ra.service /etc/systemd/system/ca-bridge.service) >"$work/err" 2>&1 &&
		[ ! -s "$work/err" ]
}
check "systemd-analyze verify on the installed ra.service and ca-bridge.service: clean" verify_clean
for u in ra ca-bridge; do
	systemd-analyze security --offline=true --root="$aroot" "$u.service" >"$work/sec-$u" 2>&1
	figure=$(sed -n "s/.*Overall exposure level for $u.service: \([0-9.]*\).*/\1/p" "$work/sec-$u")
	echo "# systemd-analyze security --offline=true $u.service: exposure ${figure:-?}"
	cp "$work/sec-$u" "$work/err"
	check "$u.service exposure ${figure:-?} <= 2.0" awk -v f="${figure:-99}" 'BEGIN { exit !(f <= 2.0) }'
done
check "ra.service takes secrets by LoadCredential=, not environment files" \
	eval 'grep -q "^LoadCredential=ra:/etc/ra/credentials" "$root/lib/systemd/system/ra.service" &&
	      ! grep -q "^EnvironmentFile=" "$root/lib/systemd/system/ra.service"'
check "the two services run as separate users" \
	eval '[ "$(sed -n "s/^User=//p" "$root/lib/systemd/system/ra.service")" = ra ] &&
	      [ "$(sed -n "s/^User=//p" "$root/lib/systemd/system/ca-bridge.service")" = ca-bridge ]'

# ---- the Debian package -------------------------------------------------------------------------
# Built from the tree as committed (git ls-files), like a clean checkout would be.
src=$work/src/ra
mkdir -p "$src"
if git rev-parse --git-dir >/dev/null 2>&1; then
	git ls-files -z | tar --null -T - -cf - | tar -xf - -C "$src"
else
	tar --exclude=./build --exclude=./var -cf - . | tar -xf - -C "$src"
fi
# Both cores, -O0 (noopt: the packaging is checked here, not the optimiser; a release build
# leaves it out), no debug-symbol packages (they double the packing).
(cd "$src" && DEB_BUILD_OPTIONS="parallel=$(nproc) noopt noautodbgsym" dpkg-buildpackage -us -uc) \
	>"$work/deb.log" 2>&1
rc=$?
tail -n 15 "$work/deb.log" >"$work/err"
check "dpkg-buildpackage -us -uc builds the packages from the tree" [ "$rc" = 0 ]
deb_ra=$(ls "$work"/src/ra_*.deb 2>/dev/null | head -n 1)
deb_cab=$(ls "$work"/src/ra-ca-bridge_*.deb 2>/dev/null | head -n 1)
check "two binary packages: ra and ra-ca-bridge" [ -n "$deb_ra" ] && [ -n "$deb_cab" ]
lintian_clean() {
	lintian --fail-on error "$work"/src/ra_*.changes >"$work/lintian" 2>&1
	_rc=$?
	echo "# lintian: $(grep -c '^E:' "$work/lintian") errors, $(grep -c '^W:' "$work/lintian") warnings"
	grep -E '^(E|W):' "$work/lintian" | sed 's/^/#   /' | head -n 20
	cp "$work/lintian" "$work/err"
	[ "$_rc" = 0 ] && ! grep -q '^E:' "$work/lintian"
}
if command -v lintian >/dev/null; then
	check "lintian: no errors in the packages" lintian_clean
else
	echo "lintian missing (deploy/install-deps.sh installs it)" >"$work/err"
	check "lintian is installed" false
fi
contents() {
	dpkg-deb -c "$deb_ra" >"$work/c1" 2>&1 && dpkg-deb -c "$deb_cab" >"$work/c2" 2>&1 &&
		grep -q ' ./lib/systemd/system/ra.service$' "$work/c1" && grep -q ' ./usr/bin/ca-bridge$' "$work/c2"
}
check "the ra package holds ra.service, ra-ca-bridge holds ca-bridge" contents

if [ "$(id -u)" = 0 ] && [ -n "$deb_ra" ] && [ -n "$deb_cab" ]; then
	installed=1
	dpkg -i "$deb_ra" "$deb_cab" >"$work/err" 2>&1
	check "the packages install (dpkg -i)" [ $? = 0 ]
	check "system users ra and ca-bridge exist, separate" \
		eval 'id -u ra >/dev/null && id -u ca-bridge >/dev/null && [ "$(id -u ra)" != "$(id -u ca-bridge)" ]'
	check "/etc/ra is root:ra 0750" mode_is /etc/ra "750 root:ra"
	check "/etc/ra/credentials is root:root 0700" mode_is /etc/ra/credentials "700 root:root"
	check "/var/lib/ra is ra:ra 0700" mode_is /var/lib/ra "700 ra:ra"
	check "/etc/ca-bridge/credentials is root:root 0700" mode_is /etc/ca-bridge/credentials "700 root:root"
	check "/var/lib/ca-bridge is ca-bridge:ca-bridge 0700" mode_is /var/lib/ca-bridge "700 ca-bridge:ca-bridge"
	check "/etc/ca-bridge/ca-bridge.env is root:ca-bridge 0640" mode_is /etc/ca-bridge/ca-bridge.env "640 root:ca-bridge"
	pkgver=$(dpkg-query -W -f '${Version}' ra)
	check "the installed ra reports the package version ($pkgver)" eval '[ "$(/usr/bin/ra --version)" = "ra $pkgver" ]'
	sysverify() { systemd-analyze verify /lib/systemd/system/ra.service /lib/systemd/system/ca-bridge.service \
		>"$work/err" 2>&1 && [ ! -s "$work/err" ]; }
	check "systemd-analyze verify on the units as the package installed them: clean" sysverify
	dpkg --purge ra ra-ca-bridge >"$work/err" 2>&1
	check "the packages purge again" [ $? = 0 ]
	installed=
else
	echo "# not root: the package is built and checked, not installed"
fi

e2e_end
