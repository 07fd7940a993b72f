#!/bin/sh
# bench/gc/run.sh -- the collector benchmarks, strata against the Boehm GC.
#
# Runs every benchmark of bench/gc under each collector -- strata
# (NAME-strata), Boehm with parallel marking (NAME-boehm) and Boehm in
# incremental mode (NAME-boehm, BENCH_GC_INCREMENTAL=1) -- interleaved: in
# each run every benchmark runs once per collector, in the order strata,
# boehm, boehm-incr on odd runs and the reverse on even runs, so slow drift
# of a noisy, shared machine falls on all collectors alike.  Then it prints
# a Markdown table of medians per (benchmark, collector) and of ratios
# strata/boehm and strata/boehm-incr, and checks that every run of a
# benchmark computed the same check value.  Every result is measured in
# this run; nothing is carried over.
#
# usage: bench/gc/run.sh [--quick] [--runs N] [--md FILE] [--raw FILE]
#                        [--build DIR] [--only b1,b2] [--gc c1,c2] [-v]
#   --quick   small sizes (GCBench depth 14, binary-trees depth 16, a 64 MiB
#             heap for 2 s), 3 runs: about a minute on 2 cores
#   --runs N  runs per (benchmark, collector); default 3
#   --md F    also write the Markdown tables to F
#   --raw F   keep every result line in F (default: a temporary file)
#   --build D where the binaries are (D/bench/gc/NAME-*); default build
#   --only L  benchmarks to run: gcbench,gcbench-cons,binarytrees,
#             binarytrees-mt,pauses,pauses-cons (default: all but pauses-cons)
#   --gc L    collectors: strata,boehm,boehm-incr (default: all three)
#   --heap SIZE, --seconds S   override the pauses benchmarks' live heap
#             (1g; --quick 64m) and measured time (20; --quick 2)
#   --report F  run nothing: print the tables for the result lines in F
#             (a --raw file of an earlier run)
# A collector whose binary is missing (strata before the collector links)
# is skipped with a note.  Exit status 1 if a run failed or checks differ.
set -u

quick=0 runs=3 md= raw= build=build only= gcs="strata boehm boehm-incr" verbose=0 report= only_set= heap= seconds=
while [ $# -gt 0 ]; do
  case "$1" in
    --quick) quick=1 ;;
    --runs) runs=$2; shift ;;
    --md) md=$2; shift ;;
    --raw) raw=$2; shift ;;
    --build) build=$2; shift ;;
    --only) only=$(echo "$2" | tr , ' '); only_set=1; shift ;;
    --gc) gcs=$(echo "$2" | tr , ' '); shift ;;
    --report) report=$2; shift ;;
    --heap) heap=$2; shift ;;
    --seconds) seconds=$2; shift ;;
    -v) verbose=1 ;;
    -h|--help) sed -n '2,30p' "$0"; exit 0 ;;
    *) echo "run.sh: unknown argument $1 (see --help)" >&2; exit 2 ;;
  esac
  shift
done

# name|binary|arguments
if [ $quick = 1 ]; then
  table="gcbench|gcbench|--max-depth 14
gcbench-cons|gcbench|--conservative --max-depth 14
binarytrees|binarytrees|16
binarytrees-mt|binarytrees|--threads 2 16
pauses|pauses|--heap 64m --seconds 2
pauses-cons|pauses|--conservative --heap 64m --seconds 2"
else
  table="gcbench|gcbench|
gcbench-cons|gcbench|--conservative
binarytrees|binarytrees|21
binarytrees-mt|binarytrees|--threads 2 21
pauses|pauses|--heap 1g --seconds 20
pauses-cons|pauses|--conservative --heap 1g --seconds 20"
fi
[ -n "$heap" ] && table=$(echo "$table" | sed "s/--heap [^ ]*/--heap $heap/")
[ -n "$seconds" ] && table=$(echo "$table" | sed "s/--seconds [^ ]*/--seconds $seconds/")
[ -n "$only" ] || only="gcbench gcbench-cons binarytrees binarytrees-mt pauses"

bindir=$build/bench/gc
tmp=$(mktemp -d /tmp/gcbench.XXXXXX)
trap 'rm -rf "$tmp"' EXIT
[ -n "$raw" ] || raw=$tmp/raw
failed=0

binary_of() {  # collector binary-name -> path ("" when missing)
  case "$1" in strata) f=$bindir/$2-strata ;; *) f=$bindir/$2-boehm ;; esac
  [ -x "$f" ] && echo "$f"
}

