#!/bin/sh
# Real program: redis-server (a long-running server; lazy-free frees in a
# background thread) on 127.0.0.1 and a free high port,
# once plainly and once under LD_PRELOAD=$STRATA_LIB.  Against each server:
# redis-benchmark (small and 4 KiB values), a deterministic redis-cli script
# (tests/real/data/redis_cmds.txt: strings, lists, hashes, sets, sorted sets,
# streams, big values built by Lua scripts, UNLINK/FLUSHALL ASYNC), a few
# explicit known answers, INFO memory; then the server is stopped with SIGTERM
# and must exit cleanly (status 0).  The redis-cli answers of the two servers
# must be identical; benchmark numbers are printed side by side (information).
. "$(dirname "$0")/data/common.sh"

for p in redis-server redis-cli redis-benchmark; do
  command -v "$p" >/dev/null 2>&1 || fail "$p not found (apt-get install redis-server redis-tools)"
done
say "$(redis-server --version | cut -d' ' -f1-3), library: $STRATA_LIB"
D=$REAL_TMP
CMDS=$REAL_DATA/redis_cmds.txt
REAL_CLEANUP_HOOK=redis_stop   # shlib.sh: redis_stop, cli, port_in_use

# start_server MODE (plain|strata): sets PORT, SRV_PID, REDIS_PID
start_server() {
  mode=$1
  attempt=0
  while [ $attempt -lt 10 ]; do
    attempt=$((attempt + 1))
    r=$(od -An -N2 -tu2 /dev/urandom | tr -d ' \n')
    PORT=$((20000 + r % 40000))
    port_in_use "$PORT" && continue
    log=$D/redis-$mode.log
    : > "$log"
    set -- redis-server --port "$PORT" --bind 127.0.0.1 --save "" --appendonly no \
      --daemonize no --dir "$D" --logfile "$log" \
      --lazyfree-lazy-user-del yes --lazyfree-lazy-server-del yes
    if [ "$mode" = strata ]; then
      timeout -k 5 300 env LD_PRELOAD="$STRATA_LIB" "$@" </dev/null >"$D/redis-$mode.stdout" 2>&1 &
    else
      timeout -k 5 300 env -u LD_PRELOAD "$@" </dev/null >"$D/redis-$mode.stdout" 2>&1 &
    fi
    SRV_PID=$!
    redis_wait && return 0
    wait "$SRV_PID"; rc=$?
    SRV_PID=
    if grep -q "Address already in use" "$log" "$D/redis-$mode.stdout" 2>/dev/null; then
      say "port $PORT busy, retrying"
      continue
    fi
    show_tail "$log" "redis log"
    show_tail "$D/redis-$mode.stdout" "redis stdout/stderr"
    fail "$mode: redis-server did not start: $(describe_rc "$rc")"
  done
  fail "could not find a free port for redis-server in 10 attempts"
}

check_server_alive() {  # mode what
  if ! kill -0 "$REDIS_PID" 2>/dev/null; then
    wait "$SRV_PID"; rc=$?; SRV_PID=
    show_tail "$D/redis-$1.log" "redis log"
    fail "$1: redis-server died during $2: $(describe_rc "$rc")"
  fi
}

expect_reply() {  # mode expected cmd...
  m=$1; want=$2; shift 2
  got=$(cli "$@" 2>&1) || { check_server_alive "$m" "redis-cli $*"; fail "$m: redis-cli $* failed: $got"; }
  [ "$got" = "$want" ] || fail "$m: redis-cli $* answered '$got', expected '$want'"
}

bench() {  # mode name args...
  m=$1; name=$2; shift 2
  timeout 120 redis-benchmark -h 127.0.0.1 -p "$PORT" -q "$@" </dev/null >"$D/bench-$name.$m.raw" 2>&1
  rc=$?
  tr '\r' '\n' < "$D/bench-$name.$m.raw" | grep 'requests per second' \
    | sed -n 's/^ *\(.*\): *\([0-9.]*\) requests per second.*/\2 \1/p' > "$D/bench-$name.$m"
  check_server_alive "$m" "redis-benchmark $*"
  [ "$rc" -eq 0 ] || { show_tail "$D/bench-$name.$m.raw" "redis-benchmark"; fail "$m: redis-benchmark $* failed: $(describe_rc "$rc")"; }
  [ -s "$D/bench-$name.$m" ] || { show_tail "$D/bench-$name.$m.raw" "redis-benchmark"; fail "$m: redis-benchmark printed no results"; }
}

