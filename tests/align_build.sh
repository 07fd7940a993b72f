#!/bin/sh
# tests/align_build.sh -- the library built with STRATA_CHECK_INTERIOR=1,
# whose free fast path tests only the 16-byte grid of block starts
# (docs/hardening.md, "The checks against 3% of churn"): with secure=1 its
# owner frees take the slow path, which runs the complete interior test,
# so t_misuse must pass whole (every interior, tail and uncarved-block
# case); and t_stress must pass plain.  Keeps the build choice from rotting.
set -eu
B=${STRATA_BUILD:-build}
N="$B/align-build"
make -s BUILD="$N" EXTRA_CFLAGS=-DSTRATA_CHECK_INTERIOR=1 "$N/tests/t_misuse" "$N/tests/t_stress" >/dev/null
ldd "$N/tests/t_stress" | grep -q "$N/tests/../libstrata.so" || { echo "FAIL: t_stress does not load the alignment-only build"; exit 1; }
STRATA_OPTIONS=secure=1 "$N/tests/t_misuse" | tail -n 1
"$N/tests/t_stress" | tail -n 1
echo "alignment-only build: ok"
