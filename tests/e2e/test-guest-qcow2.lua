-- A qcow2 data disk: QEMU reads MOUNT/q.vda/image as qcow2 (the guest sees the virtual
-- disk, not the container), the guest's writes allocate clusters and so grow the backing
-- file through the mount, and faults reach the guest as for a raw disk. One boot serves
-- the script; the last test stops the VM and checks the image with qemu-img.
local H = require "helpers"

local MiB = 1024 * 1024

-- 64 MiB virtual, 0x5a in its first cluster; the file itself is a few hundred KiB.
local img = H.qcow2("data.qcow2", 64 * MiB, "write -P 0x5a 0 64k")
local vm = provium:vm("q", "pebble")
local disk = vm:attach_disk({id = "vda", image = img, format = "qcow2"})
vm:boot()

-- first(dev, offset, n): the first N bytes the guest reads at OFFSET, as hex (O_DIRECT).
local function first(dev, offset, n)
  local r = vm:run(string.format("odio read %s %d 512 | head -c %d | od -An -tx1 | tr -d ' \\n'", dev, offset, n))
  return r:assert_ok().stdout
end

test("the guest sees the qcow2 image's virtual disk, not the container's bytes", function(t)
  t:assert(disk:guest_device() == "/dev/vda")
  local sectors = vm:run("cat /sys/block/vda/size"):assert_ok().stdout
  t:assert(tonumber(sectors) == 64 * MiB // 512, "64 MiB in sectors: " .. sectors)
  t:assert(first("/dev/vda", 0, 4) == "5a5a5a5a", "the guest reads the data qemu-io wrote")
  -- Sector I/O from Lua is the file's, by contrast: the qcow2 header.
  t:assert(disk:read_sectors(0, 1):sub(1, 4) == "QFI\xfb", "read_sectors sees the container")
end)

local grown_from
test("the guest's writes allocate clusters: the backing file grows through the mount", function(t)
  grown_from = H.file_size(img)
  -- 1 MiB at 8 MiB: 16 whole clusters appended to the file. odio fdatasyncs, so QEMU
  -- writes its metadata too.
  vm:run("head -c 1048576 /dev/zero | tr '\\0' q > /tmp/blob && odio write /dev/vda 8388608 < /tmp/blob"):assert_ok()
  local size = H.file_size(img)
  t:assert(size >= grown_from + MiB, "the file grew by 16 clusters or more: " .. grown_from .. " -> " .. size)
  t:assert(disk:size() == size, "disk:size() " .. disk:size() .. " follows the file's " .. size)
  -- 4 KiB at 40 MiB: one more cluster, past the end again.
  vm:run("echo far | odio write /dev/vda 41943040"):assert_ok()
  t:assert(H.file_size(img) > size, "a partial cluster grew it too: " .. size .. " -> " .. H.file_size(img))
  t:assert(disk:size() == H.file_size(img), "disk:size() " .. disk:size() .. " follows the file's " .. H.file_size(img))
  local same = vm:run("odio read /dev/vda 8388608 1048576 | cmp - /tmp/blob && echo same")
  t:assert(same:assert_ok().stdout == "same\n", "the guest reads back what it wrote")
  t:assert(first("/dev/vda", 41943040, 3) == "666172", "'far' at 40 MiB")
  -- QEMU holds the image's write lock; -U reads it anyway (the guest flushed, so it is whole).
  local ok, out = H.sh(string.format("qemu-img check -U '%s'", disk:path("image")))
  t:assert(ok and out:find("No errors were found on the image.", 1, true), out)
end)

test("eio_read fails the guest's read of a data cluster; clear heals it", function(t)
  disk:fault_inject("eio_read")
  local r = vm:run("odio read /dev/vda 8388608 4096")
  t:assert(r.status == 1, "status " .. r.status)
  t:assert(r.stderr == "odio: read /dev/vda at 8388608: Input/output error\n", r.stderr)
  local ev = vm:wait_event("BLOCK_IO_ERROR", "5s")
  t:assert(ev and ev.data.operation == "read", "QEMU saw the read fail")
  -- A cluster never written is in no file: QEMU answers zeros from its cached L2 table
  -- without reading the image, so eio_read does not touch that read.
  t:assert(first("/dev/vda", 32 * MiB, 4) == "00000000", "an unallocated cluster reads as zeros")
  disk:clear_faults()
  t:assert(first("/dev/vda", 8388608, 4) == "71717171", "after clear the data reads again")
end)

test("eio_write fails the guest's write; clear heals it", function(t)
  disk:fault_inject("eio_write")
  -- Into an allocated cluster: only the data write, no metadata to change.
  local r = vm:run("echo overwritten | odio write /dev/vda 8388608")
  t:assert(r.status == 1 and r.stderr:find("Input/output error", 1, true), r.stderr)
  disk:clear_faults()
  t:assert(first("/dev/vda", 8388608, 4) == "71717171", "the failed write left the data")
  vm:run("echo rewritten | odio write /dev/vda 8388608"):assert_ok()
  t:assert(first("/dev/vda", 8388608, 9) == "7265777269747465" .. "6e", "after clear the write lands")
end)

test("a qcow2 disk hot-plugged into the running guest", function(t)
  local hot_img = H.qcow2("hot.qcow2", 16 * MiB, "write -P 0x6b 0 64k")
  local hot = vm:attach_disk({id = "hot", image = hot_img, format = "qcow2"})
  local dev = hot:guest_device()
  t:assert(dev == "/dev/vdb", dev)
  local sectors = vm:run("cat /sys/block/vdb/size"):assert_ok().stdout
  t:assert(tonumber(sectors) == 16 * MiB // 512, "16 MiB in sectors: " .. sectors)
  t:assert(first(dev, 0, 4) == "6b6b6b6b")
  local before = H.file_size(hot_img)
  vm:run("echo grown | odio write " .. dev .. " 8388608"):assert_ok()
  t:assert(H.file_size(hot_img) > before, "a write to a new cluster grew it: " .. before .. " -> " .. H.file_size(hot_img))
  t:assert(hot:size() == H.file_size(hot_img))
  hot:fault_inject("eio_read")
  t:assert(not vm:run("odio read " .. dev .. " 0 512").ok, "faults reach a hot-plugged qcow2 disk")
  hot:clear_faults()
  hot:detach()
end)

test("under eio_read QEMU cannot open a qcow2 image: the hot-plug fails", function(t)
  local path = H.qcow2("unreadable.qcow2", 16 * MiB)
  local d = vm:attach_disk({id = "unreadable", format = "qcow2"}) -- no image yet
  d:fault_inject("eio_read") -- carried over to the mount's table by with_image
  H.raises(t, function() d:with_image(path) end, "Could not read qcow2 header: Input/output error")
  t:assert(d:image() == nil, "the failed plug left no image attached")
  vm:run("true"):assert_ok()
  d:clear_faults()
  d:with_image(path)
  t:assert(d:guest_device() == "/dev/vdb", "without the fault it plugs")
  d:detach()
end)

test("after shutdown qemu-img check finds the grown image clean", function(t)
  vm:shutdown()
  local ok, out = H.sh(string.format("qemu-img check '%s'", img))
  t:assert(ok and out:find("No errors were found on the image.", 1, true), out)
  ok, out = H.sh(string.format("qemu-io -r -f qcow2 -c 'read -P 0x71 8256k 960k' -c 'read -P 0x5a 0 64k' '%s'", img))
  t:assert(ok, "what the guest wrote is in the image: " .. out)
  t:assert(H.file_size(img) > grown_from)
end)

test("a qcow2 boot disk under eio_read: QEMU refuses to start", function(t)
  local path = H.qcow2("boot.qcow2", 16 * MiB)
  local other = provium:vm("qb", "pebble")
  local d = other:attach_disk({id = "vda", image = path, format = "qcow2"})
  d:fault_inject("eio_read")
  H.raises(t, function() other:boot() end, "Could not read qcow2 header: Input/output error")
  t:assert(not other:is_running())
  other:shutdown()
end)
