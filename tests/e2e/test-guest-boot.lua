-- The seed's "EIO at boot does not panic": reset with eio_read set, read the console.
local H = require "helpers"

local vm = provium:vm("v", "pebble")
local disk = vm:attach_disk({id = "vda", size = 1024 * 1024, image = H.image("boot.img", 1024 * 1024)})
vm:boot()
local first_boot = #vm:console():read_log()

test("EIO at boot does not panic", function(t)
    disk:fault_inject("eio_read")
    vm:reset()
    -- vm:reset() returns to Booted; check the console for panic strings.
    local log = vm:console():read_log()
    t:assert(not log:find("kernel panic"))
end)

test("a reset after the guest rebooted by itself waits for the new boot", function(t)
  disk:clear_faults()
  vm:run_async("sleep 0.1; reboot -f")
  vm:clock():sleep("8s") -- the guest comes back on its own; its hello waits unread
  local started = require("faultfs").monotonic()
  vm:reset()
  t:assert(require("faultfs").monotonic() - started > 1, "reset waited for the guest it reset")
  vm:run("true"):assert_ok() -- and the next command is not lost to a late hello
end)

test("the reset really booted through the failing disk", function(t)
  local second = vm:console():read_log():sub(first_boot + 1)
  -- The kernel's partition scan reads sector 0 at boot: it met the fault.
  t:assert(second:find("I/O error, dev vda, sector 0 op 0x0:%(READ%)"), "second boot:\n" .. second)
  t:assert(second:find("faultfs%-agent: listening"), "and came up to the agent")
  t:assert(not second:lower():find("kernel panic"), "no panic in any case")
  vm:run("true"):assert_ok()
  disk:clear_faults()
  vm:run("odio read /dev/vda 0 512 > /dev/null"):assert_ok()
end)
