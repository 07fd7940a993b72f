#!/bin/sh
# bench/callgrind.sh -- instructions per malloc and per free on the fast path,
# counted by valgrind's callgrind (deterministic: no timing noise).
#
#   sh bench/callgrind.sh [BUILD_DIR] [NAME=/path/lib.so ...]
#
# Compares glibc (no preload) and strata ($STRATA_LIB, default
# BUILD_DIR/libstrata.so; skipped with a note if absent) plus any NAME=LIB
# given.  SIZE (default 32) and LIVE (default 16 blocks kept live, see
# bench/fastpath.c) may be set in the environment.
#
# Method: BUILD_DIR/bench/fastpath (built here with cc if missing) runs a
# loop of K iterations of do_malloc(SIZE)/do_free through noinline wrappers.
# callgrind_annotate --inclusive=yes --tree=calling lists what each wrapper
# calls (whatever the allocator's symbol is named: malloc, strata_malloc,
# __libc_malloc ...) with its inclusive Ir.  Runs with K=1000 and K=2000 and
# takes (Ir(2000) - Ir(1000)) / 1000: warm-up, first-call initialisation and
# other one-off costs cancel; periodic refills are amortised in.
#
# The allocator is preloaded as `valgrind --trace-children=yes env
# LD_PRELOAD=LIB fastpath`: valgrind follows env's exec into fastpath and
# only the client gets the preload (not the valgrind launcher itself).
# callgrind does not replace malloc (memcheck would), so the preloaded
# allocator's own code is what gets counted.
set -u
set -f   # no globbing: callgrind prints "???" for unknown objects
B=${1:-build}
[ $# -gt 0 ] && shift
SIZE=${SIZE:-32}
LIVE=${LIVE:-16}
K1=1000
K2=2000
# A sampled guarded allocation (guard_sample, by default about one malloc in
# 100000, at random) costs ~35000 instructions and would now and then land in
# one of the two runs: the fast path is counted without sampling (its cost is
# measured in docs/hardening.md).  A guard_sample given in STRATA_OPTIONS wins.
STRATA_OPTIONS="guard_sample=0${STRATA_OPTIONS:+,$STRATA_OPTIONS}"
export STRATA_OPTIONS

if ! command -v valgrind >/dev/null 2>&1 || ! command -v callgrind_annotate >/dev/null 2>&1; then
  echo "callgrind.sh: valgrind/callgrind_annotate not installed; skipped"
  exit 0
fi

TMP=$(mktemp -d "${TMPDIR:-/tmp}/strata-cg.XXXXXX") || exit 1
trap 'rm -rf "$TMP"' EXIT INT TERM

FP="$B/bench/fastpath"
if [ ! -x "$FP" ]; then
  here=$(dirname "$0")
  FP="$TMP/fastpath"
  ${CC:-cc} -std=gnu11 -O2 -g -Wall -Wextra -pthread "$here/fastpath.c" -o "$FP" || exit 1
fi

if [ -n "${STRATA_LIB:-}" ]; then
  SLIB=$STRATA_LIB
else
  SLIB="$(cd "$B" 2>/dev/null && pwd)/libstrata.so"
fi

# callee_cost OUTFILE WRAPPER -> "IR NAME OBJECT" summed over the wrapper's
# callees (normally exactly one: malloc or free, possibly via an alias name)
# (callgrind_annotate runs from $TMP: it strips the current directory from
# source paths, and when that is a prefix of a source path -- e.g. running from
# the source tree -- it loses the callee's [object] in the tree output)
callee_cost() {
  (cd "$TMP" && callgrind_annotate --inclusive=yes --tree=calling --threshold=100 "$1" 2>/dev/null) |
  awk -v w="$2" '
    /^ *[0-9,]+ .*  \*  / { inblk = ($0 ~ (":" w " \\[")); next }
    /^ *$/ { inblk = 0; next }
    inblk && /  >   / {
      c = $1; gsub(",", "", c); sum += c
      line = $0; sub(/.*  >   /, "", line)
      obj = "?"
      if (line ~ /\[.*\]/) {
        obj = line; sub(/.*\[/, "", obj); sub(/\].*/, "", obj); n = split(obj, parts, "/"); obj = parts[n]
      }
      name = line; sub(/ \([0-9,]+x\).*/, "", name); sub(/.*:/, "", name)
      gsub(/[ \t]/, "_", name); gsub(/[ \t]/, "_", obj)
      names = names (names == "" ? "" : "+") name
      objs = obj
    }
    END { if (names == "") print "NA none none"; else print sum, names, objs }'
}

# run_cg NAME LIB K -> prints "MALLOC_IR NAME OBJ FREE_IR NAME OBJ"
run_cg() {
  out="$TMP/cg.$1.$3.out"
  if [ -n "$2" ]; then
    valgrind --tool=callgrind --trace-children=yes --callgrind-out-file="$out" \
      env LD_PRELOAD="$2" "$FP" "$3" "$SIZE" "$LIVE" > "$TMP/log" 2>&1
  else
    valgrind --tool=callgrind --trace-children=yes --callgrind-out-file="$out" \
      env -u LD_PRELOAD "$FP" "$3" "$SIZE" "$LIVE" > "$TMP/log" 2>&1
  fi
  rc=$?
  if [ $rc -ne 0 ] || ! grep -q "iterations of malloc" "$TMP/log"; then
    echo "callgrind.sh: $1 run failed (exit $rc):" >&2
    tail -n 15 "$TMP/log" | sed 's/^/    /' >&2
    return 1
  fi
  echo "$(callee_cost "$out" do_malloc) $(callee_cost "$out" do_free)"
}

status=0
measure() {  # NAME LIB
  name=$1; lib=$2
  if [ -n "$lib" ] && [ ! -r "$lib" ]; then
    echo "$name: library $lib not found; skipped"
    return
  fi
  r1=$(run_cg "$name" "$lib" $K1) || { status=1; return; }
  r2=$(run_cg "$name" "$lib" $K2) || { status=1; return; }
  # shellcheck disable=SC2086
  set -- $r1 $r2
  if [ "$1" = NA ] || [ "$4" = NA ] || [ "$7" = NA ] || [ "${10}" = NA ]; then
    echo "$name: could not find malloc/free under do_malloc/do_free in the profile" >&2
    status=1
    return
  fi
  obj=$3
  if [ -n "$lib" ]; then
    case "$obj" in
      libc.so*) echo "$name: WARNING: malloc was served by $obj, not $(basename "$lib") (preload ineffective?)"
                status=1;;
    esac
  fi
  awk -v n="$name" -v m1="$1" -v m2="$7" -v f1="$4" -v f2="${10}" -v d=$((K2 - K1)) \
      -v mn="$2" -v fn="$5" -v obj="$obj" -v size="$SIZE" 'BEGIN {
    printf "%-9s malloc(%d) fast path: %6.1f instructions/call; free: %6.1f   (%s / %s in %s)\n",
      n, size, (m2 - m1) / d, (f2 - f1) / d, mn, fn, obj }'
}

echo "== fast path instruction counts (callgrind Ir per call, (K=$K2 - K=$K1)/$((K2 - K1)); size $SIZE, $LIVE blocks live)"
measure glibc ""
measure strata "$SLIB"
for spec in "$@"; do
  measure "${spec%%=*}" "${spec#*=}"
done
exit $status
