-- A bad-sector range under one file of an ext4 filesystem makes that file, and only
-- it, unreadable in the guest (SPEC 2a: sectors=).
local H = require "helpers"

-- An ext4 image with two files, made on the host; debugfs names file a's blocks.
local dir = H.image("bad-sectors-src", 0)
os.remove(dir)
assert(os.execute("mkdir -p '" .. dir .. "'"))
local function fill(name, byte)
  local f = assert(io.open(dir .. "/" .. name, "wb"))
  f:write(string.rep(byte, 64 * 1024))
  f:close()
end
fill("a", "A")
fill("b", "B")
local img = H.image("bad-sectors.img", 16 * 1024 * 1024)
assert(os.execute("mkfs.ext4 -q -F -b 4096 -d '" .. dir .. "' '" .. img .. "'"),
  "mkfs.ext4 -d failed (apt-get install e2fsprogs)")
os.execute("rm -rf '" .. dir .. "'")
local p = assert(io.popen("debugfs -R 'blocks /a' '" .. img .. "' 2>/dev/null"))
local blocks = {}
for b in p:read("a"):gmatch("%d+") do blocks[#blocks + 1] = tonumber(b) end
p:close()
assert(#blocks == 16, "file a should have 16 blocks of 4 KiB, debugfs says " .. #blocks)
table.sort(blocks)
-- The first 4 KiB block of a: sectors 8*block to 8*block+7.
local first = blocks[1] * 8
local rule = string.format("sectors=%d-%d", first, first + 7)

local vm = provium:vm("v", "pebble")
local disk = vm:attach_disk({id = "vda", size = 16 * 1024 * 1024, image = img})
vm:boot()
vm:run("mount -o ro /dev/vda /mnt/test"):assert_ok()

test("with the range failing, the file on it cannot be read", function(t)
  local ctl = assert(io.open(disk:path("ctl"), "w"))
  ctl:write("eio_read " .. rule .. "\n")
  ctl:close()
  local r = vm:run("cat /mnt/test/a > /dev/null")
  t:assert(r.status ~= 0 and r.stderr:find("Input/output error"), "cat a: " .. r.status .. " " .. r.stderr)
end)

test("the file beside it reads whole", function(t)
  local r = vm:run("md5sum /mnt/test/b"):assert_ok()
  local want = io.popen("head -c 65536 /dev/zero | tr '\\0' B | md5sum"):read("l"):match("%x+")
  t:assert(r.stdout:find(want, 1, true), r.stdout .. " vs " .. want)
end)

test("the rule counts the guest's requests and the kernel names the sector", function(t)
  local f = assert(io.open(disk:path("ctl")))
  local listing = f:read("a")
  f:close()
  local fired = tonumber(listing:match("fired=(%d+)"))
  t:assert(fired and fired >= 1, listing)
  -- The kernel logs the request's first sector: at most the range's last (readahead may start before it).
  local sector = tonumber(vm:console():read_log():match("I/O error, dev vda, sector (%d+)"))
  t:assert(sector and sector <= first + 7, "logged sector " .. tostring(sector) .. ", range " .. rule)
end)

test("once cleared, the file reads again", function(t)
  disk:clear_faults()
  vm:run("echo 3 > /proc/sys/vm/drop_caches")
  local r = vm:run("md5sum /mnt/test/a"):assert_ok()
  local want = io.popen("head -c 65536 /dev/zero | tr '\\0' A | md5sum"):read("l"):match("%x+")
  t:assert(r.stdout:find(want, 1, true), r.stdout)
end)
