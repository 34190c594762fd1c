-- The seed's "filesystem goes read-only after persistent EIO", on a real ext4 made
-- on the host and mounted in the guest with errors=remount-ro.
local H = require "helpers"

local img = H.image("ext4.img", 32 * 1024 * 1024)
assert(os.execute("mkfs.ext4 -q -F '" .. img .. "'"), "mkfs.ext4 failed (apt-get install e2fsprogs)")
local vm = provium:vm("v", "pebble")
local disk = vm:attach_disk({id = "vda", size = 32 * 1024 * 1024, image = img})
vm:boot()
vm:run("mount -o errors=remount-ro /dev/vda /mnt/test"):assert_ok()

test("the filesystem is mounted read-write first", function(t)
  local r = vm:run("findmnt /mnt/test -o OPTIONS"):assert_ok()
  t:assert(r.stdout:find("\nrw,"), r.stdout)
end)

test("filesystem goes read-only after persistent EIO", function(t)
    disk:fault_inject("eio_write")
    vm:run("echo data > /mnt/test/file"):assert_ok()  -- might succeed or fail
    -- Force a sync to surface the write.
    vm:run("sync")
    -- Now check the kernel's view: errors=remount-ro should kick in.
    local r = vm:run("findmnt /mnt/test -o OPTIONS")
    t:assert(r.stdout:find("ro"))
end)

test("the kernel really stopped writes to it", function(t)
  -- The check above passes on "errors=remount-ro" alone. Since Linux 6.0 ext4
  -- no longer flips the superblock to read-only on an error (it shuts the
  -- filesystem down instead), so the mount tables keep "rw": look at what the
  -- kernel said and at what a write gets.
  local w = vm:run("echo more > /mnt/test/other")
  t:assert(w.status ~= 0 and w.stderr:find("Read%-only file system"), "a write after the error: " .. w.stderr)
  local log = vm:console():read_log()
  t:assert(log:find("Aborting journal on device vda"), log:sub(-1500))
  t:assert(log:find("EXT4%-fs %(vda%): Remounting filesystem read%-only"), log:sub(-1500))
  disk:clear_faults()
  local again = vm:run("echo more > /mnt/test/other")
  t:assert(again.status ~= 0, "clearing the fault does not bring the filesystem back")
end)
