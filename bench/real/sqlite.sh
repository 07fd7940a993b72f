#!/bin/sh
# bench/real/sqlite.sh -- the sqlite3 CLI on an in-memory database running
# bench/real/sqlite.sql: bulk insert, three indexes, aggregates, joins, a
# window function, updates and deletes, CREATE TABLE AS + index, VACUUM,
# integrity check.  figure = wall seconds of the whole run (lower is better).
# See common.sh for BENCH_PRELOAD, BENCH_QUICK, BENCH_BIN_DIR and the output.
. "$(dirname "$0")/common.sh"

need sqlite3 "apt-get install sqlite3"
SQLITE=$(command -v sqlite3)
if [ "$REAL_QUICK" = 1 ]; then ROWS=100000; else ROWS=400000; fi

sed "s/@ROWS@/$ROWS/g" "$REAL_DIR/sqlite.sql" > "$REAL_TMP/work.sql"
run_measured sqlite "$REAL_TMP/work.sql" "$SQLITE" -bail -batch :memory:
grep -q '^ok$' "$REAL_TMP/sqlite.out" || fail "integrity check did not print ok: $(tail -n 3 "$REAL_TMP/sqlite.err")"
grep -q "^rows|$ROWS|" "$REAL_TMP/sqlite.out" || fail "wrong row count: $(head -n 1 "$REAL_TMP/sqlite.out")"
emit sqlite 1 "$ROWS" "$RUN_SECS" "$RUN_RSS_KB" "$RUN_MD5" secs "$RUN_SECS" lower "rows=$ROWS"
