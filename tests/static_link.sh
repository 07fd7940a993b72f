#!/bin/sh
# A fully static program linked with libstrata.a: strata's malloc (and the
# __libc_* aliases) must replace glibc's inside libc.a without duplicate
# symbols, and glibc's own internal allocations (strdup, stdio, threads) must
# go through strata.
set -eu
B=${STRATA_BUILD:-build}
out="$B/tests/static_prog"
if ! cc -static -O2 -Iinclude tests/data/static_prog.c "$B/libstrata.a" -pthread -o "$out" 2> "$out.err"; then
  if grep -q "cannot find -lc" "$out.err"; then echo "static libc not installed: skipped"; exit 0; fi
  cat "$out.err"; echo "FAIL: static link with libstrata.a"; exit 1
fi
got=$(STRATA_OPTIONS=stats=1 "$out" 2>&1)
echo "$got"
echo "$got" | grep -q "^hello dup$" || { echo "FAIL: wrong output"; exit 1; }
echo "$got" | grep -q "^check 0" || { echo "FAIL: heap check"; exit 1; }
echo "$got" | grep -q "^strata 0.1 statistics" || { echo "FAIL: strata's malloc_stats did not run: not strata's malloc"; exit 1; }
nm "$out" | grep -q " T __libc_malloc$" || { echo "FAIL: __libc_malloc not defined"; exit 1; }
echo "static link: ok"
