#!/bin/sh
# `strata bench gc` (src/tools/benchgc.c), in a few seconds:
#  1. a real quick run of GCBench under strata (and Boehm when its binary
#     was built): exit 0, a table row per collector with the check value
#     GCBench computes at depth 14, the Markdown/JSON/raw outputs, and
#     --report re-printing the same rows from the raw lines;
#  2. usage errors exit 2: an unknown --only name, an unknown collector;
#  3. with fake benchmark binaries (BENCH_BIN_DIR): a collector whose binary
#     is missing is skipped with a notice naming libgc-dev; a crash, damage
#     (check=FAIL) and disagreeing check values are reported as failures,
#     left out of the medians, and make the exit status 1.
set -u
B=${STRATA_BUILD:-build}
STRATA=$B/strata
[ -x "$STRATA" ] || { echo "FAIL: $STRATA not built"; exit 1; }
[ -x "$B/bench/gc/gcbench-strata" ] || { echo "FAIL: $B/bench/gc/gcbench-strata not built"; exit 1; }
T=$(mktemp -d "${TMPDIR:-/tmp}/strata-benchgc-test.XXXXXX")
trap 'rm -rf "$T"' EXIT INT TERM
fail() { echo "FAIL: $*"; exit 1; }
show() { echo "---- $1"; cat "$1"; }
CHECK=251186                  # GCBench's check at --max-depth 14

# ---- 1. a real quick run -------------------------------------------------------
gcs=strata
[ -x "$B/bench/gc/gcbench-boehm" ] && gcs=strata,boehm
rc=0
"$STRATA" bench gc --quick --runs 1 --only gcbench --gc $gcs --md "$T/out.md" \
  --json "$T/out.json" --raw "$T/raw" > "$T/out" 2> "$T/err" || rc=$?
show "$T/out"; show "$T/err"
[ "$rc" -eq 0 ] || fail "strata bench gc --quick --only gcbench --gc $gcs: exit $rc"
for g in $(echo $gcs | tr , ' '); do
  grep -Eq "^ *gcbench +$g +1/1 +[0-9.]+ .* $CHECK *\$" "$T/out" || fail "no table row for gcbench under $g with check $CHECK"
  grep -Eq "^\| gcbench +\| $g +\|.*\| +$CHECK \|\$" "$T/out.md" || fail "no Markdown row for gcbench under $g"
  grep -q "^run=1 name=gcbench bench=gcbench gc=$g .*check=$CHECK" "$T/raw" || fail "no raw line for $g"
  echo "ok: gcbench under $g"
done
grep -q "^\[1/" "$T/err" || fail "no progress line on stderr"
if [ $gcs = strata,boehm ]; then
  grep -Eq "^ *gcbench +boehm +[0-9.]+x +[0-9.]+x" "$T/out" || fail "no ratio row strata / boehm"
  grep -q "gcbench: time <= 0.7x Boehm" "$T/out" || fail "no target line"
  echo "ok: ratios and targets"
else
  echo "note: no $B/bench/gc/gcbench-boehm (libgc-dev missing): Boehm part not tested"
fi
python3 -c 'import json,sys; d=json.load(open(sys.argv[1])); assert d["benchmarks"][0]["cells"]["strata"]["good"] == 1' \
  "$T/out.json" || fail "JSON output not valid or lacks the strata cell"
rc=0; "$STRATA" bench gc --report "$T/raw" > "$T/rep" 2>&1 || rc=$?
[ "$rc" -eq 0 ] || { show "$T/rep"; fail "--report: exit $rc"; }
grep -Eq "^ *gcbench +strata +1/1 .* $CHECK *\$" "$T/rep" || { show "$T/rep"; fail "--report lacks the strata row"; }
echo "ok: --report"

