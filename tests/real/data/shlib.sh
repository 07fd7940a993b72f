# tests/real/data/shlib.sh -- shell helpers shared by tests/real/*.sh and
# bench/real/*.sh (POSIX sh; sourced after the caller defines `fail`).

# real_tmpdir TAG: make $REAL_TMP, removed on every exit (after running
# $REAL_CLEANUP_HOOK, which callers set to stop their servers).
real_tmpdir() {
  REAL_TMP=$(mktemp -d "${TMPDIR:-/tmp}/$1.XXXXXX") || fail "mktemp -d failed"
  REAL_CLEANUP_HOOK=:
  trap real_cleanup EXIT
  trap 'exit 130' INT
  trap 'exit 143' TERM
  trap 'exit 129' HUP
  trap 'exit 141' PIPE
}
real_cleanup() {
  rc=$?
  trap - EXIT INT TERM HUP PIPE
  $REAL_CLEANUP_HOOK
  rm -rf "$REAL_TMP"
  exit $rc
}

# A redis-server the caller started: SRV_PID is the `timeout` process wrapping
# it, REDIS_PID the server, PORT its port.  redis_stop ends both (set
# REAL_CLEANUP_HOOK=redis_stop); cli talks to it; port_in_use PORT says
# whether something listens there (without ss, assume not: the caller retries
# when redis cannot bind).
SRV_PID=
REDIS_PID=
PORT=
redis_stop() {
  [ -n "$REDIS_PID" ] && kill "$REDIS_PID" 2>/dev/null
  [ -n "$SRV_PID" ] && { kill "$SRV_PID" 2>/dev/null; wait "$SRV_PID" 2>/dev/null; }
  SRV_PID=; REDIS_PID=
}
cli() { timeout 30 redis-cli -h 127.0.0.1 -p "$PORT" "$@"; }
port_in_use() {
  command -v ss >/dev/null 2>&1 || return 1
  ss -Htln 2>/dev/null | awk '{print $4}' | grep -q ":$1\$"
}

# redis_wait: wait up to 10 s for the redis-server started as $SRV_PID (a
# `timeout` process) to answer on $PORT.  Returns 0 with $REDIS_PID set when
# it does and the server answering is that process's child (ours, not a
# stranger on the same port); 1 when it exited first.
redis_wait() {
  i=0
  while [ $i -lt 100 ] && kill -0 "$SRV_PID" 2>/dev/null; do
    [ "$(cli ping 2>/dev/null)" = PONG ] && break
    sleep 0.1
    i=$((i + 1))
  done
  kill -0 "$SRV_PID" 2>/dev/null && [ "$(cli ping 2>/dev/null)" = PONG ] || return 1
  REDIS_PID=$(cli info server | tr -d '\r' | sed -n 's/^process_id://p')
  [ -n "$REDIS_PID" ] || fail "cannot get the server's process_id"
  ppid=$(awk '{print $4}' "/proc/$REDIS_PID/stat" 2>/dev/null)
  [ "$ppid" = "$SRV_PID" ] || fail "the redis on port $PORT (pid $REDIS_PID) is not the one we started"
  return 0
}