if [ -n "$report" ]; then
  raw=$report
  runs=$(awk '{ sub(/^run=/, "", $1); if ($1 + 0 > n) n = $1 + 0 } END { print n + 0 }' "$raw")
  grep -q 'heap_mb=64 ' "$raw" && quick=1
  [ -n "$only_set" ] || only=$(awk '{ for (i = 1; i <= NF; i++) if ($i ~ /^name=/) { n = substr($i, 6); if (!(n in s)) { s[n] = 1; printf "%s ", n } } }' "$raw")
  present=$(awk '{ for (i = 1; i <= NF; i++) if ($i ~ /^gc=/) print substr($i, 4) }' "$raw" | sort -u)
  g2=; for g in $gcs; do echo "$present" | grep -qx "$g" && g2="$g2 $g"; done; gcs=$g2
else
: > "$raw"
for g in $gcs; do
  for b in $only; do
    bin=$(echo "$table" | awk -F'|' -v n="$b" '$1 == n { print $2 }')
    [ -n "$bin" ] || { echo "run.sh: no benchmark $b" >&2; exit 2; }
    [ -n "$(binary_of $g $bin)" ] || echo "note: $bindir/$bin-$( [ $g = strata ] && echo strata || echo boehm) missing: $g skipped for $b" >&2
  done
done

r=1
while [ $r -le $runs ]; do
  if [ $((r % 2)) = 1 ]; then order=$gcs; else order=$(echo $gcs | awk '{ for (i = NF; i > 0; i--) printf "%s ", $i }'); fi
  for b in $only; do
    line=$(echo "$table" | awk -F'|' -v n="$b" '$1 == n')
    bin=$(echo "$line" | cut -d'|' -f2)
    args=$(echo "$line" | cut -d'|' -f3)
    for g in $order; do
      exe=$(binary_of $g $bin) || true
      [ -n "$exe" ] || continue
      incr=0; [ $g = boehm-incr ] && incr=1
      # shellcheck disable=SC2086
      out=$(BENCH_GC_INCREMENTAL=$incr timeout 900 "$exe" $args 2>"$tmp/err")
      rc=$?
      res=$(echo "$out" | grep '^bench=' | tail -1)
      if [ $rc != 0 ] || [ -z "$res" ]; then
        echo "run $r: $b under $g FAILED (exit $rc)" >&2
        tail -5 "$tmp/err" >&2
        [ -n "$res" ] && echo "  $res" >&2
        failed=1
        res="bench=$b gc=$g check=FAIL exit=$rc"
      fi
      # name the row by the table entry (the binary names its variant too)
      echo "run=$r name=$b $res" >> "$raw"
      [ $verbose = 1 ] && echo "run=$r $res" >&2
    done
  done
  echo "run $r of $runs done" >&2
  r=$((r + 1))
done
fi

boehm_ver=$(pkg-config --modversion bdw-gc 2>/dev/null || echo "?")
header="Collector benchmarks: medians of $runs run(s)$( [ $quick = 1 ] && echo ', --quick sizes'), $(nproc) cores, $(date -u '+%Y-%m-%d %H:%M UTC'), Boehm GC $boehm_ver."

