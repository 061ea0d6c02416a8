#!/usr/bin/env bash
# The fuzz regression in `make test` (issue #20): every libFuzzer target over its corpus and
# its committed crash inputs, plus 2 s of new inputs each (tests/fuzz/README.md).
set -u
cd "$(dirname "$0")/../.."
exec tests/fuzz/run.sh regress "${RA_FUZZ_SECONDS:-2}"
