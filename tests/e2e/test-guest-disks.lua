-- Several disks on one guest, hot-plug and detach while it runs.
local H = require "helpers"

local vm = provium:vm("v", "pebble")
local data = vm:attach_disk({id = "vdb", size = 1024 * 1024, image = H.image("data.img", 1024 * 1024, "d")})
local logs = vm:attach_disk({id = "vdc", size = 1024 * 1024, image = H.image("logs.img", 1024 * 1024, "l")})
vm:boot()

local function read(dev)
  return vm:run("odio read " .. dev .. " 0 512 | head -c 4")
end

test("disks attached before boot appear in order", function(t)
  t:assert(data:guest_device() == "/dev/vda", data:guest_device())
  t:assert(logs:guest_device() == "/dev/vdb", logs:guest_device())
  t:assert(read("/dev/vda"):assert_ok().stdout == "dddd")
  t:assert(read("/dev/vdb"):assert_ok().stdout == "llll")
end)

test("EIO on one disk leaves the other readable", function(t)
  -- Inject EIO on data only; logs is unaffected.
  data:fault_inject("eio_read")
  local r = vm:run("odio read /dev/vda 0 512")
  t:assert(not r.ok and r.stderr:find("Input/output error"), r.stderr)
  t:assert(read("/dev/vdb"):assert_ok().stdout == "llll")
  t:assert(vm:disk("vdb") == data)
  data:clear_faults()
end)

test("a disk hot-plugged into the running guest", function(t)
  local img = H.image("hot.img", 2 * 1024 * 1024, "h")
  local hot = vm:attach_disk({id = "hot", image = img})
  local dev = hot:guest_device()
  t:assert(dev == "/dev/vdc", dev)
  t:assert(read(dev):assert_ok().stdout == "hhhh")
  local size = vm:run("cat /sys/block/vdc/size"):assert_ok()
  t:assert(tonumber(size.stdout) == 4096, "2 MiB in 512-byte sectors: " .. size.stdout)
  hot:fault_inject("eio_read")
  t:assert(not vm:run("odio read " .. dev .. " 0 512").ok, "faults reach a hot-plugged disk")
  hot:clear_faults()
end)

test("detach unplugs it from the running guest", function(t)
  local hot = vm:disk("hot")
  hot:detach()
  local r = vm:run("ls /sys/block"):assert_ok()
  t:assert(not r.stdout:find("vdc"), r.stdout)
  t:assert(hot:is_detached())
  t:assert(read("/dev/vda"):assert_ok().stdout == "dddd", "the others carry on")
  local ok, err = pcall(function() hot:read_sectors(0, 1) end)
  t:assert(not ok and tostring(err):find("disk is detached"))
end)

test("detaching a disk that was never plugged swallows 'Device not found'", function(t)
  local ghost = vm:attach_disk({id = "ghost"}) -- host bookkeeping only: no image
  ghost:detach()
  t:assert(ghost:is_detached())
  vm:run("true"):assert_ok()
end)

test("a disk detached and attached again comes back", function(t)
  local again = vm:attach_disk({id = "hot", image = H.image("again.img", 1024 * 1024, "a")})
  t:assert(read(again:guest_device()):assert_ok().stdout == "aaaa")
  again:detach()
end)

test("QEMU's aio modes: native and io_uring open the image O_DIRECT (cache=none)", function(t)
  for _, aio in ipairs({"native", "io_uring"}) do
    local d = vm:attach_disk({id = aio, image = H.image(aio .. ".img", 1024 * 1024, "n"), aio = aio})
    local dev = d:guest_device()
    vm:run("echo through-" .. aio .. " | odio write " .. dev .. " 4096"):assert_ok()
    t:assert(H.bytes(d:image(), 4096, 8 + #aio) == "through-" .. aio, aio .. ": the write landed")
    d:fault_inject("eio_read")
    local r = vm:run("odio read " .. dev .. " 0 512")
    t:assert(not r.ok and r.stderr:find("Input/output error"), aio .. ": " .. r.stderr)
    d:clear_faults()
    t:assert(read(dev):assert_ok().stdout == "nnnn", aio .. ": reads again")
    d:detach()
  end
  H.raises(t, function() vm:attach_disk({id = "x", aio = "posix"}) end,
    'attach_disk: aio must be "threads", "native" or "io_uring" (got posix)')
end)
