#!/bin/sh
# Real program: the sqlite3 CLI running tests/real/data/workload.sql (300000
# rows with text and blob columns, indexes, aggregates, joins, group by,
# window/json functions, updates, deletes, vacuum, integrity check) against a
# temp database file and against :memory:.  Plain run vs
# LD_PRELOAD=$STRATA_LIB run: identical output required; the database files
# written by the two runs must also hold the same data.
. "$(dirname "$0")/data/common.sh"

command -v sqlite3 >/dev/null 2>&1 || fail "sqlite3 not found (apt-get install sqlite3)"
say "sqlite3 $(sqlite3 --version | cut -d' ' -f1), library: $STRATA_LIB"
SQL=$REAL_DATA/workload.sql
DB=$REAL_TMP/test.db

# 1. temp database file.  Between the runs the plain run's file is moved away.
REAL_BETWEEN='mv "$DB" "$DB.plain" && rm -f "$DB-journal"'
run_pair file "$SQL" sqlite3 -bail "$DB"
REAL_BETWEEN=
expect_in "$REAL_TMP/file.plain.out" "rows|300000|"
expect_in "$REAL_TMP/file.plain.out" "vacuumed|166666|"
[ "$(grep -c '^ok$' "$REAL_TMP/file.plain.out")" -eq 2 ] || fail "file: integrity checks did not print ok"

# The file written under strata must hold the same data as the plain one
# (read back by a plain sqlite3).
for f in plain strata; do
  case $f in plain) db=$DB.plain ;; strata) db=$DB ;; esac
  timeout "$REAL_TIMEOUT" sqlite3 -bail "$db" \
    "PRAGMA integrity_check; SELECT count(*), sum(id), sum(grp), total(length(name)), total(length(body)), total(length(data)) FROM t;
     SELECT group_concat(x, '') FROM (SELECT hex(data) AS x FROM t WHERE data IS NOT NULL AND id % 999 = 0 ORDER BY id);" \
    | md5sum > "$REAL_TMP/readback.$f" || fail "reading back the $f database failed"
done
cmp -s "$REAL_TMP/readback.plain" "$REAL_TMP/readback.strata" \
  || fail "the database file written under LD_PRELOAD holds different data than the plain one"
if cmp -s "$DB.plain" "$DB"; then same="byte-identical"; else same="same data (files differ in bytes)"; fi
say "ok   database files: $same ($(wc -c <"$DB" | tr -d ' ') bytes)"

# 2. in-memory database (everything, including the page cache, in malloc).
run_pair memory "$SQL" sqlite3 -bail :memory:
expect_in "$REAL_TMP/memory.plain.out" "rows|300000|"
cmp -s "$REAL_TMP/memory.plain.out" "$REAL_TMP/file.plain.out" \
  || fail "the :memory: and file databases gave different query results"

summary
