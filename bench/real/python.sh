#!/bin/sh
# bench/real/python.sh -- the system CPython (/usr/bin/python3, not a
# pyenv shim) with PYTHONMALLOC=malloc, so every Python object goes through
# malloc, on bench/real/alloc.py (dicts, strings, sorting, JSON, linked
# objects).  figure = wall seconds of the whole run (lower is better).
# See common.sh for BENCH_PRELOAD, BENCH_QUICK, BENCH_BIN_DIR and the output.
. "$(dirname "$0")/common.sh"

PY=${BENCH_PYTHON:-/usr/bin/python3}
[ -x "$PY" ] || die "$PY not found (apt-get install python3)"
if [ "$REAL_QUICK" = 1 ]; then SCALE=2; else SCALE=6; fi

export PYTHONMALLOC=malloc PYTHONHASHSEED=0 PYTHONDONTWRITEBYTECODE=1
unset PYTHONPATH PYTHONHOME PYTHONSTARTUP 2>/dev/null || true

# No -E (or -I): it makes python ignore PYTHONMALLOC, and pymalloc would
# serve every object under 512 bytes (this script passed -E until
# 2026-11-27, so python figures before then measured mostly pymalloc).
# pymalloc prints its pools in _debugmallocstats; the malloc allocator does not.
if "$PY" -s -c 'import sys; sys._debugmallocstats()' 2>&1 | grep -q 'Small block threshold'; then
  die "PYTHONMALLOC=malloc did not take effect: pymalloc is in use"
fi
run_measured py - "$PY" -s "$REAL_DIR/alloc.py" "$SCALE"
grep -q '^done$' "$REAL_TMP/py.out" || fail "alloc.py did not finish: $(tail -n 3 "$REAL_TMP/py.err")"
emit python 1 "$SCALE" "$RUN_SECS" "$RUN_RSS_KB" "$RUN_MD5" secs "$RUN_SECS" lower "scale=$SCALE"
