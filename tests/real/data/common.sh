# Shared helpers for tests/real/*.sh (POSIX sh; sourced, not run).
#
# Environment (set by tests/run.sh):
#   STRATA_LIB    absolute path of the library to preload (libstrata.so)
#   STRATA_BUILD  build directory (for things a test has to compile)
# Optional:
#   REAL_TIMEOUT  seconds allowed for any single program run (default 60)
#
# Every test runs a real program twice -- plainly, then with
# LD_PRELOAD=$STRATA_LIB -- and requires exit status 0 both times and
# byte-identical stdout and stderr.  The preloaded run goes through a small
# sh wrapper that checks the library is really mapped in that process
# (/proc/$$/maps) before exec'ing the program (exec keeps the preload); it
# also exports REAL_EXPECT_PRELOADED=<library basename>, which the test
# programs in tests/real/data check against their own /proc/self/maps.
# Timings are printed for information only.

set -u

REAL_NAME=$(basename "$0" .sh)
REAL_DATA=$(cd "$(dirname "$0")" && pwd)/data
REAL_TIMEOUT=${REAL_TIMEOUT:-60}

say()  { echo "[$REAL_NAME] $*"; }
fail() { echo "[$REAL_NAME] FAIL: $*" >&2; exit 1; }

# --- the library under test -------------------------------------------------
if [ -z "${STRATA_LIB:-}" ]; then
  STRATA_LIB=$(pwd)/build/libstrata.so
