-- Fault rules from Lua: disk:fault_inject(mode, options) beside the seed's forms. Sector
-- I/O goes through the mount, so a rule treats read_sectors as it treats the guest.
local H = require "helpers"

local vm = provium:vm("v", "pebble")
local img = H.image("rules.img", 1024 * 1024)
local disk = vm:attach_disk({id = "vda", size = 1024 * 1024, image = img})

local function listing()
  local f = assert(io.open(disk:path("ctl")))
  local text = f:read("a")
  f:close()
  return text
end

test("a range rule with times fails the overlapping reads, twice", function(t)
  disk:fault_inject("eio_read", {sectors = {8, 15}, times = 2})
  t:assert(#disk:read_sectors(0, 8) == 4096, "sectors 0-7 are outside")
  H.raises(t, function() disk:read_sectors(10, 1) end, "EIO")
  H.raises(t, function() disk:read_sectors(15, 2) end, "EIO")
  t:assert(#disk:read_sectors(10, 1) == 512, "spent after two")
  t:assert(listing() == "eio_read sectors=8-15 times=2  # matched=3 fired=2\n", listing())
  disk:clear_faults()
end)

test("errno picks the error the call raises", function(t)
  disk:fault_inject("eio_write", {errno = "ENOSPC", sectors = "0-7"})
  H.raises(t, function() disk:write_sectors(0, "x") end, "write_sectors: ENOSPC (No space left on device)")
  disk:write_sectors(8, "fine")
  disk:clear_faults()
end)

test("the same seed gives the same sequence", function(t)
  local function run()
    disk:clear_faults()
    disk:fault_inject("eio_read", {prob = 40, seed = 5})
    local out = {}
    for i = 1, 30 do out[i] = pcall(disk.read_sectors, disk, 0, 1) and "." or "x" end
    return table.concat(out)
  end
  local a, b = run(), run()
  t:assert(a == b, a .. " vs " .. b)
  t:assert(a:find("x") and a:find("%."), a)
  disk:clear_faults()
end)

test("slow takes a delay range and directions", function(t)
  disk:fault_inject("slow", {delay = "1ms..2ms", directions = {"write", "flush"}})
  t:assert(listing() == "slow 1ms..2ms write flush  # matched=0 fired=0\n", listing())
  disk:fault_inject("slow", "20ms")
  t:assert(listing():find("slow 20ms  #", 1, true), "the seed's form still adds bare slow: " .. listing())
  disk:clear_faults()
end)

test("active_faults still names the modes, each once", function(t)
  disk:fault_inject("eio_read", {sectors = 1})
  disk:fault_inject("eio_read", {sectors = 2})
  disk:fault_inject("slow")
  t:assert(table.concat(disk:active_faults(), ",") == "eio_read,slow", table.concat(disk:active_faults(), ","))
  disk:clear_faults("eio_read", {sectors = 1})
  t:assert(listing():find("sectors=2-2", 1, true) and not listing():find("sectors=1-1", 1, true), listing())
  disk:clear_faults("slow")
  t:assert(table.concat(disk:active_faults(), ",") == "eio_read", "clear_faults(mode) takes one mode's rules")
  disk:clear_faults()
end)

test("bad options are named, and nothing changes", function(t)
  H.raises(t, function() disk:fault_inject("eio_read", {sector = 1}) end,
    "fault_inject: unknown option 'sector' (expected delay, directions, sectors, errno, prob, seed, times, after, mean, p99, bits, keep, limit)")
  H.raises(t, function() disk:fault_inject("eio_read", {times = 0}) end,
    "fault_inject: eio_read: bad count 'times=0': must be at least 1")
  H.raises(t, function() disk:fault_inject("eio_read", {sectors = {3, 1}}) end,
    "fault_inject: eio_read: bad sectors 'sectors=3-1': a range ends before it starts")
  H.raises(t, function() disk:fault_inject("eio_read", {errno = "EFOO"}) end,
    "fault_inject: eio_read: bad errno 'errno=EFOO'")
  H.raises(t, function() disk:fault_inject("eio_read", 42) end,
    "fault_inject: options must be a table (got number)")
  t:assert(listing() == "", listing())
end)
