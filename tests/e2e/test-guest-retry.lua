-- The seed's "guest retries on transient EIO", run as written. The disk is attached
-- with on_error = "retry": like a device that retries, QEMU holds the failed request
-- (the VM pauses) and retries it while the harness waits, so the read succeeds once
-- the fault is cleared.
local H = require "helpers"

local vm = provium:vm("v", "pebble")
local disk = vm:attach_disk({id = "vda", size = 1024 * 1024, image = H.image("retry.img", 1024 * 1024, "r"),
                             on_error = "retry"})
local plain = vm:attach_disk({id = "vdb", size = 1024 * 1024, image = H.image("plain.img", 1024 * 1024, "p")})
vm:boot()

test("guest retries on transient EIO", function(t)
    -- Inject EIO.
    disk:fault_inject("eio_read")

    -- Have the guest start a read in the background.
    local proc = vm:run_async("dd if=/dev/vda of=/tmp/out bs=512 count=1")

    -- Wait briefly, then clear so retry succeeds.
    vm:clock():sleep("100ms")
    disk:clear_faults()

    local r = proc:wait("5s")
    -- If the guest's driver retries, this succeeds. Otherwise dd
    -- returned an I/O error.
    r:assert_ok()
end)

test("the retried read returned the disk's bytes", function(t)
  local r = vm:run("head -c 8 /tmp/out"):assert_ok()
  t:assert(r.stdout == "rrrrrrrr", r.stdout)
end)

test("the read really met the fault first (QEMU paused on it)", function(t)
  local stops = 0
  for _, ev in ipairs(vm:events("BLOCK_IO_ERROR")) do
    if ev.data.action == "stop" then stops = stops + 1 end
  end
  t:assert(stops >= 1, "no BLOCK_IO_ERROR with action stop was seen")
end)

test("a disk with the default policy reports the error instead", function(t)
  plain:fault_inject("eio_read")
  local r = vm:run("dd if=/dev/vdb of=/tmp/out2 bs=512 count=1")
  t:assert(r.status ~= 0 and r.stderr:find("Input/output error"), r.stderr)
  plain:clear_faults()
end)

test("on_error takes only report or retry", function(t)
  H.raises(t, function() vm:attach_disk({id = "vdx", on_error = "ignore"}) end,
    'attach_disk: on_error must be "report" or "retry" (got ignore)')
end)
