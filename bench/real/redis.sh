#!/bin/sh
# bench/real/redis.sh -- redis-server (only it runs under BENCH_PRELOAD) on
# 127.0.0.1 and a free high port, loaded by redis-benchmark (not preloaded):
#   redis-benchmark -t set,get,lpush,lpop -n N -P 16 -r 100000 -d 64 -q
# figure = requests per second over the four tests together (total requests
# / total time at each test's rate; higher is better), rps_<test> per test.
# peak_rss_kb = the server's VmHWM, read from /proc/PID/status just before
# it is stopped (SIGTERM, by pid).  check = md5 of the answers to a
# deterministic redis-cli script run after the benchmark (lists built by a
# Lua script, LRANGE), so a server that corrupts data shows.
# See common.sh for BENCH_PRELOAD, BENCH_QUICK, BENCH_BIN_DIR and the output.
. "$(dirname "$0")/common.sh"

need redis-server "apt-get install redis-server"
need redis-cli "apt-get install redis-tools"
need redis-benchmark "apt-get install redis-tools"
if [ "$REAL_QUICK" = 1 ]; then N=100000; else N=500000; fi
TESTS=set,get,lpush,lpop

REAL_CLEANUP_HOOK=redis_stop   # shlib.sh: redis_stop, cli, port_in_use

attempt=0
while [ -z "$REDIS_PID" ]; do
  attempt=$((attempt + 1))
  [ $attempt -le 10 ] || fail "could not start redis-server on a free port in 10 attempts"
  r=$(od -An -N2 -tu2 /dev/urandom | tr -d ' \n')
  PORT=$((20000 + r % 40000))
  port_in_use "$PORT" && continue
  log=$REAL_TMP/redis.log
  : > "$log"
  set -- redis-server --port "$PORT" --bind 127.0.0.1 --save "" --appendonly no \
    --daemonize no --dir "$REAL_TMP" --logfile "$log"
  if [ -n "$REAL_LIB" ]; then
    timeout -k 5 120 env LD_PRELOAD="$REAL_LIB" "$@" </dev/null >"$REAL_TMP/redis.stdout" 2>&1 &
  else
    timeout -k 5 120 "$@" </dev/null >"$REAL_TMP/redis.stdout" 2>&1 &
  fi
  SRV_PID=$!
  if ! redis_wait; then
    wait "$SRV_PID" 2>/dev/null
    SRV_PID=
    grep -q "Address already in use" "$log" "$REAL_TMP/redis.stdout" 2>/dev/null && continue
    tail -n 5 "$log" "$REAL_TMP/redis.stdout" >&2
    fail "redis-server did not start"
  fi
done

if [ -n "$REAL_LIB" ]; then
  grep -qF "/$REAL_MAPNAME" "/proc/$REDIS_PID/maps" \
    || fail "$REAL_MAPNAME is not mapped in redis-server (pid $REDIS_PID) under LD_PRELOAD=$REAL_LIB"
fi

t0=$(now_ns)
timeout 60 redis-benchmark -h 127.0.0.1 -p "$PORT" -t "$TESTS" -n "$N" -P 16 -r 100000 -d 64 -q \
  </dev/null >"$REAL_TMP/bench.raw" 2>&1
rc=$?
t1=$(now_ns)
kill -0 "$REDIS_PID" 2>/dev/null || fail "redis-server died during redis-benchmark"
[ $rc -eq 0 ] || { tail -n 5 "$REAL_TMP/bench.raw" >&2; fail "redis-benchmark failed (exit $rc)"; }
# lines like "SET: 123456.79 requests per second, p50=0.287 msec"
tr '\r' '\n' < "$REAL_TMP/bench.raw" \
  | sed -n 's/^ *\([A-Za-z_]*\)[^:]*: *\([0-9.]*\) requests per second.*/\1 \2/p' > "$REAL_TMP/rps"
[ "$(wc -l < "$REAL_TMP/rps")" -eq 4 ] || { cat "$REAL_TMP/bench.raw" >&2; fail "expected 4 results from redis-benchmark"; }
RPS=$(awk -v n="$N" '{ t += n / $2; c += n } END { printf "%.1f", c / t }' "$REAL_TMP/rps")
EXTRA=$(awk '{ printf "rps_%s=%s ", tolower($1), $2 }' "$REAL_TMP/rps")
SECS=$(awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.6f", (b - a) / 1e9 }')

# Deterministic answers from the server after the load.
{
  cli DEL chk:list chk:str >/dev/null
  cli EVAL "for i = 1, 20000 do redis.call('RPUSH', KEYS[1], string.rep('v', i % 97) .. i) end return redis.call('LLEN', KEYS[1])" 1 chk:list
  cli LRANGE chk:list 0 -1
  cli EVAL "local s = '' for i = 1, 2000 do s = s .. i .. ',' end redis.call('SET', KEYS[1], s) return #s" 1 chk:str
  cli GET chk:str
  cli LTRIM chk:list 100 199
  cli LRANGE chk:list 0 -1
} > "$REAL_TMP/check.out" 2>&1 || fail "redis-cli check script failed"
CHECK=$(md5sum < "$REAL_TMP/check.out" | cut -c1-32)

HWM=$(awk '/^VmHWM:/ { print $2 }' "/proc/$REDIS_PID/status")
[ -n "$HWM" ] || fail "cannot read VmHWM of pid $REDIS_PID"
kill "$REDIS_PID"
wait "$SRV_PID"; rc=$?
SRV_PID=; REDIS_PID=
[ $rc -eq 0 ] || say "redis-server exited with status $rc after SIGTERM"

emit redis 1 $((4 * N)) "$SECS" "$HWM" "$CHECK" requests_per_sec "$RPS" higher $EXTRA "requests=$N"
