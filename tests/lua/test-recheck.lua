-- The harness re-checks the fault set after the slow-fault sleep and after the I/O:
-- a fault flipped by a second process mid-call still fails that call.
local H = require "helpers"
local faultfs = require "faultfs"

local vm = provium:vm("v", "pebble")
local img = H.image("recheck.img", 1024 * 1024, "x")
local disk = vm:attach_disk({id = "vda", size = 1024 * 1024, image = img})

-- flip_later(seconds, text): another process writes TEXT to the disk's ctl.
local function flip_later(seconds, text)
  local cmd = string.format("(sleep %s; printf '%s' > '%s') &", seconds, text, disk:path("ctl"))
  assert(os.execute(cmd))
end

test("EIO injected during slow read still fires", function(t)
  disk:fault_inject("slow", "400ms")
  flip_later("0.1", "eio_read\\n")
  local started = faultfs.monotonic()
  local ok, err = pcall(function() disk:read_sectors(0, 1) end)
  t:assert(not ok, "the read must fail: eio_read landed during its sleep")
  t:assert(tostring(err):find("EIO"), tostring(err))
  t:assert(faultfs.monotonic() - started >= 0.4, "the request slept first")
  disk:clear_faults()
end)

test("EIO injected during a slow write fails it before any byte lands", function(t)
  local before = H.bytes(img, 0, 16)
  disk:fault_inject("slow", "400ms")
  flip_later("0.1", "eio_write\\n")
  local ok, err = pcall(function() disk:write_sectors(0, "must not land!!!") end)
  t:assert(not ok)
  t:assert(tostring(err):find("EIO"), tostring(err))
  t:assert(H.bytes(img, 0, 16) == before)
  disk:clear_faults()
end)

test("a fault on the other direction does not fail the call", function(t)
  disk:fault_inject("slow", "300ms")
  flip_later("0.1", "eio_write\\n")
  t:assert(#disk:read_sectors(0, 1) == 512)
  disk:clear_faults()
end)

test("clearing during the sleep lets the call succeed", function(t)
  disk:fault_inject("slow", "300ms")
  disk:fault_inject("eio_read")
  flip_later("0.1", "clear\\n")
  t:assert(#disk:read_sectors(0, 1) == 512, "the check after the sleep sees the cleared set")
end)