session() {  # mode
  m=$1
  start_server "$m"
  if grep -qF "/$REAL_LIBNAME" "/proc/$REDIS_PID/maps"; then loaded=yes; else loaded=no; fi
  if [ "$m" = strata ]; then
    [ $loaded = yes ] || fail "strata: $REAL_LIBNAME is not mapped in redis-server (pid $REDIS_PID)"
  fi
  say "$m: redis-server pid $REDIS_PID on port $PORT (library mapped: $loaded)"
  t0=$(now_ms)

  bench "$m" small -n 20000 -c 20 -t set,get,lpush,lpop,incr,hset,sadd -d 64 -P 4
  bench "$m" large -n 3000 -c 10 -t set,get,lpush,lrange_100 -d 4096 -P 2

  # The deterministic script.
  timeout 60 redis-cli -h 127.0.0.1 -p "$PORT" < "$CMDS" > "$D/cli.$m.out" 2>"$D/cli.$m.err"
  rc=$?
  check_server_alive "$m" "the redis-cli script"
  [ "$rc" -eq 0 ] || { show_tail "$D/cli.$m.err" "redis-cli stderr"; fail "$m: redis-cli script failed: $(describe_rc "$rc")"; }
  if grep -nE '^(ERR|WRONGTYPE|\(error\))' "$D/cli.$m.out" >&2; then fail "$m: redis-cli script got error replies"; fi

  # Known answers.
  expect_reply "$m" OK SET key1 "strata value"
  expect_reply "$m" "strata value" GET key1
  expect_reply "$m" 17 APPEND key1 " more"
  expect_reply "$m" "strata value more" GET key1
  expect_reply "$m" 4 RPUSH rl one two three four
  expect_reply "$m" "two
three" LRANGE rl 1 2
  expect_reply "$m" 100000 EVAL "for i = 1, 100000 do redis.call('RPUSH', 'L', string.rep('e', i % 700)) end return redis.call('LLEN', 'L')" 0
  expect_reply "$m" 699 EVAL "return #redis.call('LINDEX', KEYS[1], 698)" 1 L
  expect_reply "$m" 1 UNLINK L
  expect_reply "$m" 0 EXISTS L

  # INFO memory (the numbers depend on the allocator: information only).
  cli info memory > "$D/info.$m" 2>&1 || fail "$m: redis-cli info memory failed"
  tr -d '\r' < "$D/info.$m" > "$D/info.$m.txt"
  expect_in "$D/info.$m.txt" "used_memory:"
  expect_in "$D/info.$m.txt" "mem_allocator:"
  mu=$(cli MEMORY USAGE key1) || fail "$m: MEMORY USAGE failed"
  case "$mu" in ''|*[!0-9]*) fail "$m: MEMORY USAGE key1 answered '$mu'" ;; esac
  say "$m: $(grep -E '^(used_memory_human|used_memory_rss_human|mem_allocator):' "$D/info.$m.txt" | tr '\n' ' ')"

  # Stop it: SIGTERM, it must exit by itself with status 0.
  check_server_alive "$m" "the tests"
  kill "$REDIS_PID"
  wait "$SRV_PID"; rc=$?
  SRV_PID=
  if [ -d "/proc/$REDIS_PID" ] && ! grep -q zombie "/proc/$REDIS_PID/status" 2>/dev/null; then
    fail "$m: redis-server (pid $REDIS_PID) still running after SIGTERM"
  fi
  REDIS_PID=
  [ "$rc" -eq 0 ] || { show_tail "$D/redis-$m.log" "redis log"; fail "$m: redis-server exited with $(describe_rc "$rc") after SIGTERM"; }
  grep -q "ready to exit" "$D/redis-$m.log" || { show_tail "$D/redis-$m.log" "redis log"; fail "$m: redis-server did not log a clean shutdown"; }
  eval "MS_$m=\$(( \$(now_ms) - t0 ))"
}

session plain
session strata

# The deterministic answers must be identical.
if ! cmp -s "$D/cli.plain.out" "$D/cli.strata.out"; then
  echo "---- diff of redis-cli answers: plain vs strata (first 40 lines) ----" >&2
  diff -u "$D/cli.plain.out" "$D/cli.strata.out" | head -n 40 >&2
  fail "redis-cli answers differ between the plain server and the server under LD_PRELOAD=$STRATA_LIB"
fi
say "ok   redis-cli script: identical answers ($(wc -l < "$D/cli.plain.out" | tr -d ' ') lines)"

# Benchmarks side by side (information only).
for b in small large; do
  say "redis-benchmark ($b values), requests per second (ratio = strata/plain, higher is faster):"
  printf '    %-34s %12s %12s %8s\n' test plain "$REAL_LIBNAME" ratio
  # lines are "RPS NAME..."; joined on NAME
  awk 'NR == FNR { k = $0; sub(/^[^ ]* /, "", k); p[k] = $1; next }
       { k = $0; sub(/^[^ ]* /, "", k)
         r = (p[k] > 0) ? sprintf("%.2fx", $1 / p[k]) : "-"
         printf "    %-34s %12s %12s %8s\n", substr(k, 1, 34), p[k], $1, r }' \
    "$D/bench-$b.plain" "$D/bench-$b.strata"
done
say "PASS: redis-cli answers identical, clean shutdowns; session time plain ${MS_plain} ms, $REAL_LIBNAME ${MS_strata} ms, ratio $(ratio "$MS_strata" "$MS_plain") (information only)"
