# bench/real/common.sh -- shared by bench/real/*.sh (POSIX sh; sourced).
#
# Environment:
#   BENCH_PRELOAD   allocator library to measure (empty/unset = system malloc).
#                   It is preloaded into the measured program ONLY: not into
#                   this shell, timeout, peakrss, redis-benchmark or redis-cli.
#   BENCH_QUICK=1   shorter run (each script < 10 s; full run < 30 s)
#   BENCH_BIN_DIR   where peakrss lives (default build/bench, relative to the
#                   current directory or else to the repository root)
#
# Each script prints ONE line on stdout, key=value separated by spaces:
#   workload=NAME threads=N ops=N secs=S peak_rss_kb=N malloc_lib=FILE
#   check=MD5 check_stable=1 figure_name=KEY figure=V figure_better=higher|lower
#   [extra keys]
# Diagnostics go to stderr.  Exit status: 0 ok, 1 the program failed or the
# library was not mapped in the measured process, 2 setup problem (missing
# program, library or helper).

set -u
unset LD_PRELOAD 2>/dev/null || true

REAL_NAME=$(basename "$0" .sh)
REAL_DIR=$(cd "$(dirname "$0")" && pwd)
REAL_ROOT=$(cd "$REAL_DIR/../.." && pwd)
REAL_QUICK=${BENCH_QUICK:-0}
[ "$REAL_QUICK" = 1 ] || REAL_QUICK=0
REAL_TIMEOUT=60

say()   { echo "bench/real/$REAL_NAME: $*" >&2; }
die()   { echo "bench/real/$REAL_NAME: $*" >&2; exit 2; }
fail()  { echo "bench/real/$REAL_NAME: FAIL: $*" >&2; exit 1; }
need()  { command -v "$1" >/dev/null 2>&1 || die "$1 not found${2:+ ($2)}"; }

need timeout coreutils
need md5sum coreutils

# --- the allocator -------------------------------------------------------
REAL_LIB=${BENCH_PRELOAD:-}
if [ -n "$REAL_LIB" ]; then
  [ -f "$REAL_LIB" ] || die "BENCH_PRELOAD=$REAL_LIB does not exist"
  case "$REAL_LIB" in /*) ;; *) REAL_LIB=$(pwd)/$REAL_LIB ;; esac
  MALLOC_LIB=$(basename "$REAL_LIB")
  # /proc/PID/maps shows the file behind any symlink (libmimalloc.so.2 -> .so.2.0)
  REAL_MAPNAME=$(basename "$(readlink -f "$REAL_LIB")")
else
  MALLOC_LIB=libc.so.6
  REAL_MAPNAME=
fi

# --- peak RSS helper -------------------------------------------------------
REAL_BIN=${BENCH_BIN_DIR:-build/bench}
if [ ! -x "$REAL_BIN/peakrss" ] && [ -x "$REAL_ROOT/$REAL_BIN/peakrss" ]; then
  REAL_BIN=$REAL_ROOT/$REAL_BIN
fi
if [ -x "$REAL_BIN/peakrss" ]; then
  PEAKRSS=$REAL_BIN/peakrss
elif [ -x /usr/bin/time ]; then
  PEAKRSS=              # fall back to GNU time
else
  die "no $REAL_BIN/peakrss (make BUILD=... all builds it) and no /usr/bin/time"
fi

# --- temp dir, removed on every exit --------------------------------------
. "$REAL_ROOT/tests/real/data/shlib.sh"
real_tmpdir "strata-bench-$REAL_NAME"

now_ns() { date +%s%N; }

# The wrapper that runs in the measured process itself before exec'ing the
# program: under LD_PRELOAD it checks that the library is mapped in its own
# /proc/$$/maps (shell builtins only, no child), then execs the program in
# the same process, which keeps the preload.  Exit 97 = not mapped.
REAL_WRAP='m=$1; shift; f=0
while IFS= read -r l; do case $l in */"$m") f=1; break ;; esac; done < /proc/$$/maps
[ $f = 1 ] || { echo "library $m is not mapped in the measured process" >&2; exit 97; }
exec "$@"'

# run_measured LABEL STDIN program [args...]
#   Runs the program (stdin from STDIN, "-" = /dev/null) with the allocator
#   preloaded, stdout to $REAL_TMP/LABEL.out, stderr to $REAL_TMP/LABEL.err.
#   Sets RUN_SECS, RUN_RSS_KB, RUN_MD5 (of stdout).  Fails on nonzero exit.
run_measured() {
  label=$1; input=$2; shift 2
  [ "$input" = - ] && input=/dev/null
  res=$REAL_TMP/$label.res
  if [ -n "$REAL_LIB" ]; then
    set -- env LD_PRELOAD="$REAL_LIB" sh -c "$REAL_WRAP" sh "$REAL_MAPNAME" "$@"
  fi
  if [ -n "$PEAKRSS" ]; then
    timeout -k 5 "$REAL_TIMEOUT" "$PEAKRSS" "$res" "$@" \
      <"$input" >"$REAL_TMP/$label.out" 2>"$REAL_TMP/$label.err"
  else
    timeout -k 5 "$REAL_TIMEOUT" /usr/bin/time -o "$res" -f 'peak_rss_kb=%M secs=%e status=%x' "$@" \
      <"$input" >"$REAL_TMP/$label.out" 2>"$REAL_TMP/$label.err"
  fi
  rc=$?
  if [ "$rc" -ne 0 ]; then
    tail -n 5 "$REAL_TMP/$label.err" | sed 's/^/    /' >&2
    case $rc in
      97) fail "$REAL_MAPNAME was not loaded in the measured process (LD_PRELOAD=$REAL_LIB)" ;;
      124) fail "timed out after ${REAL_TIMEOUT}s" ;;
      *) fail "$* exited with status $rc" ;;
    esac
  fi
  RUN_SECS=$(sed -n 's/.*secs=\([0-9.]*\).*/\1/p' "$res")
  RUN_RSS_KB=$(sed -n 's/.*peak_rss_kb=\([0-9]*\).*/\1/p' "$res")
  [ -n "$RUN_SECS" ] && [ -n "$RUN_RSS_KB" ] || fail "no measurement in $(cat "$res" 2>/dev/null)"
  RUN_MD5=$(md5sum < "$REAL_TMP/$label.out" | cut -c1-32)
}

# emit workload threads ops secs rss check figure_name figure better [extra...]
emit() {
  printf 'workload=%s threads=%s ops=%s secs=%s peak_rss_kb=%s malloc_lib=%s check=%s check_stable=1 figure_name=%s figure=%s figure_better=%s' \
    "$1" "$2" "$3" "$4" "$5" "$MALLOC_LIB" "$6" "$7" "$8" "$9"
  shift 9
  for kv in "$@"; do printf ' %s' "$kv"; done
  printf ' quick=%s\n' "$REAL_QUICK"
}
