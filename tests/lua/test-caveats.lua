-- The caveats: 512-byte sectors, a direct view of the image's bytes, the live size.
local H = require "helpers"
local faultfs = require "faultfs"

local vm = provium:vm("v", "pebble")
local img = H.image("caveats.img", 64 * 1024)
local disk = vm:attach_disk({id = "vda", size = 64 * 1024, image = img})

test("sectors are 512 bytes throughout", function(t)
  t:assert(faultfs.SECTOR_SIZE == 512)
  t:assert(#disk:read_sectors(0, 1) == 512)
  t:assert(#disk:read_sectors(3, 7) == 7 * 512)
  disk:write_sectors(1, string.rep("s", 512))
  t:assert(H.bytes(img, 511, 1) == "\0" and H.bytes(img, 512, 1) == "s" and H.bytes(img, 1023, 1) == "s")
  t:assert(H.bytes(img, 1024, 1) == "\0")
end)

test("the disk is a direct view of the image's bytes", function(t)
  H.write_file(img, 10 * 512 + 7, "written by the host")
  t:assert(disk:read_sectors(10, 1):sub(8, 26) == "written by the host")
  disk:write_sectors(20, "written by the disk")
  t:assert(H.bytes(img, 20 * 512, 19) == "written by the disk")
  -- Writes need not be whole sectors: exactly #data bytes land.
  disk:write_sectors(21, "abc")
  t:assert(H.bytes(img, 21 * 512, 4) == "abc\0")
end)

test("the last sector reads, one past it does not", function(t)
  t:assert(#disk:read_sectors(127, 1) == 512)
  H.raises(t, function() disk:read_sectors(127, 2) end,
    "read_sectors: bytes 65024..66047 are past the end of disk 'vda' (65536 bytes, 128 sectors)")
  H.raises(t, function() disk:read_sectors(128, 1) end, "past the end of disk 'vda'")
  H.raises(t, function() disk:write_sectors(127, string.rep("x", 513)) end,
    "write_sectors: bytes 65024..65536 are past the end of disk 'vda' (65536 bytes, 128 sectors)")
  t:assert(disk:size() == 65536, "a refused write did not grow the image")
end)

test("size() follows the image as it grows and shrinks", function(t)
  assert(os.execute("truncate -s 1M '" .. img .. "'"))
  t:assert(disk:size() == 1024 * 1024, "size " .. disk:size())
  t:assert(#disk:read_sectors(2047, 1) == 512, "the new end is readable")
  assert(os.execute("truncate -s 32K '" .. img .. "'"))
  t:assert(disk:size() == 32 * 1024, "size " .. disk:size())
  H.raises(t, function() disk:read_sectors(64, 1) end, "past the end of disk 'vda' (32768 bytes, 64 sectors)")
end)

test("a size= larger than the image still reports the image's live size", function(t)
  local d = vm:attach_disk({id = "vdb", size = 4 * 1024 * 1024, image = H.image("small.img", 4096)})
  t:assert(d:size() == 4096)
  d:detach()
end)
