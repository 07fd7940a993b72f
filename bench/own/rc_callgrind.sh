#!/bin/sh
# bench/own/rc_callgrind.sh -- instructions per reference-counting operation,
# strata against std::shared_ptr, counted by callgrind (deterministic: no
# timing noise, so small differences are real).
#
#   sh bench/own/rc_callgrind.sh [BUILD_DIR]
#
# Runs BUILD_DIR/bench/own/rc --cg MODE K and rc_shared_ptr --cg MODE K under
# valgrind --tool=callgrind --toggle-collect='cg_loop*' for K=1000 and
# K=2000 and prints (Ir(2000) - Ir(1000)) / 1000 minus the empty loop: the
# instructions of one operation (one-off costs cancel, allocator refills are
# amortised in).  Instruction counts say nothing about the cost of a
# lock-prefixed instruction (tens of cycles): pair them with the timed
# medians of bench/own/rc.
set -u
B=${1:-build}
C="$B/bench/own/rc"
P="$B/bench/own/rc_shared_ptr"
if ! command -v valgrind >/dev/null 2>&1; then echo "rc_callgrind.sh: valgrind not installed; skipped"; exit 0; fi
[ -x "$C" ] && [ -x "$P" ] || { echo "rc_callgrind.sh: $C or $P missing (make BUILD=$B all)"; exit 1; }
TMP=$(mktemp -d "${TMPDIR:-/tmp}/strata-rccg.XXXXXX") || exit 1
trap 'rm -rf "$TMP"' EXIT INT TERM

ir() {  # BIN MODE K -> Ir collected inside cg_loop
  out="$TMP/cg.$(basename "$1").$2.$3"
  valgrind --tool=callgrind --toggle-collect='cg_loop*' --callgrind-out-file="$out" \
    "$1" --cg "$2" "$3" >"$TMP/log" 2>&1 || { echo NA; return; }
  sed -n 's/^\(summary\|totals\): *\([0-9]*\).*/\2/p' "$out" | tail -n 1
}
per_op() {  # BIN MODE -> Ir per iteration, empty loop of the same binary subtracted
  a=$(ir "$1" "$2" 1000); b=$(ir "$1" "$2" 2000)
  n0=$(ir "$1" none 1000); n1=$(ir "$1" none 2000)
  for v in "$a" "$b" "$n0" "$n1"; do case $v in ''|NA) echo NA; return;; esac; done
  awk -v a="$a" -v b="$b" -v n0="$n0" -v n1="$n1" 'BEGIN { printf "%.1f", ((b - a) - (n1 - n0)) / 1000 }'
}

echo "== instructions per operation (callgrind Ir, (K=2000 - K=1000)/1000, empty loop subtracted)"
printf "%-46s %8s   %-34s %8s\n" "strata" "Ir" "std::shared_ptr (libstdc++)" "Ir"
row() {  # STRATA_MODE TEXT PEER_MODE PEER_TEXT
  s=$(per_op "$C" "$1")
  if [ -n "$3" ]; then p=$(per_op "$P" "$3"); else p=""; fi
  printf "%-46s %8s   %-34s %8s\n" "$2" "$s" "$4" "$p"
}
row rc_pair "rc_retain + rc_release (non-atomic)" "" ""
row arc_pair "arc_retain + arc_release (atomic)" sp_copy "copy + destroy"
row weak_lock "weak_lock + arc_release" wp_lock "weak_ptr::lock + destroy"
row new_release "rc_new (16 B, atomic) + last release" sp_make "make_shared<16 B> + destroy"
