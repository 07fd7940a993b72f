#!/bin/sh
# tests/nochecks_build.sh -- the library built with STRATA_CHECKS=0 (no free
# key, no encoded links: bench/hardening.sh builds it to measure what the
# checks cost) must still be correct, and must never report a misuse it
# cannot see: its malloc does not clear a freed block's key, so any check
# left on in such a build turns legitimate frees into "double free"
# reports (the stash's mark did, review of 2026-11-27).  Runs u_remote
# (linked with the build's objects: batches and the stash, blocks popped and
# freed again) and t_stress (loading the build's libstrata.so) on it.
set -eu
B=${STRATA_BUILD:-build}
N="$B/nochecks-build"
make -s BUILD="$N" EXTRA_CFLAGS=-DSTRATA_CHECKS=0 "$N/tests/u_remote" "$N/tests/t_stress" >/dev/null
ldd "$N/tests/t_stress" | grep -q "$N/tests/../libstrata.so" || { echo "FAIL: t_stress does not load the nochecks build"; exit 1; }
"$N/tests/u_remote" | tail -n 1
"$N/tests/t_stress" | tail -n 1
echo "nochecks build: ok"
