-- Allocation churn for tests/real/lua.sh (lua5.4; its allocator is realloc/free).
-- Deterministic output: own LCG, no pairs() order dependence (Lua 5.4 seeds
-- its string hash randomly), no tostring() of tables/functions.

local want = os.getenv("REAL_EXPECT_PRELOADED")
if want and want ~= "" then
  local f = assert(io.open("/proc/self/maps"))
  local maps = f:read("a")
  f:close()
  if not maps:find("/" .. want, 1, true) then
    io.stderr:write("alloc.lua: " .. want .. " not in /proc/self/maps\n")
    os.exit(3)
  end
end

local seed = 12345
local function rnd(n)             -- deterministic LCG, 1..n
  seed = (seed * 1103515245 + 12345) % 2147483648
  return seed % n + 1
end

local function fnv(s, h)          -- 32-bit FNV-1a over a string
  h = h or 2166136261
  for i = 1, #s do
    h = ((h ~ s:byte(i)) * 16777619) & 0xffffffff
  end
  return h
end

-- 1. tables of strings and subtables, discarded and rebuilt
local check = 0
local survivors = {}
for round = 1, 40 do
  local t = {}
  for i = 1, 5000 do
    local k = "key" .. rnd(100000) .. "_" .. i
    t[k] = { i, k:rep(1 + i % 4), { round, i } }
  end
  local n, sum = 0, 0
  for k, v in pairs(t) do          -- commutative only
    n = n + 1
    sum = (sum + v[1] + #v[2]) % 1000000007
  end
  check = (check * 31 + n + sum) % 1000000007
  survivors[#survivors + 1] = t["key" .. rnd(100000) .. "_1"] or { round }
  if #survivors > 30 then table.remove(survivors, rnd(#survivors)) end
end
print("tables", check, #survivors)

-- 2. strings: rep, concat, gsub, format, table.concat
local parts = {}
for i = 1, 20000 do
  parts[i] = string.format("%05d:%s", i, string.rep(string.char(97 + i % 26), i % 50))
end
local big = table.concat(parts, ",")
local s2 = big:gsub("a+", function(m) return "<" .. #m .. ">" end)
local s3 = s2:upper():reverse()
local acc = ""
for i = 1, 3000 do acc = acc .. string.char(65 + i % 26) end   -- quadratic-ish concat
print("strings", #big, fnv(s2), fnv(s3), fnv(acc), #string.rep("xyz", 1000000, "--"))

-- 3. table.sort on numbers, strings and records
local nums, words, recs = {}, {}, {}
for i = 1, 100000 do nums[i] = rnd(1000000) end
for i = 1, 50000 do
  local w = {}
  for j = 1, rnd(10) do w[j] = string.char(96 + rnd(26)) end
  words[i] = table.concat(w)
end
for i = 1, 30000 do recs[i] = { name = words[i], v = nums[i] } end
table.sort(nums)
table.sort(words)
table.sort(recs, function(a, b) if a.name ~= b.name then return a.name < b.name end return a.v < b.v end)
local h = 2166136261
for i = 1, #nums, 97 do h = fnv(tostring(nums[i]), h) end
for i = 1, #words, 89 do h = fnv(words[i], h) end
for i = 1, #recs, 83 do h = fnv(recs[i].name .. recs[i].v, h) end
print("sort", h, nums[1], nums[#nums], words[#words])

-- 4. closures and upvalues, coroutines
local makers = {}
for i = 1, 20000 do
  local count = i
  makers[i] = function(d) count = count + d; return count end
end
local csum = 0
for r = 1, 5 do
  for i = 1, #makers, 3 do csum = (csum + makers[i](r)) % 1000000007 end
end
local gen = coroutine.wrap(function()
  for i = 1, 50000 do coroutine.yield({ i, tostring(i) }) end
end)
local gsum = 0
for _ = 1, 50000 do local v = gen(); gsum = gsum + v[1] + #v[2] end
print("closures", csum, gsum)
makers = nil

-- 5. cyclic garbage and explicit collections
local before = collectgarbage("count")
for round = 1, 20 do
  local nodes = {}
  for i = 1, 5000 do nodes[i] = { id = i, data = string.rep("n", i % 64) } end
  for i = 1, 5000 do
    nodes[i].next = nodes[rnd(5000)]
    nodes[i].back = nodes[i].next
    nodes[i].next.prev = nodes[i]
  end
  nodes = nil
  if round % 4 == 0 then collectgarbage("collect") end
end
collectgarbage("collect")
collectgarbage("collect")
local after = collectgarbage("count")
-- everything above must have been reclaimed (allow some slack for the interpreter)
print("gc", after < before + 4096 and "reclaimed" or ("LEAK " .. (after - before)))

-- 6. generational mode churn, weak tables
collectgarbage("generational")
local weak = setmetatable({}, { __mode = "v" })
local live = {}
for i = 1, 200000 do
  local o = { i, "w" .. (i % 1000) }
  weak[i] = o
  if i % 100 == 0 then live[#live + 1] = o end
end
collectgarbage("collect")
local alive = 0
for i = 1, 200000 do if weak[i] then alive = alive + 1 end end
collectgarbage("incremental")
print("weak", #live, alive)
print("done")
