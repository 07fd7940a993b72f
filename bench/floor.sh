#!/bin/sh
# How much of a workload's time is the allocator's (issue 2's churn target):
# the single-thread small-object workloads (churn, order) under glibc,
# strata, the peers installed, and libfloor.so (bench/floor/floor.c: the
# least an allocator can do -- a LIFO list per 16-byte class, no checks, no
# statistics, nothing returned to the OS).  What libfloor.so leaves of a
# workload's time is the workload's own work (its random number generator,
# its reads of the blocks, its cache misses): no allocator can remove it, so
# time(floor) / time(glibc) bounds what "N times glibc's throughput" any
# allocator can reach on that workload.
# `strata bench` alternates the allocators run by run; the medians and their
# ratios to glibc are printed at the end (< 1 = faster than glibc).
# Usage: sh bench/floor.sh [builddir] [runs] [workloads]
set -e
B=${1:-build}
R=${2:-9}
W=${3:-churn,order}
make -s BUILD="$B" "$B/bench/libfloor.so" >/dev/null
A="strata,floor=$(cd "$B/bench" && pwd)/libfloor.so"
for p in jemalloc tcmalloc mimalloc; do A="$A,$p"; done
mkdir -p "$B/floor"
"$B/strata" bench --only "$W" --runs "$R" --alloc "$A" --json "$B/floor/last.json" | tee "$B/floor/last.txt"
echo
echo "# time against glibc (ratio of median times; 0.5 = twice glibc's throughput)"
python3 "$(dirname "$0")/ratios.py" "$B/floor/last.json" glibc
