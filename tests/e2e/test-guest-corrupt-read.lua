-- Issue 9, 8(c): silent read corruption (corrupt_read) that a real guest sees while the
-- image stays intact. The host puts known bytes on the disk; the guest reads them
-- O_DIRECT and compares checksums with the content it knows; read_sectors shows what
-- is stored; clearing the rule gives the guest the original back. One boot.
local H = require "helpers"

local SIZE = 8 * 1024 * 1024
local FIRST = 2048 -- a 4 KiB block of known content: sectors 2048-2055
local LINE = "known content, put here by the host"
local KNOWN = ((LINE .. "\n"):rep(120)):sub(1, 4096)
local BITS, BAD = 5, {2050, 2051} -- the rule flips 5 bits within sectors 2050-2051

local img = H.image("corrupt-read.img", SIZE)
H.write_file(img, FIRST * 512, KNOWN)
local vm = provium:vm("v", "pebble")
local disk = vm:attach_disk({id = "vda", size = SIZE, image = img})
vm:boot()

-- The guest's O_DIRECT read of the block, compared with the content it regenerates itself:
-- "same SUM" or "differs: read SUM, known SUM", then the bytes it read as hex.
local function guest_check()
  local r = vm:run(string.format(
    "odio read /dev/vda %d 4096 > /tmp/got && got=$(sha256sum < /tmp/got | cut -c1-64) && " ..
    "known=$(yes '%s' | head -c 4096 | sha256sum | cut -c1-64) && " ..
    "if [ \"$got\" = \"$known\" ]; then echo \"same $got\"; else echo \"differs: read $got, known $known\"; fi && " ..
    "xxd -p /tmp/got", FIRST * 512, LINE)):assert_ok()
  local verdict, hex = r.stdout:match("^([^\n]*)\n(.*)$")
  local bytes = hex:gsub("%s", ""):gsub("%x%x", function(x) return string.char(tonumber(x, 16)) end)
  return verdict, bytes
end

-- Bits that differ between A and B, and the sectors (of the block) they are in.
local function diff(a, b)
  local n, sectors = 0, {}
  for i = 1, #a do
    local x = a:byte(i) ~ b:byte(i)
    if x ~= 0 then sectors[FIRST + (i - 1) // 512] = true end
    while x ~= 0 do
      n, x = n + (x & 1), x >> 1
    end
  end
  return n, sectors
end

local known_sum, corrupted
test("the guest reads the known content", function(t)
  local verdict, bytes = guest_check()
  known_sum = verdict:match("^same (%x+)$")
  t:assert(known_sum, verdict)
  t:assert(bytes == KNOWN, "the guest's bytes are the host's")
end)

test("corrupt_read: the guest's checksum no longer matches", function(t)
  disk:trace(true)
  disk:mark("corrupt")
  disk:fault_inject("corrupt_read", {bits = BITS, sectors = BAD, seed = 11})
  local verdict, bytes = guest_check()
  t:assert(verdict:find("^differs: read %x+, known " .. known_sum .. "$"), verdict)
  corrupted = bytes
  local n, sectors = diff(bytes, KNOWN)
  t:assert(#bytes == 4096 and n == BITS, "bits flipped in what the guest read: " .. n)
  for s in pairs(sectors) do
    t:assert(s >= BAD[1] and s <= BAD[2], "a flipped bit in sector " .. s .. ", outside the rule's sectors")
  end
  local reads = 0
  for _, e in ipairs(disk:read_trace({after_mark = "corrupt"})) do
    if e.op == "read" and e.rule == "corrupt_read" and e.sector <= BAD[2] and e.sector + e.count > BAD[1] then
      reads = reads + 1
    end
  end
  t:assert(reads >= 1, "the trace names the rule on the guest's read")
  disk:trace(false)
end)

test("the image stays intact: read_sectors and the backing file hold the known bytes", function(t)
  t:assert(disk:read_sectors(FIRST, 8) == KNOWN, "read_sectors is the stored, uncorrupted block")
  t:assert(H.bytes(img, FIRST * 512, 4096) == KNOWN, "the backing file is untouched")
end)

test("each read is corrupted anew; the same seed replays the same corruption", function(t)
  local _, second = guest_check()
  t:assert(second ~= KNOWN and diff(second, KNOWN) == BITS, "the next read is corrupted too")
  disk:clear_faults()
  disk:fault_inject("corrupt_read", {bits = BITS, sectors = BAD, seed = 11})
  local _, replay = guest_check()
  t:assert(replay == corrupted, "the rule made again with seed 11: the first read flips the same bits")
end)

test("clearing the rule: the guest reads the original again", function(t)
  disk:clear_faults()
  local verdict, bytes = guest_check()
  t:assert(verdict == "same " .. known_sum, verdict)
  t:assert(bytes == KNOWN)
end)
