#!/bin/sh
# bench/real/lua.sh -- lua5.4 (its allocator is realloc/free) on
# bench/real/tables.lua: records built, filtered and sorted, string-keyed
# hash tables grown and shrunk, arrays of arrays, closures, full GC.
# figure = wall seconds of the whole run (lower is better).
# See common.sh for BENCH_PRELOAD, BENCH_QUICK, BENCH_BIN_DIR and the output.
. "$(dirname "$0")/common.sh"

LUA=$(command -v lua5.4) || die "lua5.4 not found (apt-get install lua5.4)"
if [ "$REAL_QUICK" = 1 ]; then SCALE=2; else SCALE=6; fi

run_measured lua - "$LUA" "$REAL_DIR/tables.lua" "$SCALE"
grep -q '^done$' "$REAL_TMP/lua.out" || fail "tables.lua did not finish: $(tail -n 3 "$REAL_TMP/lua.err")"
emit lua 1 "$SCALE" "$RUN_SECS" "$RUN_RSS_KB" "$RUN_MD5" secs "$RUN_SECS" lower "scale=$SCALE"