# ---- 2. usage errors -----------------------------------------------------------------
rc=0; "$STRATA" bench gc --only nosuch > "$T/u1" 2>&1 || rc=$?
[ "$rc" -eq 2 ] || { show "$T/u1"; fail "--only nosuch: exit $rc, expected 2"; }
grep -q "unknown benchmark 'nosuch'" "$T/u1" || { show "$T/u1"; fail "no message for --only nosuch"; }
rc=0; "$STRATA" bench gc --gc nosuch > "$T/u2" 2>&1 || rc=$?
[ "$rc" -eq 2 ] || { show "$T/u2"; fail "--gc nosuch: exit $rc, expected 2"; }
"$STRATA" bench --help | grep -q "strata bench gc" || fail "strata bench --help does not mention bench gc"
echo "ok: usage errors"

# ---- 3. fake binaries: missing, crash, damage, mismatch ---------------------------
mkdir -p "$T/fake/gc"
fake() {  # name body
  printf '#!/bin/sh\n%s\n' "$2" > "$T/fake/gc/$1"; chmod +x "$T/fake/gc/$1"
}
line() {  # gc check
  echo "echo bench=gcbench gc=$1 time_s=0.5 peak_rss_kb=1000 collections=3 pause_p50_us=10.0 pause_p99_us=20.0 pause_max_us=19.0 check=$2 pauses=3 pause_total_ms=0.1 pause_max_exact=1"
}
fake gcbench-strata "$(line strata 42)"
rc=0; BENCH_BIN_DIR="$T/fake" "$STRATA" bench gc --runs 2 --only gcbench > "$T/f1" 2> "$T/f1e" || rc=$?
[ "$rc" -eq 0 ] || { show "$T/f1"; show "$T/f1e"; fail "fake strata alone: exit $rc"; }
grep -q "boehm skipped" "$T/f1e" && grep -q "libgc-dev" "$T/f1e" || { show "$T/f1e"; fail "no notice naming libgc-dev for the missing Boehm binary"; }
grep -Eq "^ *gcbench +strata +2/2 +0.500 .* 42 *\$" "$T/f1" || { show "$T/f1"; fail "fake strata row"; }
echo "ok: missing collector skipped with a notice"

fake gcbench-boehm "$(line '$([ "${BENCH_GC_INCREMENTAL:-0}" = 1 ] \&\& echo boehm-incr || echo boehm)' 43)"
rc=0; BENCH_BIN_DIR="$T/fake" "$STRATA" bench gc --runs 1 --only gcbench --md "$T/f2.md" > "$T/f2" 2>&1 || rc=$?
[ "$rc" -eq 1 ] || { show "$T/f2"; fail "disagreeing checks: exit $rc, expected 1"; }
grep -q "CHECK MISMATCH" "$T/f2" && grep -q "MISMATCH" "$T/f2.md" || { show "$T/f2"; fail "mismatch not reported"; }
echo "ok: check mismatch fails"

fake gcbench-boehm 'kill -SEGV $$'
rc=0; BENCH_BIN_DIR="$T/fake" "$STRATA" bench gc --runs 1 --only gcbench --gc strata,boehm > "$T/f3" 2>&1 || rc=$?
[ "$rc" -eq 1 ] || { show "$T/f3"; fail "crash: exit $rc, expected 1"; }
grep -q "FAIL: gcbench under boehm, run 1: killed by signal 11" "$T/f3" || { show "$T/f3"; fail "crash not reported"; }
grep -Eq "^ *gcbench +boehm +0/1 +- .*FAILED 1" "$T/f3" || { show "$T/f3"; fail "crashed run not shown as FAILED without a time"; }
echo "ok: a crash fails"

fake gcbench-boehm "$(line boehm FAIL); exit 1"
rc=0; BENCH_BIN_DIR="$T/fake" "$STRATA" bench gc --runs 1 --only gcbench --gc strata,boehm > "$T/f4" 2>&1 || rc=$?
[ "$rc" -eq 1 ] || { show "$T/f4"; fail "damage: exit $rc, expected 1"; }
grep -q "WRONG: check=FAIL" "$T/f4" || { show "$T/f4"; fail "damage not reported"; }
echo "ok: damage (check=FAIL) fails"
echo "PASS"
