-- A real guest reads and writes a disk QEMU opened from MOUNT/v.vda/image, and fails
-- exactly when the host says so. One boot serves every test of the script.
local H = require "helpers"
local faultfs = require "faultfs"

local img = H.image("guest.img", 8 * 1024 * 1024)
H.write_file(img, 0, "sector zero of the guest's disk")
local vm = provium:vm("v", "pebble")
local disk = vm:attach_disk({id = "vda", size = 8 * 1024 * 1024, image = img})
vm:boot()

-- guest_read(sector): one O_DIRECT 512-byte read in the guest (busybox dd would use its cache).
local function guest_read(sector)
  return vm:run(string.format("odio read /dev/vda %d 512", sector * 512))
end

test("the guest reads its disk", function(t)
  t:assert(disk:guest_device() == "/dev/vda")
  local r = guest_read(0):assert_ok()
  t:assert(r.stdout:sub(1, 31) == "sector zero of the guest's disk", r.stdout:sub(1, 31))
end)

test("eio_read fails the guest's read with an I/O error; clear heals it", function(t)
  disk:fault_inject("eio_read")
  local r = guest_read(0)
  t:assert(r.status == 1, "status " .. r.status)
  t:assert(r.stderr == "odio: read /dev/vda at 0: Input/output error\n", r.stderr)
  local ev = vm:wait_event("BLOCK_IO_ERROR", "5s")
  t:assert(ev and ev.data.operation == "read" and ev.data.action == "report", "QEMU saw the read fail")
  disk:clear_faults()
  guest_read(0):assert_ok()
end)

test("the guest kernel logs the failed read on its console", function(t)
  disk:fault_inject("eio_read")
  guest_read(8)
  disk:clear_faults()
  local log = vm:console():read_log()
  t:assert(log:find("I/O error, dev vda, sector 8"), "console:\n" .. log:sub(-800))
end)

test("eio_write fails the guest's write and the image keeps its bytes", function(t)
  local before = H.bytes(img, 4096, 512)
  disk:fault_inject("eio_write")
  local r = vm:run("echo overwritten | odio write /dev/vda 4096")
  t:assert(r.status == 1 and r.stderr:find("Input/output error"), r.stderr)
  t:assert(H.bytes(img, 4096, 512) == before)
  disk:clear_faults()
  vm:run("echo written | odio write /dev/vda 4096"):assert_ok()
  t:assert(H.bytes(img, 4096, 8) == "written\n", "after clear the write lands")
end)

test("slow makes a guest read take at least 50 ms", function(t)
  guest_read(0):assert_ok()
  disk:fault_inject("slow")
  -- Timed in the guest, around the read alone.
  local r = vm:run("odio --time read /dev/vda 0 512 >/dev/null"):assert_ok()
  disk:clear_faults()
  local us = tonumber(r.stderr:match("^odio: read took (%d+) us"))
  t:assert(us and us >= 50000, "the read took " .. r.stderr)
  local fast = vm:run("odio --time read /dev/vda 0 512 >/dev/null"):assert_ok()
  local fast_us = tonumber(fast.stderr:match("(%d+) us"))
  t:assert(fast_us < us, "without the fault it is faster: " .. fast.stderr)
end)

test("the same fault flipped from a shell while the Lua test waits", function(t)
  -- The guest reads every 50 ms until a read fails.
  local proc = vm:run_async("n=0; while odio read /dev/vda 0 512 >/dev/null; do n=$((n+1)); sleep 0.05; done; echo failed after $n reads")
  vm:clock():sleep("300ms")
  t:assert(not proc:is_done(), "reads succeed before the fault")
  assert(os.execute("echo eio_read > '" .. disk:path("ctl") .. "'"))
  local r = proc:wait("10s")
  t:assert(r.stdout:find("^failed after %d+ reads"), r.stdout)
  t:assert(disk:active_faults()[1] == "eio_read", "the shell's fault shows in Lua")
  disk:clear_faults()
end)

test("EIO injected during slow read still fires", function(t)
  disk:fault_inject("slow", "500ms")
  -- The worker starts a guest read that sleeps in the slow fault; the host's
  -- control plane (the disk's ctl) flips EIO while it sleeps.
  local w = vm:spawn_worker()
  local reading = w:run_async("odio read /dev/vda 0 512")
  vm:clock():sleep("150ms")
  disk:fault_inject("eio_read")
  local r = reading:wait("10s")
  t:assert(r.status == 1 and r.stderr:find("Input/output error"), "the post-sleep check failed it: " .. r.stderr)
  -- And the same through read_sectors, with another process flipping it.
  disk:clear_faults("eio_read")
  assert(os.execute("(sleep 0.1; echo eio_read > '" .. disk:path("ctl") .. "') &"))
  local ok, err = pcall(function() disk:read_sectors(0, 1) end)
  t:assert(not ok and tostring(err):find("EIO"), tostring(err))
  disk:clear_faults()
end)

test("stats count the guest's I/O and the faults it met", function(t)
  local f = assert(io.open(disk:path("stats")))
  local text = f:read("a")
  f:close()
  local reads = tonumber(text:match('"reads": (%d+)'))
  local fired = tonumber(text:match('"faults_fired": (%d+)'))
  t:assert(reads and reads > 5, text)
  t:assert(fired and fired >= 4, text)
end)
