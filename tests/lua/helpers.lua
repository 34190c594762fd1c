-- Shared by the Lua test scripts: scratch images and exact-error checks.
local faultfs = require "faultfs"
local H = {}

local dir = os.getenv("PROVIUM_TEST_TMP") or "/tmp"
local made = {}

-- H.image(name, bytes [, fill]): a fresh backing file of BYTES bytes, removed at exit.
function H.image(name, bytes, fill)
  local path = string.format("%s/provium-%d-%s", dir, faultfs.monotonic() * 1e6 // 1, name)
  local f = assert(io.open(path, "wb"))
  f:write(string.rep(fill or "\0", bytes))
  f:close()
  made[#made + 1] = path
  return path
end

-- H.raises(t, fn, text): fn must fail with a message containing TEXT (plain, not a pattern).
function H.raises(t, fn, text)
  local ok, err = pcall(fn)
  t:assert(not ok, "expected an error containing: " .. text)
  t:assert(tostring(err):find(text, 1, true), "expected '" .. text .. "', got: " .. tostring(err))
  return tostring(err)
end

-- H.bytes(path, offset, count): COUNT bytes of a file at OFFSET, read directly.
function H.bytes(path, offset, count)
  local f = assert(io.open(path, "rb"))
  f:seek("set", offset)
  local s = f:read(count)
  f:close()
  return s
end

function H.write_file(path, offset, data)
  local f = assert(io.open(path, "r+b"))
  f:seek("set", offset)
  f:write(data)
  f:close()
end

-- H.ctl(disk, text): one write to the disk's ctl, as a shell would do it.
function H.ctl(disk, text)
  local f = assert(io.open(disk:path("ctl"), "w"))
  f:write(text)
  f:close()
end

-- H.sh(cmd) -> ok, output: a host command, its stdout and stderr together.
function H.sh(cmd)
  local p = assert(io.popen(cmd .. " 2>&1"))
  local out = p:read("a")
  return p:close() == true, out
end

-- H.qcow2(name, size [, qemu_io]): a fresh qcow2 image (qemu-img, 64 KiB clusters), removed
-- at exit; QEMU_IO, if given, is a qemu-io command run on it first (e.g. "write -P 0x5a 0 64k").
function H.qcow2(name, size, qemu_io)
  local path = string.format("%s/provium-%d-%s", dir, faultfs.monotonic() * 1e6 // 1, name)
  local ok, out = H.sh(string.format("qemu-img create -q -f qcow2 '%s' %d", path, size))
  assert(ok, "qemu-img create (tools/setup installs qemu-utils): " .. out)
  made[#made + 1] = path
  if qemu_io then
    ok, out = H.sh(string.format("qemu-io -f qcow2 -c '%s' '%s'", qemu_io, path))
    assert(ok, "qemu-io: " .. out)
  end
  return path
end

-- H.file_size(path): the file's size in bytes.
function H.file_size(path)
  local f = assert(io.open(path, "rb"))
  local size = f:seek("end")
  f:close()
  return size
end

setmetatable(made, {__gc = function(list) for _, p in ipairs(list) do os.remove(p) end end})
H._made = made
return H
