-- Issue 9, 8(a): ext4 in a real guest on a disk with a volatile write cache. File A is
-- written and fsynced, file B is written back to the disk but never flushed; a power
-- cut and a reset later, A is intact, B and its data are gone, and e2fsck on the host
-- finds the filesystem clean once its journal is replayed. One boot, one reset.
local H = require "helpers"

local SIZE = 32 * 1024 * 1024
local img = H.image("powercut.img", SIZE)
-- No lazy inode-table or journal init: the guest kernel must not write (and flush) on its own.
assert(os.execute("mkfs.ext4 -q -F -b 4096 -E lazy_itable_init=0,lazy_journal_init=0 '" .. img .. "'"),
  "mkfs.ext4 failed (apt-get install e2fsprogs)")

-- Each file is one 32-byte line repeated, so its 4 KiB blocks can be counted in a raw image.
local LINE_A = "file A: written and fsynced  ..\n"
local LINE_B = "file B: written, never flushed \n"
assert(#LINE_A == 32 and #LINE_B == 32)
local A_BYTES, B_BYTES = 64 * 1024, 256 * 1024
local A_LINES, B_LINES = A_BYTES // 32, B_BYTES // 32

-- count(text, line): how many times LINE occurs in TEXT (plain, not a pattern).
local function count(text, line)
  local n, at = 0, 1
  while true do
    local i = text:find(line, at, true)
    if not i then return n end
    n, at = n + 1, i + #line
  end
end

local function slurp(path)
  local f = assert(io.open(path, "rb"))
  local s = f:read("a")
  f:close()
  return s
end

-- sh(cmd): COMMAND's status and output on the host.
local function sh(cmd)
  local p = assert(io.popen("(" .. cmd .. ") 2>&1"))
  local out = p:read("a")
  local ok, _, status = p:close()
  return ok and 0 or status, out
end

local vm = provium:vm("v", "pebble")
local disk = vm:attach_disk({id = "vda", size = SIZE, image = img})
-- What the guest would read (the cache over the image) and what is stored (the backing file).
local function seen() return slurp(disk:path("image")) end
local function stored() return slurp(img) end
vm:boot()
disk:trace(true)
disk:fault_inject("volatile", {limit = "16M"})
vm:run("mount -t ext4 -o commit=600 /dev/vda /mnt/test"):assert_ok()

-- The writes the trace holds after MARK: {writes = n, bytes = n, flushes = n}.
local function traffic(mark, upto)
  local t = {writes = 0, bytes = 0, flushes = 0, other = 0}
  for _, e in ipairs(disk:read_trace({after_mark = mark})) do
    if upto and e.mark == upto then break end
    if e.op == "write" then
      t.writes, t.bytes = t.writes + 1, t.bytes + (e.bytes or 0)
    elseif e.op == "flush" then
      t.flushes = t.flushes + 1
    elseif e.op and e.op ~= "read" then
      t.other = t.other + 1
    end
  end
  return t
end

test("file A, written and fsynced, is in the image itself", function(t)
  vm:run(string.format("yes '%s' | head -c %d > /mnt/test/A && sync /mnt/test/A", LINE_A:sub(1, -2), A_BYTES))
    :assert_ok()
  local n = count(stored(), LINE_A)
  t:assert(n == A_LINES, "lines of A in the stored image: " .. n .. " of " .. A_LINES)
end)

test("file B reaches the disk as writes that are never flushed", function(t)
  disk:mark("B")
  -- Write-back of dirty pages after 10 ms, every 100 ms: the flusher writes B's data
  -- (no flush: only a sync, an fsync or a journal commit flushes, and commit=600 holds those off).
  vm:run("echo 1 > /proc/sys/vm/dirty_expire_centisecs && echo 10 > /proc/sys/vm/dirty_writeback_centisecs")
    :assert_ok()
  vm:run(string.format("yes '%s' | head -c %d > /mnt/test/B", LINE_B:sub(1, -2), B_BYTES)):assert_ok()
  local r = vm:run("i=0; while grep -Eq '^(Dirty|Writeback): *[1-9]' /proc/meminfo; do " ..
    "i=$((i+1)); [ $i -gt 200 ] && exit 1; sleep 0.1; done; grep -E '^(Dirty|Writeback):' /proc/meminfo")
  t:assert(r.status == 0, "the guest wrote its dirty pages back: " .. r.stdout)
  local w = traffic("B")
  t:assert(w.bytes >= B_BYTES, string.format("%d bytes written since the mark (B is %d)", w.bytes, B_BYTES))
  t:assert(w.flushes == 0, w.flushes .. " flushes since the mark")
  local n_seen, n_stored = count(seen(), LINE_B), count(stored(), LINE_B)
  t:assert(n_seen == B_LINES, "B's lines the guest's disk holds: " .. n_seen .. " of " .. B_LINES)
  t:assert(n_stored == 0, "B's lines in the stored image: " .. n_stored)
  t:assert(disk:stats().cache.bytes >= B_BYTES, "the cache holds B: " .. disk:stats().cache.bytes)
end)

local crashed -- a copy of the image as the power cut left it
test("power cut and reset", function(t)
  disk:powercut()
  disk:mark("powercut")
  crashed = H.image("powercut-crashed.img", 0)
  assert(os.execute("cp '" .. img .. "' '" .. crashed .. "'"))
  vm:reset()
  disk:mark("reset")
  local w = traffic("powercut", "reset")
  t:assert(w.writes == 0 and w.other == 0, string.format(
    "nothing written between the power cut and the reset: %d writes, %d others", w.writes, w.other))
  t:assert(disk:stats().cache.lost_bytes >= B_BYTES, "the cut lost B: " .. disk:stats().cache.lost_bytes)
end)

test("after the reset, A is intact and B is gone", function(t)
  vm:run("mount -t ext4 -o commit=600 /dev/vda /mnt/test"):assert_ok()
  local a = vm:run("cat /mnt/test/A"):assert_ok()
  t:assert(a.stdout == LINE_A:rep(A_LINES), "A reads back whole (" .. #a.stdout .. " bytes)")
  -- B's directory entry and inode were in a journal transaction never committed (no flush
  -- after B's creation reached the disk): ext4 replays committed transactions only.
  local b = vm:run("ls -la /mnt/test; test ! -e /mnt/test/B")
  t:assert(b.status == 0, "B does not exist after the power cut:\n" .. b.stdout)
  local n = count(seen(), LINE_B)
  t:assert(n == 0, "and none of B's data is left on the disk: " .. n .. " lines")
  local log = vm:run("dmesg"):assert_ok().stdout
  t:assert(log:find("EXT4-fs (vda): recovery complete", 1, true), "the guest replayed the journal:\n" .. log:sub(-1500))
end)

test("e2fsck: the image as the power cut left it is clean once its journal is replayed", function(t)
  local status, out = sh("dumpe2fs -h '" .. crashed .. "' | grep -i features")
  t:assert(out:find("needs_recovery", 1, true), "the crashed image needs recovery: " .. out)
  status, out = sh("e2fsck -E journal_only -y '" .. crashed .. "'")
  t:assert(status == 0 and out:find("recovering journal", 1, true), "journal replay: status " .. status .. ":\n" .. out)
  status, out = sh("e2fsck -fn '" .. crashed .. "'")
  t:assert(status == 0, "e2fsck -fn after the replay: status " .. status .. ":\n" .. out)
end)

test("e2fsck: the image the guest unmounted after the reset is clean", function(t)
  vm:run("umount /mnt/test"):assert_ok()
  t:assert(disk:stats().cache.bytes == 0, "the unmount flushed the cache")
  vm:shutdown()
  local status, out = sh("e2fsck -fn '" .. img .. "'")
  t:assert(status == 0, "e2fsck -fn: status " .. status .. ":\n" .. out)
end)
