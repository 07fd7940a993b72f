#!/bin/sh
# Real program: a C++ program (tests/real/data/containers.cc) built with plain
# g++ -O2 -- not linked against strata -- using std::map, std::unordered_map,
# std::vector<std::string>, std::sort, std::shared_ptr, streams and
# std::thread (with cross-thread frees and many short-lived threads).  Run
# plainly and under LD_PRELOAD=$STRATA_LIB: identical output required.
. "$(dirname "$0")/data/common.sh"

CXX=${REAL_CXX:-g++}
command -v "$CXX" >/dev/null 2>&1 || fail "$CXX not found (apt-get install g++)"
SRC=$REAL_DATA/containers.cc
OUTDIR=$STRATA_BUILD/tests/real
BIN=$OUTDIR/containers
mkdir -p "$OUTDIR" || fail "cannot create $OUTDIR"
say "$($CXX --version | head -n 1), library: $STRATA_LIB"

if [ ! -x "$BIN" ] || [ -n "$(find "$SRC" -newer "$BIN")" ]; then
  say "building $BIN with $CXX -O2"
  timeout 300 "$CXX" -std=c++17 -O2 -g -Wall -Wextra -pthread "$SRC" -o "$BIN.tmp" \
    >"$REAL_TMP/build.log" 2>&1 || { cat "$REAL_TMP/build.log" >&2; rm -f "$BIN.tmp"; fail "compiling $SRC failed"; }
  mv "$BIN.tmp" "$BIN"
fi
# It must get strata only through LD_PRELOAD.
if ldd "$BIN" | grep -q strata; then fail "$BIN is linked against strata; it must not be"; fi

run_pair containers - "$BIN"
expect_in "$REAL_TMP/containers.plain.out" "done"
expect_in "$REAL_TMP/containers.strata.out" "freed=yes"

summary
