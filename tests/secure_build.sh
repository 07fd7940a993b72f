#!/bin/sh
# The secure build (-DSTRATA_SECURE_DEFAULT=1): its free fast path zeroes
# blocks of up to 256 bytes inline (src/malloc/internal.h, st_zero_small)
# and checks the popped block, code the default build does not contain.
# Builds it in $STRATA_BUILD/secure-build and runs u_zero (every free path
# zeroes) and t_misuse (every misuse still reported) against it.
set -eu
B=${STRATA_BUILD:-build}
S="$B/secure-build"
make -s BUILD="$S" EXTRA_CFLAGS=-DSTRATA_SECURE_DEFAULT=1 "$S/tests/u_zero" "$S/tests/t_misuse" >/dev/null
"$S/tests/u_zero"
ldd "$S/tests/t_misuse" | grep -q "$S/tests/../libstrata.so" || { echo "FAIL: t_misuse does not load the secure build"; exit 1; }
"$S/tests/t_misuse" | grep -e "overwritten" -e "all passed"
echo "secure build: ok"
