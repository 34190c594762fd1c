-- Bad input gets an error naming the bad value, and changes nothing.
local H = require "helpers"

local vm = provium:vm("v", "pebble")
local img = H.image("bad.img", 1024 * 1024, "k")
local disk = vm:attach_disk({id = "vda", size = 1024 * 1024, image = img})

local function unchanged(t)
  t:assert(#disk:active_faults() == 0, "fault table changed: " .. table.concat(disk:active_faults(), ","))
  t:assert(H.bytes(img, 0, 4) == "kkkk", "image changed")
end

test("negative offsets", function(t)
  H.raises(t, function() disk:read_sectors(-1, 1) end, "read_sectors: offset must not be negative (got -1)")
  H.raises(t, function() disk:write_sectors(-5, "x") end, "write_sectors: offset must not be negative (got -5)")
  unchanged(t)
end)

test("fractional offsets and counts", function(t)
  H.raises(t, function() disk:read_sectors(1.5, 1) end,
    "read_sectors: offset must be a whole number of sectors (got 1.5)")
  H.raises(t, function() disk:read_sectors(0, 2.25) end,
    "read_sectors: count must be a whole number of sectors (got 2.25)")
  H.raises(t, function() disk:write_sectors(0.5, "x") end,
    "write_sectors: offset must be a whole number of sectors (got 0.5)")
  H.raises(t, function() disk:read_sectors("zero", 1) end, "read_sectors: offset must be an integer (got string)")
  H.raises(t, function() disk:read_sectors(0) end, "read_sectors: count must be an integer (got no value)")
  unchanged(t)
end)

test("count 0 or huge", function(t)
  H.raises(t, function() disk:read_sectors(0, 0) end,
    "read_sectors: count must be between 1 and 65536 sectors (got 0)")
  H.raises(t, function() disk:read_sectors(0, 1 << 40) end,
    "read_sectors: count must be between 1 and 65536 sectors (got 1099511627776)")
  H.raises(t, function() disk:read_sectors(1 << 60, 1) end,
    "read_sectors: sector 1152921504606846976 is past the end of disk 'vda' (1048576 bytes, 2048 sectors)")
  H.raises(t, function() disk:write_sectors(5000, "") end,
    "write_sectors: sector 5000 is past the end of disk 'vda' (1048576 bytes, 2048 sectors)")
  unchanged(t)
end)

test("non-string data", function(t)
  H.raises(t, function() disk:write_sectors(0, 42) end, "write_sectors: data must be a string (got number)")
  H.raises(t, function() disk:write_sectors(0, {}) end, "write_sectors: data must be a string (got table)")
  H.raises(t, function() disk:write_sectors(0) end, "write_sectors: data must be a string (got no value)")
  unchanged(t)
end)

test("unknown modes", function(t)
  H.raises(t, function() disk:fault_inject("eio") end,
    "fault_inject: unknown mode 'eio' (expected eio_read, eio_write, eio_flush, eio_discard, slow, corrupt_read, corrupt_write, drop_write, torn_write, bad_sectors, volatile)")
  H.raises(t, function() disk:fault_inject("clear") end, "fault_inject: unknown mode 'clear'")
  H.raises(t, function() disk:fault_inject("eio_read\neio_write") end, "fault_inject: unknown mode 'eio_read")
  H.raises(t, function() disk:fault_inject("slow", "5x") end,
    "fault_inject: slow: bad duration '5x': unknown unit (use ns, us, ms, s, m or h)")
  H.raises(t, function() disk:fault_inject("eio_read", "1s") end, "fault_inject: eio_read: unexpected argument '1s'")
  H.raises(t, function() disk:clear_faults("nope") end,
    "clear_faults: clear: unknown mode 'nope' (expected eio_read, eio_write, eio_flush, eio_discard, slow, corrupt_read, corrupt_write, drop_write, torn_write, bad_sectors, volatile)")
  unchanged(t)
end)

test("unknown disk id", function(t)
  H.raises(t, function() vm:disk("vdz") end, "disk: vm 'v' has no disk 'vdz' (attached: vda)")
end)

test("duplicate id", function(t)
  H.raises(t, function() vm:attach_disk({id = "vda", image = img}) end, "attach_disk: vm 'v' already has a disk 'vda'")
  t:assert(vm:disk("vda") == disk, "the first disk stays")
end)

test("bad ids and options", function(t)
  H.raises(t, function() vm:attach_disk({id = "a/b"}) end,
    "attach_disk: bad disk id 'a/b': only A-Z a-z 0-9 _ . - are allowed")
  H.raises(t, function() vm:attach_disk({id = ".."}) end, "attach_disk: bad disk id '..': '.' and '..' are reserved")
  H.raises(t, function() vm:attach_disk({id = 7}) end, "attach_disk: id must be a string (got number)")
  H.raises(t, function() vm:attach_disk({id = "x", size = -1}) end,
    "attach_disk: size must be a positive whole number of bytes (got -1)")
  H.raises(t, function() vm:attach_disk({id = "x", size = 1.5}) end,
    "attach_disk: size must be a positive whole number of bytes (got 1.5)")
  H.raises(t, function() vm:attach_disk({id = "x", imag = img}) end,
    "attach_disk: unknown option 'imag' (expected id, size, image, on_error, aio, format)")
  H.raises(t, function() vm:attach_disk({id = "x", image = 5}) end, "attach_disk: image must be a path string (got number)")
  H.raises(t, function() vm:attach_disk("vdb") end, "bad argument #1 to 'attach_disk' (table expected, got string)")
  H.raises(t, function() vm:disk("x") end, "has no disk 'x'")
end)

test("a missing backing file is a clear error, and nothing is created", function(t)
  local missing = img .. ".missing"
  H.raises(t, function() vm:attach_disk({id = "vdm", image = missing}) end,
    "attach_disk: image '" .. missing .. "' does not exist (Provium does not auto-create; create it first)")
  t:assert(io.open(missing) == nil, "the file must not be created")
  H.raises(t, function() vm:disk("vdm") end, "has no disk 'vdm'")
  H.raises(t, function() vm:attach_disk({id = "vdm", image = "/tmp"}) end, "attach_disk: image '/tmp' is not a regular file")
end)

test("image inside the mount", function(t)
  local inside = disk:path("image")
  H.raises(t, function() vm:attach_disk({id = "vdi", image = inside}) end,
    "attach_disk: image '" .. inside .. "' is inside the faultfs mount " .. provium.mount:path() .. " (it would deadlock)")
  H.raises(t, function() vm:disk("vdi") end, "has no disk 'vdi'")
end)

test("attach after detach", function(t)
  local d = vm:attach_disk({id = "vdd", image = H.image("d.img", 4096)})
  d:detach()
  H.raises(t, function() d:with_image(img) end, "with_image: disk is detached")
  H.raises(t, function() d:clear_faults() end, "clear_faults: disk is detached")
  H.raises(t, function() d:size() end, "size: disk is detached")
  H.raises(t, function() vm:disk("vdd") end, "has no disk 'vdd'")
  -- The id is free again: a new disk, not the old handle.
  local again = vm:attach_disk({id = "vdd", image = H.image("d2.img", 8192)})
  t:assert(again ~= d and again:size() == 8192 and d:is_detached())
end)

test("with_image on a disk that has one", function(t)
  H.raises(t, function() disk:with_image(img) end, "with_image: disk 'vda' already has image '" .. img .. "'")
end)

test("unknown guest names the known ones", function(t)
  H.raises(t, function() provium:vm("u", "ubuntu") end,
    "vm: unknown guest 'ubuntu' (known guests: pebble; run scripts written for another guest with --guest-alias ubuntu=pebble)")
  H.raises(t, function() provium:vm("bad name", "pebble") end,
    "vm: bad vm name 'bad name': only A-Z a-z 0-9 _ . - are allowed")
end)

test("nothing above changed the disk", function(t)
  unchanged(t)
  t:assert(#disk:read_sectors(0, 1) == 512)
end)
