#!/usr/bin/env bash
# The fuzz regression in `make test` (issue #20): every libFuzzer target over its corpus and
# its committed crash inputs, plus 1 s of new inputs each (7 s in all; the budget of make test) (tests/fuzz/README.md).
set -u
cd "$(dirname "$0")/../.."
exec tests/fuzz/run.sh regress "${RA_FUZZ_SECONDS:-1}"
