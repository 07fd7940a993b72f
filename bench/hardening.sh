#!/bin/sh
# What strata's hardening costs (issue 7), side by side in one run:
#   default   build/libstrata.so as shipped (always-on checks, guard_sample)
#   nochecks  the same sources built with -DSTRATA_CHECKS=0 (no encoded
#             free-list links, no popped-block, interior-pointer or
#             double-free tests on the fast paths)
#   secure    built with -DSTRATA_SECURE_DEFAULT=1 (option secure=1)
#   secure-nozero  the same with -DSTRATA_SECURE_ZERO=0 (secure_zero=0:
#             secure mode without zeroing freed blocks, mimalloc's set)
#   mimalloc  for reference, when installed
#   mi-plain, mi-secure  mimalloc built from one source without and with
#             MI_SECURE=ON, when bench/mimalloc_secure.sh has built them
#             under builddir/peers: the cost of mimalloc's secure mode
#             measured beside strata's (mi-secure / mi-plain)
# Sampling (guard_sample) is measured in docs/hardening.md with the
# workloads directly.  `strata bench` alternates the allocators run by run
# (glibc always runs too); the medians and the ratios of medians to
# `nochecks` (> 1 = slower) are printed at the end.  More allocators to
# compare (e.g. an older secure build): HARDENING_EXTRA=name=/path/lib.so,...
# Usage: sh bench/hardening.sh [builddir] [runs] [workloads]
set -e
B=${1:-build}
R=${2:-9}
W=${3:-churn,mixed,xthread,larson}
H=$B/hardening
make -s BUILD="$H/nochecks" EXTRA_CFLAGS=-DSTRATA_CHECKS=0 lib >/dev/null
make -s BUILD="$H/secure" EXTRA_CFLAGS=-DSTRATA_SECURE_DEFAULT=1 lib >/dev/null
make -s BUILD="$H/secure-nozero" EXTRA_CFLAGS="-DSTRATA_SECURE_DEFAULT=1 -DSTRATA_SECURE_ZERO=0" lib >/dev/null
A="default=$(cd "$B" && pwd)/libstrata.so,nochecks=$(cd "$H/nochecks" && pwd)/libstrata.so"
A="$A,secure=$(cd "$H/secure" && pwd)/libstrata.so"
A="$A,secure-nozero=$(cd "$H/secure-nozero" && pwd)/libstrata.so"
for m in /usr/lib/x86_64-linux-gnu/libmimalloc.so.2 /usr/lib/libmimalloc.so.2; do
  [ -f "$m" ] && { A="$A,mimalloc=$m"; break; }
done
M=$B/peers
if [ -f "$M/mimalloc-secure/libmimalloc-secure.so" ]; then
  A="$A,mi-plain=$(cd "$M/mimalloc-plain" && pwd)/libmimalloc.so"
  A="$A,mi-secure=$(cd "$M/mimalloc-secure" && pwd)/libmimalloc-secure.so"
fi
[ -n "${HARDENING_EXTRA:-}" ] && A="$A,$HARDENING_EXTRA"
"$B/strata" bench --only "$W" --runs "$R" --alloc "$A" --json "$H/last.json" | tee "$H/last.txt"
echo
echo "# time against nochecks (ratio of median times; > 1 = slower)"
python3 "$(dirname "$0")/ratios.py" "$H/last.json" nochecks glibc
echo "# strata's secure build against its default build"
python3 "$(dirname "$0")/ratios.py" "$H/last.json" default \
  glibc,nochecks,mimalloc,mi-plain,mi-secure
if grep -q '"mi-secure"' "$H/last.json"; then
  echo "# mimalloc's secure build against its plain build"
  python3 "$(dirname "$0")/ratios.py" "$H/last.json" mi-plain \
    glibc,default,nochecks,secure,secure-nozero,mimalloc
fi
