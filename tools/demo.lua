-- The narrated demo: a real guest reads its disk, the host breaks the disk with
-- `echo eio_read > ctl`, the guest's read fails with an I/O error, `clear`, it reads again.
-- Run by tools/demo (lua5.4 with the faultfs module from the build).
local faultfs = require "faultfs"

local bold, plain = "\27[1m", "\27[0m"
-- Bold only on a terminal (the shell's `test -t 1` sees our stdout), and never with NO_COLOR.
if os.getenv("NO_COLOR") or os.getenv("TERM") == "dumb" or not os.execute("test -t 1") then
  bold, plain = "", ""
end
local function step(n, text) io.write(string.format("\n%s%d. %s%s\n", bold, n, text, plain)) end
local function say(text) io.write("   ", text, "\n") io.stdout:flush() end
local function host(cmd) say("host$  " .. cmd) end
local function guest(cmd) say("guest# " .. cmd) end
local function indent(text)
  for line in text:gmatch("[^\n]+") do say("       " .. line) end
end

print(bold .. "faultfs demo: a guest whose disk fails on command" .. plain)

step(1, "A disk image for the guest: 64 MiB, with a message in sector 0")
local img = os.tmpname()
local f = assert(io.open(img, "wb"))
f:write("hello from sector 0 of the guest's disk")
f:seek("set", 64 * 1024 * 1024 - 1)
f:write("\0")
f:close()
say(img)

step(2, "Start faultfs: the image appears as a file QEMU can open")
local m <close> = faultfs.mount()
local vm = faultfs.vm(m, "demo", "pebble")
local disk = vm:attach_disk({id = "vda", image = img})
local ctl = disk:path("ctl")
say("mount:      " .. m:path())
say("disk image: " .. disk:path("image"))
say("its faults: " .. ctl)

step(3, "Boot the embedded guest \"pebble\" (Debian kernel + busybox) with that disk")
local t0 = faultfs.monotonic()
vm:boot()
say(string.format("%s booted in %.1f s; the disk is its %s", tostring(vm), faultfs.monotonic() - t0,
  disk:guest_device()))

local function guest_read()
  guest("odio read /dev/vda 0 512       # one O_DIRECT read of sector 0")
  local r = vm:run("odio read /dev/vda 0 512")
  if r.ok then
    say("       -> read OK: \"" .. r.stdout:gsub("%z.*", "") .. "\"")
  else
    say("       -> read FAILED (exit " .. r.status .. "): " .. r.stderr:gsub("\n$", ""))
  end
  return r
end

step(4, "The guest reads its disk")
local before_ok = guest_read().ok

step(5, "On the host, break the disk")
host("echo eio_read > " .. ctl)
assert(os.execute("echo eio_read > '" .. ctl .. "'"))
host("cat " .. ctl)
local fh = assert(io.open(ctl))
indent(fh:read("a"))
fh:close()

step(6, "The guest reads again")
local log_before = #vm:console():read_log()
local failed = not guest_read().ok
vm:clock():sleep("200ms")
local kernel = vm:console():read_log():sub(log_before + 1):match("[^\n]*I/O error, dev vda[^\n]*")
if kernel then
  say("the guest's kernel logged on its console:")
  indent(kernel)
end
local ev = vm:wait_event("BLOCK_IO_ERROR", "2s")
if ev then
  say(string.format("QEMU's monitor reported BLOCK_IO_ERROR: a %s failed (%s), action: %s",
    ev.data.operation, ev.data.reason or "I/O error", ev.data.action))
end

step(7, "Heal the disk")
host("echo clear > " .. ctl)
assert(os.execute("echo clear > '" .. ctl .. "'"))

step(8, "The guest reads once more")
local after_ok = guest_read().ok

step(9, "What faultfs counted for the disk (" .. disk:path("stats") .. ")")
local sf = assert(io.open(disk:path("stats")))
local stats = sf:read("a")
sf:close()
for _, key in ipairs({"reads", "failed_reads", "faults_fired"}) do
  say(string.format("%-13s %s", key, stats:match('"' .. key .. '": (%d+)')))
end

vm:shutdown()
os.remove(img)
print()
if before_ok and failed and after_ok then
  print(bold .. "What this shows:" .. plain .. " a real guest kernel read its disk through faultfs; one")
  print("`echo eio_read > ctl` on the host made its very next read fail with EIO, exactly")
  print("as a failing disk would; `echo clear` healed it, live, without touching the guest.")
  return
end
print("The demo did not go as expected (read before: " .. tostring(before_ok) .. ", failed: " ..
  tostring(failed) .. ", read after: " .. tostring(after_ok) .. ")")
os.exit(1)
