#!/bin/sh
# bench/gc/run.sh -- the collector benchmarks, strata against the Boehm GC:
# a thin wrapper around `strata bench gc` (src/tools/benchgc.c), which runs
# them interleaved and prints the tables; the options are the same, plus
# --build DIR (where `strata` and bench/gc/ are; default build).
#
# usage: sh bench/gc/run.sh [--build DIR] [strata bench gc options]
#   e.g. sh bench/gc/run.sh --quick
#        sh bench/gc/run.sh --runs 3 --md gc.md --raw gc.raw
#        sh bench/gc/run.sh --report gc.raw
# `build/strata bench gc --help` lists the options; docs/gc-bench.md the method.
set -u
build=build
n=$#
while [ "$n" -gt 0 ]; do
  case "$1" in
    --build) build=$2; shift 2; n=$((n - 2)); continue ;;
    --build=*) build=${1#--build=}; shift; n=$((n - 1)); continue ;;
  esac
  set -- "$@" "$1"; shift; n=$((n - 1))
done
[ -x "$build/strata" ] || { echo "run.sh: $build/strata not found (run make)" >&2; exit 2; }
exec "$build/strata" bench gc "$@"
