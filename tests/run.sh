#!/bin/sh
# Runs every test: build/tests/* binaries, tests/*.sh (scripted tests), then
# tests/real/*.sh (real programs under LD_PRELOAD).  Usage: sh tests/run.sh [builddir].  Exit status is the
# number of failures (capped), 0 when all pass.
B=${1:-build}
export STRATA_BUILD="$B"
export STRATA_LIB="$(cd "$B" && pwd)/libstrata.so"
pass=0; fail=0; failed=""
run() {  # name, command...
  name=$1; shift
  start=$(date +%s)
  if timeout 600 "$@" > "$B/tests/$name.log" 2>&1; then
    pass=$((pass+1)); echo "PASS $name ($(( $(date +%s) - start ))s)"
  else
    rc=$?; fail=$((fail+1)); failed="$failed $name"
    echo "FAIL $name (exit $rc); last lines of $B/tests/$name.log:"; tail -n 20 "$B/tests/$name.log" | sed 's/^/    /'
  fi
}
mkdir -p "$B/tests"
for t in "$B"/tests/t_* "$B"/tests/u_* "$B"/tests/x_*; do
  [ -x "$t" ] || continue
  case "$t" in *.log) continue;; esac
  run "$(basename "$t")" "$t"
done
for s in tests/*.sh; do
  case "$s" in tests/run.sh|tests/deps.sh) continue;; esac
  run "sh_$(basename "$s" .sh)" sh "$s"
done
for s in tests/real/*.sh; do
  [ -f "$s" ] || continue
  run "real_$(basename "$s" .sh)" sh "$s"
done
echo "tests: $pass passed, $fail failed${failed:+:$failed}"
[ "$fail" -eq 0 ]
