#!/bin/sh
# Builds the benchmark programs (tests/bench/*.c) into build/bench/ with the flags the
# Makefile uses for release builds; the RA's libraries must be built first (make SAN=0 all).
set -eu
cd "$(dirname "$0")/../.."
out=build/bench
mkdir -p "$out"
PKGS="libh2o libuv libpq openssl libcurl jansson"
CC=${CC:-cc}
CXX=${CXX:-c++}
CFLAGS="-std=c17 -g -O2 -D_FORTIFY_SOURCE=2 -Wall -Wextra -Werror -Wshadow -Wstrict-prototypes -Wformat=2 -pthread"
# shellcheck disable=SC2046
CPPFLAGS="-I. -D_GNU_SOURCE $(pkg-config --cflags $PKGS)"
# the libraries the Makefile links ra with (one list: make print-ldlibs)
LIBS="$(make -s --no-print-directory print-ldlibs)"
for lib in build/libra.a build/libcab.a build/libwf.a build/libbase.a; do
	[ -f "$lib" ] || { echo "bench/build.sh: $lib missing; run make SAN=0 all" >&2; exit 1; }
done
# shellcheck disable=SC2086
$CC $CPPFLAGS $CFLAGS -c tests/bench/bu.c -o "$out/bu.o"
for p in bench_intake bench_stages bench_keys bench_revoke; do
	# shellcheck disable=SC2086
	$CC $CPPFLAGS $CFLAGS -c "tests/bench/$p.c" -o "$out/$p.o"
	# shellcheck disable=SC2086
	$CXX -o "$out/$p" "$out/$p.o" "$out/bu.o" build/libra.a build/libcab.a build/libwf.a build/libbase.a $LIBS
done