fi
[ -f "$STRATA_LIB" ] || fail "STRATA_LIB=$STRATA_LIB does not exist (build the library first)"
# Resolve symlinks: /proc/<pid>/maps shows the real file's path.
STRATA_LIB=$(readlink -f "$STRATA_LIB")
case "$STRATA_LIB" in /*) ;; *) STRATA_LIB=$(pwd)/$STRATA_LIB ;; esac
REAL_LIBNAME=$(basename "$STRATA_LIB")
STRATA_BUILD=${STRATA_BUILD:-$(dirname "$STRATA_LIB")}
export STRATA_LIB STRATA_BUILD REAL_LIBNAME
unset LD_PRELOAD 2>/dev/null || true

# Preloading must not print anything (ld.so prints "cannot be preloaded"
# and carries on when the library is broken -- the maps check catches that too).
err=$(LD_PRELOAD=$STRATA_LIB timeout 20 env true 2>&1) \
  || fail "even 'env true' fails under LD_PRELOAD=$STRATA_LIB: $err"
[ -z "$err" ] || fail "preloading $STRATA_LIB prints: $err"
LD_PRELOAD=$STRATA_LIB timeout 20 cat /proc/self/maps 2>/dev/null | grep -qF "/$REAL_LIBNAME" \
  || fail "$REAL_LIBNAME is not mapped in a preloaded 'cat /proc/self/maps'"

# --- temp dir, cleaned up on every exit --------------------------------------
. "$REAL_DATA/shlib.sh"
real_tmpdir "strata-real-$REAL_NAME"

# --- timing -------------------------------------------------------------------
now_ms() { echo $(( $(date +%s%N) / 1000000 )); }
ratio() {  # strata_ms plain_ms -> "1.23x"
  awk -v a="$1" -v b="$2" 'BEGIN { if (b <= 0) b = 1; printf "%.2fx", a / b }'
}

# describe_rc RC -> human text
describe_rc() {
  case "$1" in
    124) echo "timed out after ${REAL_TIMEOUT}s (exit 124)" ;;
    97)  echo "library not mapped in the preloaded process (exit 97)" ;;
    1[3-9][0-9]|2[0-5][0-9])
         sig=$(( $1 - 128 )); n=$(kill -l "$sig" 2>/dev/null || echo "?")
         echo "killed by signal $sig (SIG$n) (exit $1)" ;;
    *)   echo "exit $1" ;;
  esac
}

# The wrapper used for preloaded runs: $1 is the program, the rest its args.
REAL_WRAP='grep -qF "/$REAL_LIBNAME" /proc/$$/maps || {
  echo "real-test: $REAL_LIBNAME is not mapped in the preloaded process" >&2; exit 97; }
REAL_EXPECT_PRELOADED=$REAL_LIBNAME; export REAL_EXPECT_PRELOADED
exec "$@"'

# run_one MODE NAME INPUT CMD...   (MODE = plain | strata)
# Output in $REAL_TMP/NAME.MODE.{out,err}; sets RUN_RC and RUN_MS.
run_one() {
  mode=$1; name=$2; input=$3; shift 3
  [ "$input" = - ] && input=/dev/null
  t0=$(now_ms)
  if [ "$mode" = plain ]; then
    timeout -k 5 "$REAL_TIMEOUT" env -u LD_PRELOAD -u REAL_EXPECT_PRELOADED "$@" \
      <"$input" >"$REAL_TMP/$name.$mode.out" 2>"$REAL_TMP/$name.$mode.err"
  else
    timeout -k 5 "$REAL_TIMEOUT" env LD_PRELOAD="$STRATA_LIB" sh -c "$REAL_WRAP" sh "$@" \
      <"$input" >"$REAL_TMP/$name.$mode.out" 2>"$REAL_TMP/$name.$mode.err"
  fi
  RUN_RC=$?
  RUN_MS=$(( $(now_ms) - t0 ))
}

show_tail() {  # file label
  if [ -s "$1" ]; then
    echo "---- $2 (last 15 lines) ----" >&2
    tail -n 15 "$1" >&2
  fi
}

# After a crash under strata: re-run once under gdb (if installed) and print
# the backtraces, to help whoever reads the log.  Diagnostics only.
gdb_backtrace() {  # input cmd...
  in=$1; shift
  [ "$in" = - ] && in=/dev/null
  command -v gdb >/dev/null 2>&1 || return 0
  echo "---- re-running under gdb for a backtrace (the crash may not repeat) ----" >&2
  # gdb's own output goes to a log file; the program's output to /dev/null.
  timeout -k 5 180 gdb -q -nx -batch \
    -ex "set logging file $REAL_TMP/gdb.log" -ex "set logging overwrite on" \
    -ex "set logging redirect on" -ex "set logging enabled on" \
    -ex "set pagination off" \
    -ex "set environment LD_PRELOAD=$STRATA_LIB" \
    -ex "set environment REAL_EXPECT_PRELOADED=$REAL_LIBNAME" \
    -ex "run" -ex "thread apply all bt 30" \
    --args "$@" <"$in" >/dev/null 2>&1
  grep -v '^\[New Thread\|^\[Thread .* exited\|^\[Detaching after' "$REAL_TMP/gdb.log" 2>/dev/null | tail -n 120 >&2
}

# run_pair NAME INPUT CMD...
# Runs CMD plainly and preloaded (stdin from INPUT, '-' for none), requires
# exit 0 both times and identical stdout/stderr, prints the timings.
# If REAL_BETWEEN is set, it is eval'd after the plain run (e.g. to move away
# a file the program wrote, so that both versions can be compared).
REAL_BETWEEN=
REAL_TOTAL_PLAIN=0
REAL_TOTAL_STRATA=0
run_pair() {
  name=$1; input=$2; shift 2
  run_one plain "$name" "$input" "$@"
  p_rc=$RUN_RC; p_ms=$RUN_MS
  if [ "$p_rc" -ne 0 ]; then
    show_tail "$REAL_TMP/$name.plain.err" "plain stderr"
    fail "$name: the PLAIN run (no preload) failed: $(describe_rc "$p_rc") -- test environment problem, command: $*"
  fi
  if [ -n "$REAL_BETWEEN" ]; then eval "$REAL_BETWEEN" || fail "$name: step between the runs failed: $REAL_BETWEEN"; fi
  run_one strata "$name" "$input" "$@"
  s_rc=$RUN_RC; s_ms=$RUN_MS
  if [ "$s_rc" -ne 0 ]; then
    show_tail "$REAL_TMP/$name.strata.out" "strata stdout"
    show_tail "$REAL_TMP/$name.strata.err" "strata stderr"
    case "$s_rc" in 1[3-5][0-9]) gdb_backtrace "$input" "$@" ;; esac
    fail "$name: the run under LD_PRELOAD=$STRATA_LIB failed: $(describe_rc "$s_rc"); command: $*"
  fi
  for stream in out err; do
    if ! cmp -s "$REAL_TMP/$name.plain.$stream" "$REAL_TMP/$name.strata.$stream"; then
      echo "---- diff of std$stream: plain vs strata (first 40 lines) ----" >&2
      diff -u "$REAL_TMP/$name.plain.$stream" "$REAL_TMP/$name.strata.$stream" | head -n 40 >&2
      fail "$name: std$stream differs between the plain run and the run under LD_PRELOAD=$STRATA_LIB; command: $*"
    fi
  done
  REAL_TOTAL_PLAIN=$((REAL_TOTAL_PLAIN + p_ms))
  REAL_TOTAL_STRATA=$((REAL_TOTAL_STRATA + s_ms))
  say "ok   $name: identical output ($(wc -c <"$REAL_TMP/$name.plain.out" | tr -d ' ') bytes); plain ${p_ms} ms, $REAL_LIBNAME ${s_ms} ms, ratio $(ratio "$s_ms" "$p_ms")"
}

# expect_in FILE TEXT  -- fixed string TEXT must occur in FILE (sanity of output)
expect_in() {
  grep -qF -- "$2" "$1" || { show_tail "$1" "$(basename "$1")"; fail "expected '$2' in $(basename "$1")"; }
}

summary() {
  say "PASS: all runs identical; total plain ${REAL_TOTAL_PLAIN} ms, $REAL_LIBNAME ${REAL_TOTAL_STRATA} ms, ratio $(ratio "$REAL_TOTAL_STRATA" "$REAL_TOTAL_PLAIN") (information only)"
}
