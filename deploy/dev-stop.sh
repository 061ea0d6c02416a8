#!/bin/sh
# `make stop`: stops the peers and the PostgreSQL cluster that `make run` left running in var/.
set -eu
cd "$(dirname "$0")/.."
VAR=$PWD/var
if [ -d "$VAR/run" ]; then
	. tests/lib/peers.sh
	peer_stop_all "$VAR/run" || true
fi
[ -d "$VAR/pg" ] && tests/lib/pg.sh stop "$VAR/pg"
echo "stopped (data kept in var/; remove var/ for a fresh start)"