awk -v header="$header" -v gcs="$gcs" -v only="$only" '
function med(key,   n, i, j, t, v) {
  n = cnt[key]; if (n == 0) return ""
  for (i = 1; i <= n; i++) v[i] = val[key, i]
  for (i = 2; i <= n; i++) { t = v[i]; for (j = i - 1; j >= 1 && v[j] > t; j--) v[j + 1] = v[j]; v[j + 1] = t }
  return (n % 2) ? v[(n + 1) / 2] : (v[n / 2] + v[n / 2 + 1]) / 2
}
function checkcol(b, g,   c) {
  c = ((b, g) in mine) ? mine[b, g] : "-"
  if ((b in mismatch) && ((b, g) in mine)) c = "**MISMATCH " c "**"
  if (wrong[b, g]) c = c " **WRONG " wrong[b, g] "/" runs[b, g] "**"
  if (crashed[b, g]) c = c " **crashed " crashed[b, g] "/" runs[b, g] "**"
  return c
}
function fmt(x, d) { return x == "" ? "-" : sprintf("%." d "f", x) }
function ratio(a, b) { return (a == "" || b == "" || b + 0 == 0) ? "-" : sprintf("%.2f", a / b) }
BEGIN {
  nf = split("time_s peak_rss_kb collections pause_p50_us pause_p99_us pause_max_us stall_max_us alloc_mb_s pauses pause_total_ms pause_p50_exact_us pause_p99_exact_us stalls_1ms", fields, " ")
}
{
  delete kv
  for (i = 1; i <= NF; i++) { p = index($i, "="); if (p) kv[substr($i, 1, p - 1)] = substr($i, p + 1) }
  b = kv["name"]; g = kv["gc"]
  runs[b, g]++
  if ("exit" in kv) { crashed[b, g]++; nbad++ }
  else if (kv["check"] == "FAIL") { wrong[b, g]++; nbad++ }
  else {
    if (!((b, g) in mine)) mine[b, g] = kv["check"]
    if (!(b in checks)) checks[b] = kv["check"]
    else if (checks[b] != kv["check"]) { mismatch[b] = 1; nbad++ }
  }
  for (i = 1; i <= nf; i++) {
    f = fields[i]
    if (f in kv) { k = b SUBSEP g SUBSEP f; cnt[k]++; val[k, cnt[k]] = kv[f] + 0 }
  }
  seen[b, g] = 1
}
END {
  print "## " header; print ""
  print "| benchmark | collector | time s | peak RSS MiB | collections | pause p50 us | pause p99 us | pause max us | stall max us | alloc MB/s | check |"
  print "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---|"
  nb = split(only, bs, " "); ng = split(gcs, gg, " ")
  for (i = 1; i <= nb; i++) for (j = 1; j <= ng; j++) {
    b = bs[i]; g = gg[j]; if (!((b, g) in seen)) continue
    k = b SUBSEP g SUBSEP
    rss = med(k "peak_rss_kb"); if (rss != "") rss = rss / 1024
    printf "| %s | %s | %s | %s | %s | %s | %s | %s | %s | %s | %s |\n", b, g,
      fmt(med(k "time_s"), 3), fmt(rss, 1), fmt(med(k "collections"), 0),
      fmt(med(k "pause_p50_us"), 0), fmt(med(k "pause_p99_us"), 0), fmt(med(k "pause_max_us"), 0),
      fmt(med(k "stall_max_us"), 0), fmt(med(k "alloc_mb_s"), 1),
      checkcol(b, g)
  }
  print ""
  print "Ratios of medians, strata / Boehm (below 1: strata better; for pauses, time is the fixed run length and alloc MB/s is the throughput, higher is better):"
  print ""
  print "| benchmark | vs | time | peak RSS | pause p50 | pause p99 | pause max | stall max | alloc MB/s |"
  print "|---|---|---:|---:|---:|---:|---:|---:|---:|"
  for (i = 1; i <= nb; i++) for (j = 1; j <= ng; j++) {
    b = bs[i]; g = gg[j]; if (g == "strata" || !((b, g) in seen) || !((b, "strata") in seen)) continue
    s = b SUBSEP "strata" SUBSEP; o = b SUBSEP g SUBSEP
    printf "| %s | %s | %s | %s | %s | %s | %s | %s | %s |\n", b, g,
      ratio(med(s "time_s"), med(o "time_s")), ratio(med(s "peak_rss_kb"), med(o "peak_rss_kb")),
      ratio(med(s "pause_p50_us"), med(o "pause_p50_us")), ratio(med(s "pause_p99_us"), med(o "pause_p99_us")),
      ratio(med(s "pause_max_us"), med(o "pause_max_us")), ratio(med(s "stall_max_us"), med(o "stall_max_us")),
      ratio(med(s "alloc_mb_s"), med(o "alloc_mb_s"))
  }
  print ""
  print "Pause detail (medians): every pause counted and summed; exact percentiles where the collector reports each pause (Boehm); operations over 1 ms seen by the mutators (pauses only):"
  print ""
  print "| benchmark | collector | pauses | total paused s | exact p50 us | exact p99 us | ops over 1 ms |"
  print "|---|---|---:|---:|---:|---:|---:|"
  for (i = 1; i <= nb; i++) for (j = 1; j <= ng; j++) {
    b = bs[i]; g = gg[j]; if (!((b, g) in seen)) continue
    k = b SUBSEP g SUBSEP
    tp = med(k "pause_total_ms"); if (tp != "") tp = tp / 1000
    printf "| %s | %s | %s | %s | %s | %s | %s |\n", b, g, fmt(med(k "pauses"), 0), fmt(tp, 2),
      fmt(med(k "pause_p50_exact_us"), 0), fmt(med(k "pause_p99_exact_us"), 0), fmt(med(k "stalls_1ms"), 0)
  }
  print ""
  print "Pause p50/p99 are upper bounds of histogram buckets (four per power of two from 1 us) (strata_gc_pause_percentile rule, applied to Boehm too); max is exact. Boehm pauses are stops of the world; strata pauses are stops of any thread. stall max: the longest single operation seen by a mutator thread (pauses only)."
  if (nbad) { print ""; print "**" nbad " run(s) crashed, found damage (WRONG) or disagreed on the check value (MISMATCH):** see the raw lines and stderr." }
  exit nbad ? 1 : 0
}' "$raw" > "$tmp/md"
st=$?
cat "$tmp/md"
[ -n "$md" ] && cp "$tmp/md" "$md"
echo "raw result lines: $raw$( [ "$raw" = "$tmp/raw" ] && echo ' (temporary; use --raw to keep)')" >&2
[ $failed = 0 ] && [ $st = 0 ]
