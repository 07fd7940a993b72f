#!/bin/sh
# What strata's hardening costs (issue 7), side by side in one run:
#   default   build/libstrata.so as shipped (always-on checks, guard_sample)
#   nochecks  the same sources built with -DSTRATA_CHECKS=0 (no encoded
#             free-list links, no popped-block, interior-pointer or
#             double-free tests on the fast paths)
#   nosample  default library with STRATA_OPTIONS=guard_sample=0 is not
#             expressible per allocator here, so sampling is measured in
#             docs/hardening.md with bench_malloc directly
#   secure    built with -DSTRATA_SECURE_DEFAULT=1 (option secure=1)
#   mimalloc  for reference, when installed
# bench_malloc alternates the allocators run by run; the medians and the
# ratios to `nochecks` are printed at the end.
# Usage: sh bench/hardening.sh [builddir] [rounds] [workloads]
set -e
B=${1:-build}
R=${2:-9}
W=${3:-churn,mixed,xthread,larson}
H=$B/hardening
make -s BUILD="$H/nochecks" EXTRA_CFLAGS=-DSTRATA_CHECKS=0 lib >/dev/null
make -s BUILD="$H/secure" EXTRA_CFLAGS=-DSTRATA_SECURE_DEFAULT=1 lib >/dev/null
set -- --with "default=$B/libstrata.so" --with "nochecks=$H/nochecks/libstrata.so" \
       --with "secure=$H/secure/libstrata.so"
for m in /usr/lib/x86_64-linux-gnu/libmimalloc.so.2 /usr/lib/libmimalloc.so.2; do
  [ -f "$m" ] && { set -- "$@" --with "mimalloc=$m"; break; }
done
"$B/bench/bench_malloc" -w "$W" -r "$R" --no-strata "$@" | tee "$H/last.txt"
echo
echo "# cost against nochecks (ratio of median ops/s; <1 = slower)"
awk '$1 ~ /^(churn|order|mixed|xthread|larson|realloc|falseshare|threads|large)$/ && NF >= 8 {
       v = $3; m = 1; if (v ~ /M$/) m = 1e6; else if (v ~ /k$/) m = 1e3; sub(/[Mk]$/, "", v);
       ops[$1, $2] = v * m; w[$1] = 1; a[$2] = 1 }
     END { for (x in w) for (y in a) if (y != "nochecks" && (x, "nochecks") in ops && (x, y) in ops)
             printf "%-10s %-9s %.3f\n", x, y, ops[x, y] / ops[x, "nochecks"] }' "$H/last.txt" | sort
