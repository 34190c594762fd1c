-- attach_disk's format: "raw" (the default) or "qcow2", nothing else; sector I/O sees the
-- file's own bytes whatever the format, and disk:size() follows the file as QEMU grows it.
-- No guest: what QEMU does with the format is tests/e2e/test-guest-qcow2.lua's.
local H = require "helpers"

local vm = provium:vm("f", "pebble")

test("a format other than raw or qcow2 is an error naming it, and nothing is attached", function(t)
  local img = H.image("bad-format.img", 65536)
  for _, bad in ipairs({"vmdk", "QCOW2", "qcow", "raw ", ""}) do
    H.raises(t, function() vm:attach_disk({id = "x", image = img, format = bad}) end,
      'attach_disk: format must be "raw" or "qcow2" (got ' .. bad .. ")")
  end
  H.raises(t, function() vm:attach_disk({id = "x", image = img, format = 2}) end,
    'attach_disk: format must be "raw" or "qcow2" (got 2)')
  H.raises(t, function() vm:attach_disk({id = "x", image = img, format = true}) end,
    'attach_disk: format must be "raw" or "qcow2" (got true)')
  H.raises(t, function() vm:disk("x") end, "has no disk 'x'")
  local f = io.open(provium.mount:path() .. "/f.x/image")
  t:assert(f == nil, "the mount has no disk f.x")
end)

test("raw, qcow2 and no format at all are accepted", function(t)
  local raw = vm:attach_disk({id = "r", image = H.image("raw.img", 65536)})
  local explicit = vm:attach_disk({id = "e", image = H.image("explicit.img", 65536), format = "raw"})
  local q = vm:attach_disk({id = "q", image = H.qcow2("accepted.qcow2", 1 << 20), format = "qcow2"})
  for _, d in ipairs({raw, explicit, q}) do
    t:assert(not d:is_detached(), tostring(d))
    d:detach()
  end
end)

test("read_sectors on a qcow2 disk returns the container's bytes, not the guest's view", function(t)
  local img = H.qcow2("container.qcow2", 64 << 20)
  local ok, out = H.sh(string.format("qemu-io -f qcow2 -c 'write -P 0x5a 0 64k' '%s'", img))
  t:assert(ok, out)
  local d = vm:attach_disk({id = "c", image = img, format = "qcow2"})
  -- The qcow2 header: magic "QFI\xfb", version 3. The guest would see 0x5a bytes there.
  t:assert(d:read_sectors(0, 1):sub(1, 8) == "QFI\xfb\0\0\0\3", "sector 0 is the header")
  -- The modelled size plays no part: it is the file's, not the virtual disk's (64 MiB).
  t:assert(d:size() == H.file_size(img), d:size() .. " vs " .. H.file_size(img))
  t:assert(d:size() < 1 << 20, "a fresh qcow2 file is small: " .. d:size())
  d:detach()
end)

test("disk:size() follows the file as QEMU's qcow2 driver grows it through the mount", function(t)
  local img = H.qcow2("grows.qcow2", 64 << 20)
  local d = vm:attach_disk({id = "g", image = img, format = "qcow2"})
  local before = d:size()
  t:assert(before == H.file_size(img), before .. " vs " .. H.file_size(img))
  -- 1 MiB at 8 MiB: 16 new 64 KiB clusters, each appended to the file.
  local ok, out = H.sh(string.format("qemu-io -f qcow2 -c 'write -P 0x33 8M 1M' '%s'", d:path("image")))
  t:assert(ok, out)
  t:assert(H.file_size(img) >= before + (1 << 20), "the backing file grew: " .. before .. " -> " .. H.file_size(img))
  t:assert(d:size() == H.file_size(img), "disk:size() " .. d:size() .. " vs the file's " .. H.file_size(img))
  ok, out = H.sh(string.format("qemu-img check '%s'", d:path("image")))
  t:assert(ok and out:find("No errors were found on the image.", 1, true), out)
  ok, out = H.sh(string.format("qemu-io -r -f qcow2 -c 'read -P 0x33 8M 1M' '%s'", d:path("image")))
  t:assert(ok, out)
  d:detach()
end)
