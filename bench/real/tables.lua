-- bench/real/tables.lua -- table-heavy, deterministic Lua work for
-- bench/real/lua.sh (lua5.4; its allocator is realloc/free).
-- Usage: lua5.4 tables.lua SCALE.  Output depends only on SCALE: own LCG,
-- no pairs() order dependence, no tostring() of tables.
local scale = tonumber(arg[1]) or 1
local seed = 12345
local function rnd(n)
  seed = (seed * 1103515245 + 12345) % 2147483648
  return seed % n + 1
end

local function fnv(h, s)
  for i = 1, #s do h = ((h ~ s:byte(i)) * 16777619) & 0xffffffff end
  return h
end

local N = 40000 * scale
for round = 1, 3 do
  -- 1. records: tables of fields, built, filtered, sorted, dropped
  local recs = {}
  for i = 1, N do
    recs[i] = { id = i, key = "k" .. rnd(N), val = rnd(1000), tags = { rnd(9), rnd(9), rnd(9) } }
  end
  local kept = {}
  for i = 1, #recs do
    local r = recs[i]
    if r.val % 3 ~= 0 then kept[#kept + 1] = r end
  end
  table.sort(kept, function(a, b)
    if a.val ~= b.val then return a.val < b.val end
    return a.id < b.id
  end)
  local h = 2166136261
  for i = 1, #kept, 101 do h = fnv(h, kept[i].key .. ":" .. kept[i].val) end
  print("records", round, #kept, h)
  recs, kept = nil, nil

  -- 2. hash tables keyed by strings, grown and shrunk
  local map, count = {}, 0
  for i = 1, N do
    local k = "m" .. rnd(N // 2)
    if map[k] then map[k] = nil; count = count - 1
    else map[k] = { i, tostring(i) }; count = count + 1 end
  end
  local sum = 0
  for i = 1, N // 2 do local v = map["m" .. i]; if v then sum = sum + v[1] end end
  print("map", round, count, sum)
  map = nil

  -- 3. arrays of arrays (matrix), string building
  local rows = {}
  for i = 1, N // 40 do
    local row = {}
    for j = 1, 40 do row[j] = (i * j + rnd(7)) % 997 end
    rows[i] = row
  end
  local parts = {}
  for i = 1, #rows do
    local s = 0
    for j = 1, 40 do s = s + rows[i][j] end
    parts[#parts + 1] = string.format("%d=%d", i, s)
  end
  local text = table.concat(parts, ",")
  print("matrix", round, #text, fnv(2166136261, text:sub(1, 5000)))

  -- 4. closures and garbage
  local fns = {}
  for i = 1, N // 4 do
    local x = rnd(100)
    fns[i] = function(y) return x * y + i end
  end
  local acc = 0
  for i = 1, #fns do acc = (acc + fns[i](i % 13)) % 1000000007 end
  print("closures", round, acc)
  fns = nil
  collectgarbage()
end
print("done")
