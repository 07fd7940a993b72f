#!/bin/sh
# Sampled guarded allocations in real programs (docs/hardening.md, "Sampled
# guarded allocations"): python3 (PYTHONMALLOC=malloc: every object through
# malloc) and sqlite3 run with LD_PRELOAD=$STRATA_LIB and a high sampling
# rate (guard_sample=20; the default is 100000).  Asserted: exit status 0,
# stdout identical to a plain run, no strata report on stderr, and the exit
# statistics (stats=2, JSON) show blocks were sampled and nothing detected.
set -u
B=${STRATA_BUILD:-build}
if [ -z "${STRATA_LIB:-}" ]; then STRATA_LIB=$(cd "$B" && pwd)/libstrata.so; fi
[ -f "$STRATA_LIB" ] || { echo "FAIL: $STRATA_LIB not built"; exit 1; }
TMP=$(mktemp -d "${TMPDIR:-/tmp}/strata-guarded.XXXXXX") || exit 1
trap 'rm -rf "$TMP"' EXIT INT TERM
fail() { echo "FAIL: $*"; exit 1; }

# check NAME: compares $TMP/NAME.plain with $TMP/NAME.out, inspects $TMP/NAME.err
check() {
  cmp -s "$TMP/$1.plain" "$TMP/$1.out" || { diff "$TMP/$1.plain" "$TMP/$1.out" | head; fail "$1: output differs"; }
  if grep -v '^{' "$TMP/$1.err" | grep -q 'strata:'; then cat "$TMP/$1.err" | head -40; fail "$1: strata reported something"; fi
  line=$(grep '"guarded_sampled"' "$TMP/$1.err" | tail -1)
  [ -n "$line" ] || { head -20 "$TMP/$1.err"; fail "$1: no statistics at exit"; }
  sampled=$(echo "$line" | sed 's/.*"guarded_sampled":\([0-9]*\).*/\1/')
  det=$(echo "$line" | sed 's/.*"guarded_detections":\([0-9]*\).*/\1/')
  [ "$sampled" -gt 20 ] || fail "$1: only $sampled blocks sampled"
  [ "$det" -eq 0 ] || fail "$1: $det detections"
  echo "ok: $1 ($sampled sampled)"
}

OPTS=guard_sample=20,stats=2

if command -v python3 >/dev/null 2>&1; then
  cat > "$TMP/prog.py" <<'EOF'
import json, re, collections
d = {str(i): [i] * (i % 40) + ["x" * (i % 300)] for i in range(3000)}
s = json.dumps(d, sort_keys=True)
assert json.loads(s) == d
c = collections.Counter(re.findall(r"[0-9]+", s))
parts = []
for i in range(20000):
    parts.append(("%d-" % i) * (i % 7))
    if len(parts) > 500:
        parts = parts[250:]
print(len(s), len(c), c.most_common(3), len("".join(parts)))
EOF
  export PYTHONMALLOC=malloc PYTHONHASHSEED=0 PYTHONDONTWRITEBYTECODE=1
  env -u STRATA_OPTIONS python3 -s "$TMP/prog.py" > "$TMP/py.plain" 2>&1 || fail "python3 (plain) failed"
  STRATA_OPTIONS=$OPTS LD_PRELOAD=$STRATA_LIB timeout 120 python3 -s "$TMP/prog.py" > "$TMP/py.out" 2> "$TMP/py.err" \
    || { head -40 "$TMP/py.err"; fail "python3 under strata failed"; }
  check py
else
  echo "skip: python3 not installed"
fi

if command -v sqlite3 >/dev/null 2>&1; then
  cat > "$TMP/w.sql" <<'EOF'
create table t (k integer primary key, v text, w blob);
with recursive n(i) as (select 1 union all select i + 1 from n where i < 20000)
  insert into t select i, printf('%.*c', i % 200, 'v'), randomblob(i % 64) from n;
create index tv on t (v);
select count(*), sum(length(v)), sum(length(w)) from t;
update t set v = v || 'x' where k % 3 = 0;
delete from t where k % 5 = 0;
select count(*), sum(length(v)) from t;
select v, count(*) from t group by v order by 2 desc, 1 limit 3;
EOF
  env -u STRATA_OPTIONS sqlite3 -bail < "$TMP/w.sql" > "$TMP/sq.plain" 2>&1 || fail "sqlite3 (plain) failed"
  STRATA_OPTIONS=$OPTS LD_PRELOAD=$STRATA_LIB timeout 120 sqlite3 -bail < "$TMP/w.sql" > "$TMP/sq.out" 2> "$TMP/sq.err" \
    || { head -40 "$TMP/sq.err"; fail "sqlite3 under strata failed"; }
  check sq
else
  echo "skip: sqlite3 not installed"
fi
echo "guarded.sh: all ok"
