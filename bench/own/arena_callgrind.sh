#!/bin/sh
# bench/own/arena_callgrind.sh -- instructions per arena allocation and per
# pool get+put, counted by callgrind (deterministic: no timing noise).
#
#   sh bench/own/arena_callgrind.sh [BUILD_DIR]
#
# Runs BUILD_DIR/bench/own/arena --cg MODE K under
# valgrind --tool=callgrind --toggle-collect=cg_loop for K=1000 and K=2000
# and prints (Ir(2000) - Ir(1000)) / 1000: the instructions of one
# iteration of cg_loop (warm-up and one-off costs cancel; chunk changes and
# cache refills are amortised in).  The empty loop ("none") is subtracted,
# so the figures are the operation alone.  Peers that cannot be dlopen'd
# are measured with LD_PRELOAD of the peer (the preloaded copy is then found
# by dlopen; the executable's own malloc, strata, stays the process malloc).
set -u
B=${1:-build}
BIN="$B/bench/own/arena"
if ! command -v valgrind >/dev/null 2>&1; then echo "arena_callgrind.sh: valgrind not installed; skipped"; exit 0; fi
[ -x "$BIN" ] || { echo "arena_callgrind.sh: $BIN missing (make BUILD=$B all)"; exit 1; }
TMP=$(mktemp -d "${TMPDIR:-/tmp}/strata-acg.XXXXXX") || exit 1
trap 'rm -rf "$TMP"' EXIT INT TERM

# ir MODE K [PRELOAD] -> total Ir collected inside cg_loop
ir() {
  out="$TMP/cg.$1.$2"
  if [ -n "${3:-}" ]; then
    valgrind --tool=callgrind --toggle-collect=cg_loop --callgrind-out-file="$out" \
      --trace-children=yes env LD_PRELOAD="$3" "$BIN" --cg "$1" "$2" >"$TMP/log" 2>&1
  else
    valgrind --tool=callgrind --toggle-collect=cg_loop --callgrind-out-file="$out" \
      "$BIN" --cg "$1" "$2" >"$TMP/log" 2>&1
  fi
  if ! grep -q "cg $1:" "$TMP/log"; then echo "NA"; return; fi
  # the last "summary:" / "totals:" line of the profile is the collected total
  sed -n 's/^\(summary\|totals\): *\([0-9]*\).*/\2/p' "$out" | tail -n 1
}

per_iter() {  # MODE [PRELOAD] [K]: Ir of K more iterations (default 1000)
  k=${3:-1000}
  a=$(ir "$1" "$k" "${2:-}"); b=$(ir "$1" $((2 * k)) "${2:-}")
  if [ "$a" = NA ] || [ "$b" = NA ] || [ -z "$a" ] || [ -z "$b" ]; then echo NA; return; fi
  echo $(( (b - a) ))
}

base=$(per_iter none)
echo "== instructions per operation (callgrind Ir, (K=2000 - K=1000)/1000, empty loop subtracted)"
for m in bump arena pool pool_ts strata glibc jemalloc tcmalloc mimalloc; do
  d=$(per_iter $m)
  how=dlopen
  if [ "$d" = NA ]; then
    case $m in
      jemalloc) lib=/usr/lib/x86_64-linux-gnu/libjemalloc.so.2 ;;
      tcmalloc) lib=/usr/lib/x86_64-linux-gnu/libtcmalloc_minimal.so.4 ;;
      mimalloc) lib=/usr/lib/x86_64-linux-gnu/libmimalloc.so.2 ;;
      *) lib= ;;
    esac
    if [ -n "$lib" ] && [ -r "$lib" ]; then d=$(per_iter $m "$lib"); how="LD_PRELOAD"; fi
  fi
  case $m in
    bump) what="raw pointer bump, 32 B";;
    arena) what="strata_arena_alloc, 32 B";;
    pool) what="strata pool get+put";;
    pool_ts) what="strata pool (threadsafe) get+put";;
    strata) what="strata malloc+free, 64 B (static)";;
    *) what="$m malloc+free, 64 B ($how)";;
  esac
  if [ "$d" = NA ]; then printf "%-44s %s\n" "$what" "not available"; continue; fi
  awk -v d="$d" -v b="$base" -v w="$what" 'BEGIN { printf "%-44s %7.1f\n", w, (d - b) / 1000 }'
done

# workload 2 of the timed benchmark, one round per iteration (20 vs 40
# rounds), per allocation: 2112 allocations, 73 arenas made and freed
echo "== hierarchical workload (bench table 2): instructions per allocation, creation and release included"
for m in tree tree_talloc tree_apr; do
  d=$(per_iter $m "" 20)
  case $m in tree) what="strata arenas";; tree_talloc) what="talloc";; *) what="APR pools";; esac
  if [ "$d" = NA ]; then printf "%-44s %s\n" "$what" "not available"; continue; fi
  awk -v d="$d" -v w="$what" 'BEGIN { printf "%-44s %7.1f\n", w, d / 20 / 2112 }'
done
