#!/bin/sh
# Real program: the system CPython (/usr/bin/python3) with PYTHONMALLOC=malloc,
# so every Python object is allocated with malloc: an allocation-heavy
# single-threaded workload and a multi-threaded one (cross-thread frees).
# Plain run vs LD_PRELOAD=$STRATA_LIB run: identical output required.
. "$(dirname "$0")/data/common.sh"

PY=/usr/bin/python3
[ -x "$PY" ] || fail "$PY not found (apt-get install python3)"
say "python: $($PY --version 2>&1), library: $STRATA_LIB"

# Same environment for both runs; only LD_PRELOAD differs.
export PYTHONMALLOC=malloc PYTHONHASHSEED=0 PYTHONDONTWRITEBYTECODE=1
unset PYTHONPATH PYTHONHOME PYTHONSTARTUP 2>/dev/null || true

# Preload check from inside the interpreter itself (ctypes loads libffi etc.).
out=$(LD_PRELOAD=$STRATA_LIB timeout "$REAL_TIMEOUT" $PY -s -c "
import ctypes, sys
print('/' + sys.argv[1] in open('/proc/self/maps').read())" "$REAL_LIBNAME" 2>&1) \
  || fail "python3 -c under LD_PRELOAD failed: $out"
[ "$out" = True ] || fail "python3 does not have $REAL_LIBNAME mapped under LD_PRELOAD (got: $out)"

run_pair alloc_heavy - $PY -s "$REAL_DATA/alloc_heavy.py"
expect_in "$REAL_TMP/alloc_heavy.plain.out" "done"
# every Node of the cycle test must have been collected: "cycles MADE FREED ..."
awk '$1 == "cycles" && $2 != $3 { exit 1 }' "$REAL_TMP/alloc_heavy.strata.out" \
  || fail "alloc_heavy: gc did not free every node: $(grep '^cycles' "$REAL_TMP/alloc_heavy.strata.out")"

run_pair threads - $PY -s "$REAL_DATA/threads.py"
expect_in "$REAL_TMP/threads.plain.out" "done"

# Small interpreter start-ups, many times (exercise init/exit paths).
i=0
while [ $i -lt 5 ]; do
  run_pair "startup$i" - $PY -s -c "import json, re, collections, decimal; print(json.dumps(sorted(dir(collections)))[:200], decimal.Decimal(1)/7)"
  i=$((i + 1))
done

summary
