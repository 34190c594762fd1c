-- Issue 9, 8(b): a write the disk acknowledges and drops (drop_write), caught by a
-- checksumming reader in the guest. The guest keeps a data block at 1 MiB and, apart
-- from it, a checksum record at 2 MiB (as a filesystem keeps a block's checksum in its
-- parent); the reader recomputes the block's sha256 and compares. One boot.
local H = require "helpers"

local SIZE = 8 * 1024 * 1024
local DATA, RECORD = 2048, 4096 -- sectors: the 4 KiB data block, the 512-byte checksum record
local img = H.image("dropped-write.img", SIZE)
local vm = provium:vm("v", "pebble")
local disk = vm:attach_disk({id = "vda", size = SIZE, image = img})
vm:boot()

-- The block's content in generation N, as the guest makes it and as the host expects it.
local function line(gen) return string.format("generation %d of the data block", gen) end
local function block(gen) return ((line(gen) .. "\n"):rep(200)):sub(1, 4096) end

-- put(gen): the data block, then its checksum record; each odio write is O_DIRECT and fdatasynced.
local function put(gen)
  return vm:run(string.format(
    "yes '%s' | head -c 4096 > /tmp/blk && odio write /dev/vda %d < /tmp/blk && " ..
    "sha256sum < /tmp/blk | cut -c1-64 | odio write /dev/vda %d && sha256sum < /tmp/blk | cut -c1-64",
    line(gen), DATA * 512, RECORD * 512))
end

-- check(): the reader. Reads block and record (O_DIRECT), prints "checksum ok SUM" or
-- "checksum mismatch: block SUM, record SUM" (and fails).
local function check()
  return vm:run(string.format(
    "want=$(odio read /dev/vda %d 512 | head -c 64) && got=$(odio read /dev/vda %d 4096 | sha256sum | cut -c1-64) && " ..
    "if [ \"$got\" = \"$want\" ]; then echo \"checksum ok $got\"; " ..
    "else echo \"checksum mismatch: block $got, record $want\"; exit 1; fi",
    RECORD * 512, DATA * 512))
end

local sum = {} -- generation -> the sha256 the guest computed of its block

test("the reader accepts a block written whole", function(t)
  sum[1] = put(1):assert_ok().stdout:match("^(%x+)\n$")
  t:assert(sum[1] and #sum[1] == 64, "the writer's sha256")
  local r = check()
  t:assert(r.status == 0 and r.stdout == "checksum ok " .. sum[1] .. "\n", r.stdout .. r.stderr)
  t:assert(disk:read_sectors(DATA, 8) == block(1), "the image holds generation 1")
end)

test("drop_write on the block: the write is acknowledged, the reader finds the mismatch", function(t)
  disk:trace(true)
  disk:mark("generation 2")
  disk:fault_inject("drop_write", {sectors = {DATA, DATA + 7}})
  local w = put(2)
  t:assert(w.status == 0, "the guest's writes succeed: " .. w.stderr)
  sum[2] = w.stdout:match("^(%x+)\n$")
  local r = check()
  t:assert(r.status == 1, "the reader fails: " .. r.status .. " " .. r.stdout .. r.stderr)
  t:assert(r.stdout == string.format("checksum mismatch: block %s, record %s\n", sum[1], sum[2]),
    "it read generation 1's block against generation 2's record: " .. r.stdout)
end)

test("the image kept the old block and took the record", function(t)
  t:assert(disk:read_sectors(DATA, 8) == block(1), "the image's block is still generation 1")
  t:assert(H.bytes(img, DATA * 512, 4096) == block(1), "(the backing file too)")
  t:assert(disk:read_sectors(RECORD, 1):sub(1, 65) == sum[2] .. "\n", "the record is generation 2's")
end)

test("the trace shows the dropped write and the rule that dropped it", function(t)
  local writes = {}
  for _, e in ipairs(disk:read_trace({after_mark = "generation 2"})) do
    if e.op == "write" then writes[#writes + 1] = e end
  end
  t:assert(#writes == 2, #writes .. " writes after the mark")
  local d, r = writes[1], writes[2]
  t:assert(d.sector == DATA and d.count == 8 and d.result == "ok" and d.bytes == 4096 and d.rule == "drop_write",
    string.format("the block's write: sector %s count %s result %s rule %s", d.sector, d.count, d.result, d.rule))
  t:assert(r.sector == RECORD and r.result == "ok" and r.rule == nil, "the record's write, no rule: " .. tostring(r.rule))
  local fired = disk:stats().rules[1]
  t:assert(fired.rule == "drop_write sectors=2048-2055" and fired.fired == 1,
    "ctl counts one drop: " .. tostring(fired.rule) .. " fired=" .. tostring(fired.fired))
end)

test("without the rule, the same write lands and the reader agrees", function(t)
  disk:clear_faults()
  put(2):assert_ok()
  local r = check()
  t:assert(r.status == 0 and r.stdout == "checksum ok " .. sum[2] .. "\n", r.stdout .. r.stderr)
  t:assert(disk:read_sectors(DATA, 8) == block(2), "the image holds generation 2")
  disk:trace(false)
end)
