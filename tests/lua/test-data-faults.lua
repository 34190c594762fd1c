-- Data faults from Lua (SPEC 2b): the guest's view (MOUNT/ID/image) lies as the rules say,
-- while read_sectors stays the truthful view of the image; powercut, marks and the trace.
local H = require "helpers"

local vm = provium:vm("v", "pebble")
local img = H.image("data.img", 1024 * 1024, "\x5a")
local disk = vm:attach_disk({id = "vda", size = 1024 * 1024, image = img})

-- What the guest would see: an open of MOUNT/ID/image (direct_io: every read reaches the daemon).
local function guest_read(offset, count)
  local f = assert(io.open(disk:path("image"), "rb"))
  f:seek("set", offset)
  local s = f:read(count)
  f:close()
  return s
end

local function guest_write(offset, data)
  local f = assert(io.open(disk:path("image"), "r+b"))
  f:setvbuf("no")
  f:seek("set", offset)
  assert(f:write(data))
  f:close()
end

local function bits_differ(a, b)
  local n = 0
  for i = 1, #a do
    local x = string.byte(a, i) ~ string.byte(b, i)
    while x ~= 0 do
      n = n + (x & 1)
      x = x >> 1
    end
  end
  return n
end

test("corrupt_read lies to the guest; read_sectors tells the truth", function(t)
  disk:fault_inject("corrupt_read", {bits = 8, seed = 2})
  local seen = guest_read(0, 4096)
  local stored = disk:read_sectors(0, 8)
  t:assert(bits_differ(seen, stored) == 8, "8 bits flipped, got " .. bits_differ(seen, stored))
  t:assert(stored == string.rep("\x5a", 4096), "read_sectors is the image's bytes")
  t:assert(H.bytes(img, 0, 4096) == stored, "the image is untouched")
  disk:clear_faults()
end)

test("drop_write: the guest's write is acknowledged and lost", function(t)
  disk:fault_inject("drop_write", {sectors = "16-23"})
  guest_write(16 * 512, string.rep("D", 4096))
  t:assert(disk:read_sectors(16, 8) == string.rep("\x5a", 4096), "nothing stored")
  disk:clear_faults()
  guest_write(16 * 512, string.rep("D", 4096))
  t:assert(disk:read_sectors(16, 8) == string.rep("D", 4096), "stored once cleared")
end)

test("volatile, then powercut: the guest loses what it did not flush", function(t)
  disk:fault_inject("volatile", {limit = "1M"})
  t:assert(disk:active_faults()[1] == "volatile")
  guest_write(0, string.rep("V", 4096))
  t:assert(guest_read(0, 4096) == string.rep("V", 4096), "the guest reads its cached write")
  t:assert(disk:read_sectors(0, 8) == string.rep("\x5a", 4096), "the image does not have it yet")
  t:assert(disk:stats().cache.bytes == 4096, "stats shows the cache")
  disk:powercut()
  t:assert(guest_read(0, 4096) == string.rep("\x5a", 4096), "gone after the power cut")
  t:assert(disk:stats().cache.lost_bytes == 4096)
  disk:clear_faults()
end)

test("powercut{keep, seed}: a seeded few cached blocks reach the image", function(t)
  disk:fault_inject("volatile")
  for b = 0, 5 do guest_write(b * 4096, string.rep("K", 4096)) end
  disk:powercut({keep = 2, seed = 9})
  local made = 0
  for b = 0, 5 do
    if disk:read_sectors(b * 8, 8) == string.rep("K", 4096) then made = made + 1 end
    disk:write_sectors(b * 8, string.rep("\x5a", 4096))
  end
  t:assert(made == 2, "two blocks made it, got " .. made)
  H.raises(t, function() disk:powercut({keep = -1}) end, "powercut: keep must be a whole number (got -1)")
  H.raises(t, function() disk:powercut("all") end, "powercut: options must be a table (got string)")
  disk:clear_faults()
end)

test("bad_sectors heal when read_sectors... does not write them: the guest's write does", function(t)
  disk:fault_inject("bad_sectors", {sectors = {40, 47}})
  H.raises(t, function() disk:read_sectors(40, 1) end, "read_sectors: EIO")
  guest_write(40 * 512, string.rep("H", 4096))
  t:assert(disk:read_sectors(40, 8) == string.rep("H", 4096), "readable once rewritten")
  t:assert(#disk:active_faults() == 0, "the rule is gone with its last bad sector")
end)

test("the trace: requests, the rule that fired, and everything after a mark", function(t)
  disk:trace(true)
  disk:mark("setup done")
  disk:fault_inject("eio_read", {sectors = "0-7", times = 1})
  H.raises(t, function() disk:read_sectors(0, 8) end, "EIO")
  disk:read_sectors(8, 8)
  disk:mark("phase two")
  disk:write_sectors(16, string.rep("w", 512))
  local all = disk:read_trace()
  t:assert(all[1].mark == "setup done", "the first entry is the first mark")
  t:assert(all[2].op == "read" and all[2].result == "EIO" and all[2].rule == "eio_read",
           "the failed read names its rule")
  t:assert(all[3].op == "read" and all[3].result == "ok" and all[3].sector == 8 and all[3].count == 8)
  t:assert(all[3].stored == true, "read_sectors is marked as the stored view")
  local after = disk:read_trace({after_mark = "phase two"})
  t:assert(#after == 1 and after[1].op == "write" and after[1].bytes == 512, "one write after the mark")
  guest_read(0, 512)
  local last = disk:read_trace({after_mark = "phase two"})[2]
  t:assert(last.op == "read" and last.stored == nil, "a guest's read is not marked stored")
  all = disk:read_trace()
  disk:trace(false)
  disk:read_sectors(0, 1)
  t:assert(#disk:read_trace() == #all, "off: nothing more recorded")
  disk:trace("clear")
  t:assert(#disk:read_trace() == 0)
  disk:clear_faults()
end)

test("bad input names the value and changes nothing", function(t)
  disk:fault_inject("drop_write", {sectors = "100-107"})
  H.raises(t, function() disk:fault_inject("corrupt_read", {bits = 0}) end,
    "fault_inject: corrupt_read: bad count 'bits=0': must be at least 1")
  H.raises(t, function() disk:fault_inject("volatile", {limit = "1K"}) end,
    "fault_inject: volatile: bad size 'limit=1K': must be from 4K to 64G")
  H.raises(t, function() disk:fault_inject("torn_write", {keep = 2, bits = 1}) end,
    "fault_inject: torn_write: 'bits=1': bits= goes with corrupt_read and corrupt_write")
  H.raises(t, function() disk:trace("maybe") end, "trace: 'maybe' is not on, off or clear (or true / false)")
  H.raises(t, function() disk:mark("two\nlines") end, "mark: text 'two\nlines' must be one line")
  H.raises(t, function() disk:read_trace({after_mark = "never"}) end, "read_trace: no mark 'never' in the trace")
  local rules = disk:active_faults()
  t:assert(#rules == 1 and rules[1] == "drop_write", "the rules are as they were")
  disk:clear_faults()
end)
