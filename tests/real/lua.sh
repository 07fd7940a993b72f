#!/bin/sh
# Real program: the lua5.4 interpreter (its allocator is realloc/free) running
# tests/real/data/alloc.lua: table/string churn, string.rep/concat, table.sort,
# closures, coroutines, cyclic garbage, collectgarbage, weak tables.
# Plain run vs LD_PRELOAD=$STRATA_LIB run: identical output required.
. "$(dirname "$0")/data/common.sh"

LUA=$(command -v lua5.4) || fail "lua5.4 not found (apt-get install lua5.4)"
say "$($LUA -v 2>&1 | cut -d' ' -f1-2), library: $STRATA_LIB"

run_pair alloc - "$LUA" "$REAL_DATA/alloc.lua"
expect_in "$REAL_TMP/alloc.plain.out" "done"
expect_in "$REAL_TMP/alloc.strata.out" "reclaimed"

# A second, short program through stdin: huge string building and patterns.
cat > "$REAL_TMP/strings.lua" <<'LUA'
local t = {}
for i = 1, 200000 do t[#t + 1] = ("%d|%x|%s"):format(i, i * 7, ("q"):rep(i % 33)) end
local s = table.concat(t, "\n")
local n = 0
for a, b in s:gmatch("(%d+)|(%x+)") do n = (n + #a * 3 + #b) % 1000003 end
local u = s:gsub("q+", string.upper):sub(1, 100000)
print(#s, n, #u, select(2, s:gsub("\n", "\n")))
LUA
run_pair strings "$REAL_TMP/strings.lua" "$LUA" -

# The same churn with strata's non-default options (README "Options"):
# transparent huge pages for small-object segments, no immediate purging.
# (The plain run ignores STRATA_OPTIONS.)
STRATA_OPTIONS=${REAL_LUA_OPTIONS:-thp=2,purge_ms=0} run_pair alloc_options - "$LUA" "$REAL_DATA/alloc.lua"

summary
