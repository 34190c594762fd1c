-- read_sectors and write_sectors run through the daemon's pipeline: they show in the
-- disk's stats like the guest's requests, faults fired included.
local H = require "helpers"

local vm = provium:vm("v", "pebble")
local img = H.image("stats.img", 1024 * 1024)
local disk = vm:attach_disk({id = "vda", size = 1024 * 1024, image = img})

-- counter(name): one number from MOUNT/<vm>.<id>/stats.
local function counter(name)
  local f = assert(io.open(disk:path("stats")))
  local text = f:read("a")
  f:close()
  return tonumber(text:match('"' .. name .. '": (%d+)'))
end

test("sector I/O is counted in the disk's stats", function(t)
  disk:write_sectors(10, "hello")
  t:assert(disk:read_sectors(10, 2):sub(1, 5) == "hello")
  t:assert(counter("writes") == 1, "writes " .. counter("writes"))
  t:assert(counter("write_bytes") == 5, "write_bytes " .. counter("write_bytes"))
  t:assert(counter("reads") == 1, "reads " .. counter("reads"))
  t:assert(counter("read_bytes") == 1024, "read_bytes " .. counter("read_bytes"))
end)

test("an injected EIO is counted as a failed read and a fault fired", function(t)
  disk:fault_inject("eio_read")
  H.raises(t, function() disk:read_sectors(0, 1) end, "EIO")
  disk:clear_faults()
  t:assert(counter("failed_reads") == 1, "failed_reads " .. counter("failed_reads"))
  t:assert(counter("faults_fired") == 1, "faults_fired " .. counter("faults_fired"))
end)

test("a slow delay fires once per call", function(t)
  disk:fault_inject("slow", "1ms")
  disk:read_sectors(0, 8)
  disk:clear_faults()
  t:assert(counter("faults_fired") == 2, "faults_fired " .. counter("faults_fired"))
end)

test("the bytes are the image's own", function(t)
  t:assert(H.bytes(img, 10 * 512, 5) == "hello")
end)

test("disk:stats() returns the stats file as a table", function(t)
  local s = disk:stats()
  t:assert(s.id == "v.vda", tostring(s.id))
  t:assert(s.reads == counter("reads") and s.writes == counter("writes"), "reads " .. tostring(s.reads))
  t:assert(type(s.fired) == "table" and s.fired.eio_read == 1, "fired.eio_read " .. tostring(s.fired and s.fired.eio_read))
  t:assert(type(s.rules) == "table", "rules is a list")
end)

test("stats() needs an image", function(t)
  local bare = vm:attach_disk({id = "vdb"})
  H.raises(t, function() bare:stats() end, "stats: no backing image — disk:with_image required")
end)
