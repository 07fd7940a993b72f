#!/bin/sh
# bench/demo.sh -- what `make demo` runs: strata side by side with glibc
# and the peer allocators.
#
#   sh bench/demo.sh [BUILD_DIR]
#
# 1. BUILD_DIR/strata bench --quick: every workload under glibc, strata,
#    jemalloc, tcmalloc and mimalloc (those installed), interleaved, medians,
#    ratios against glibc and the best peer (docs/bench.md).  It also writes
#    BUILD_DIR/bench.{svg,md,json} (DEMO_OUT=dir to put them elsewhere).
# 2. bench/callgrind.sh: instructions per malloc/free (if valgrind exists).
# 3. A real program: /usr/bin/python3 (PYTHONMALLOC=malloc, so every Python
#    object goes through malloc) running an allocation-heavy script, plain and
#    under LD_PRELOAD, interleaved; outputs must be identical.
# Takes about two minutes.  Exit status is nonzero only if something
# failed (a crash, a wrong output), never because of a ratio.
set -u
B=${1:-build}
HERE=$(cd "$(dirname "$0")" && pwd)
LIB=${STRATA_LIB:-$(cd "$B" && pwd)/libstrata.so}
PY=${DEMO_PYTHON:-/usr/bin/python3}
ROUNDS=${DEMO_ROUNDS:-3}
status=0

echo "=================================================================="
echo " strata demo: a drop-in malloc, compared side by side with glibc"
echo " and the peer allocators installed (jemalloc, tcmalloc, mimalloc)"
echo " library: $LIB"
echo " machine: $(nproc) CPUs, $(uname -srm); load $(cut -d' ' -f1-3 /proc/loadavg)"
echo " (noisy shared machine: runs are interleaved; look at ratios of"
echo "  medians, not at absolute numbers)"
echo "=================================================================="
if [ ! -r "$LIB" ]; then
  echo "demo: $LIB not found -- build it with make" >&2
  exit 1
fi

echo
echo "== 1. strata bench --quick: workloads under every allocator, interleaved"
OUT=${DEMO_OUT:-$B}
if [ -x "$B/strata" ]; then
  STRATA_LIB=$LIB "$B/strata" bench --quick \
    --svg "$OUT/bench.svg" --md "$OUT/bench.md" --json "$OUT/bench.json" || status=1
  echo "chart: $OUT/bench.svg (open it in a browser); tables: $OUT/bench.md"
else
  echo "demo: $B/strata not found -- build it with make" >&2
  status=1
fi

echo
echo "== 2. fast-path instruction counts"
if command -v valgrind >/dev/null 2>&1; then
  STRATA_LIB=$LIB sh "$HERE/callgrind.sh" "$B" || status=1
else
  echo "valgrind not installed; skipped"
fi

echo
echo "== 3. a real program: $PY, PYTHONMALLOC=malloc, allocation-heavy script"
if [ ! -x "$PY" ]; then
  echo "$PY not found; skipped"
  exit $status
fi
TMP=$(mktemp -d "${TMPDIR:-/tmp}/strata-demo.XXXXXX") || exit 1
trap 'rm -rf "$TMP"' EXIT INT TERM
cat > "$TMP/work.py" <<'EOF'
# Allocation-heavy but deterministic: dicts, lists, strings, tuples, JSON.
import json, resource, sys, time
t0 = time.perf_counter()
acc = 0
for rnd in range(4):
    d = {}
    for i in range(60000):
        k = "key-%d-%d" % (rnd, i)
        d[k] = [i, str(i * 7), (i, k), {"v": i % 97}]
    items = sorted(d.items(), key=lambda kv: kv[1][1])
    acc += sum(len(v[1]) for _, v in items[::97])
    s = json.dumps([v for _, v in items[:20000]])
    back = json.loads(s)
    acc += len(s) + len(back)
    words = " ".join(k for k in list(d)[:30000]).split()
    acc += len(set(w[-3:] for w in words))
    del d, items, s, back, words
t = time.perf_counter() - t0
print("result", acc)
rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
print("elapsed=%.4f peak_rss_kb=%d" % (t, rss), file=sys.stderr)
EOF

run_py() {  # label, preload lib or "" ; appends elapsed/rss to $TMP/<label>.*
  if [ -n "$2" ]; then
    env LD_PRELOAD="$2" PYTHONMALLOC=malloc "$PY" "$TMP/work.py" > "$TMP/$1.out" 2> "$TMP/$1.err"
  else
    env -u LD_PRELOAD PYTHONMALLOC=malloc "$PY" "$TMP/work.py" > "$TMP/$1.out" 2> "$TMP/$1.err"
  fi
  rc=$?
  if [ $rc -ne 0 ] || ! grep -q '^elapsed=' "$TMP/$1.err"; then
    echo "FAIL: python under $1 (exit $rc):"; tail -n 10 "$TMP/$1.err" | sed 's/^/    /'
    status=1
    return 1
  fi
  sed -n 's/^elapsed=\([0-9.]*\) peak_rss_kb=\([0-9]*\).*/\1 \2/p' "$TMP/$1.err" >> "$TMP/$1.times"
}

med() {  # column -> median of that column of stdin
  sort -n -k"$1","$1" | awk -v c="$1" '{ v[NR] = $c } END {
    if (NR == 0) print "nan"; else if (NR % 2) print v[(NR + 1) / 2];
    else print (v[NR / 2] + v[NR / 2 + 1]) / 2 }'
}

: > "$TMP/glibc.times"; : > "$TMP/strata.times"
for r in $(seq 1 "$ROUNDS"); do
  if [ $((r % 2)) -eq 1 ]; then
    run_py glibc "" && run_py strata "$LIB"
  else
    run_py strata "$LIB" && run_py glibc ""
  fi
  if ! cmp -s "$TMP/glibc.out" "$TMP/strata.out"; then
    echo "FAIL: python output differs between glibc and strata (round $r):"
    diff "$TMP/glibc.out" "$TMP/strata.out" | head -5 | sed 's/^/    /'
    status=1
  fi
done
if [ -s "$TMP/glibc.times" ] && [ -s "$TMP/strata.times" ]; then
  g_t=$(med 1 < "$TMP/glibc.times"); s_t=$(med 1 < "$TMP/strata.times")
  g_r=$(med 2 < "$TMP/glibc.times"); s_r=$(med 2 < "$TMP/strata.times")
  echo "output: $(cat "$TMP/strata.out")  (identical under both: $(cmp -s "$TMP/glibc.out" "$TMP/strata.out" && echo yes || echo NO))"
  echo "raw seconds  glibc: $(cut -d' ' -f1 "$TMP/glibc.times" | tr '\n' ' ')"
  echo "raw seconds  strata: $(cut -d' ' -f1 "$TMP/strata.times" | tr '\n' ' ')"
  awk -v gt="$g_t" -v st="$s_t" -v gr="$g_r" -v sr="$s_r" -v n="$ROUNDS" 'BEGIN {
    printf "python (median of %d, interleaved): glibc %.3f s, strata %.3f s -> strata is %.2fx the speed of glibc\n", n, gt, st, gt / st
    printf "python peak RSS (median): glibc %.1f MiB, strata %.1f MiB -> %.2fx\n", gr / 1024, sr / 1024, sr / gr }'
fi

echo
echo "== 4. strata's own statistics at exit (STRATA_OPTIONS=stats=1)"
env LD_PRELOAD="$LIB" PYTHONMALLOC=malloc STRATA_OPTIONS=stats=1 \
  "$PY" -c 'x = [str(i) * 3 for i in range(200000)]; del x; print("ok")' 2>&1 | head -n 9
exit $status
