-- The VM side of the API: commands, processes, workers, clock, console, reset, bad input.
local H = require "helpers"
local faultfs = require "faultfs"

local vm = provium:vm("v", "pebble")

test("a VM that is not booted says so", function(t)
  H.raises(t, function() vm:run("true") end, "run: vm 'v' is not booted (call vm:boot() first)")
  H.raises(t, function() vm:console():read_log() end, "read_log: vm 'v' is not booted")
  H.raises(t, function() vm:reset() end, "reset: vm 'v' is not booted")
  t:assert(not vm:is_running())
end)

test("boot returns the vm, booted", function(t)
  t:assert(vm:boot() == vm)
  t:assert(vm:is_running())
  H.raises(t, function() vm:boot() end, "boot: vm 'v' is already booted")
end)

test("run gives stdout, stderr and the exit status separately", function(t)
  local r = vm:run("echo out; echo err >&2; exit 3")
  t:assert(r.stdout == "out\n" and r.stderr == "err\n" and r.status == 3 and r.ok == false)
  H.raises(t, function() r:assert_ok() end, "command 'echo out; echo err >&2; exit 3' failed with status 3: err")
  t:assert(vm:run("uname -n"):assert_ok().stdout == "pebble\n")
end)

test("run_async runs commands at once; wait collects them", function(t)
  local started = faultfs.monotonic()
  local a = vm:run_async("sleep 1; echo a")
  local b = vm:run_async("sleep 1; echo b")
  t:assert(a:wait("5s"):assert_ok().stdout == "a\n")
  t:assert(b:wait("5s").stdout == "b\n")
  t:assert(faultfs.monotonic() - started < 1.9, "they ran side by side")
  t:assert(a:wait().stdout == "a\n", "a result can be read again")
end)

test("wait names the command that is still running", function(t)
  local p = vm:run_async("sleep 30")
  H.raises(t, function() p:wait("200ms") end, "wait: 'sleep 30' is still running after 200ms")
  p:kill()
  t:assert(p:wait("5s").status == 137, "killed by SIGKILL")
end)

test("run has a timeout too", function(t)
  H.raises(t, function() vm:run("sleep 30", "300ms") end, "run: 'sleep 30' did not finish within 300ms (it was killed)")
end)

test("workers run commands beside the test", function(t)
  local w = vm:spawn_worker()
  local p = w:run_async("sleep 0.025 && true")
  t:assert(p:wait("5s"):assert_ok().status == 0)
  t:assert(w:run("echo from a worker").stdout == "from a worker\n")
end)

test("the clock sleeps as long as asked", function(t)
  local c = vm:clock()
  local t0 = c:now()
  c:sleep("100ms")
  t:assert(c:now() - t0 >= 0.1)
  c:sleep(0.05)
  H.raises(t, function() c:sleep("5x") end, "sleep: bad duration '5x': unknown unit (use ns, us, ms, s, m or h)")
  H.raises(t, function() vm:run_async("true"):wait("soon") end, "wait: bad duration 'soon'")
end)

test("the console log holds the guest's boot", function(t)
  local log = vm:console():read_log()
  t:assert(log:find("PEBBLE%-READY"), log:sub(-500))
end)

test("reset returns to Booted; old commands are lost, new ones run", function(t)
  local p = vm:run_async("sleep 30")
  t:assert(vm:reset() == vm)
  H.raises(t, function() p:wait("5s") end, "wait: 'sleep 30': the guest restarted before the command finished")
  vm:run("true"):assert_ok()
end)

test("a command of an earlier boot is never mistaken for a new one", function(t)
  local old = vm:run_async("sleep 30; echo OLD")
  vm:shutdown()
  vm:boot()
  local new = vm:run_async("echo NEW")
  H.raises(t, function() old:wait("5s") end, "wait: 'sleep 30; echo OLD': the vm was restarted or shut down since it started")
  t:assert(new:wait("5s"):assert_ok().stdout == "NEW\n")
end)

test("long commands are quoted short in messages", function(t)
  local long = "echo " .. string.rep("x", 300) .. "; exit 7"
  local err = H.raises(t, function() vm:run(long):assert_ok() end, "failed with status 7")
  t:assert(#err < 300, "the message quotes the start only: " .. err)
  H.raises(t, function() vm:run(string.rep("y", 17 * 1024 * 1024)) end, "over the 16777216 the guest agent takes")
end)

test("after QEMU exits, its console log and events can still be read", function(t)
  vm:run_async("sleep 0.2; poweroff -f")
  for _ = 1, 100 do
    if not vm:is_running() then break end
    vm:clock():sleep("100ms")
  end
  t:assert(not vm:is_running(), "poweroff -f ended QEMU")
  t:assert(vm:console():read_log():find("faultfs%-agent"), "the log outlives QEMU")
  t:assert(type(vm:events()) == "table")
  H.raises(t, function() vm:run("true") end, "run: vm 'v': QEMU is no longer running")
end)

test("shutdown stops the machine", function(t)
  vm:shutdown()
  t:assert(not vm:is_running())
  H.raises(t, function() vm:run("true") end, "is not booted")
  vm:shutdown() -- twice is fine
end)
