#!/bin/bash
# A guest that cannot boot: QEMU's own message, at once, and nothing of the harness harmed.
. "$(dirname "$0")/../integration/lib.sh"
PROVIUM=${PROVIUM:-provium}
command -v qemu-system-x86_64 >/dev/null || skip "qemu-system-x86 is not installed"

mkdir "$WORK/broken-guest"
cat >"$WORK/broken-guest/guest.json" <<JSON
{"name": "pebble", "kernel": "$WORK/broken-guest/no-such-kernel", "initrd": "$WORK/broken-guest/no-initrd",
 "cmdline": "console=ttyS0"}
JSON
make_image disk.img $((1 << 20))
cat >"$WORK/boot.lua" <<'LUA'
local faultfs = require "faultfs"
local img = os.getenv("IMG")
test("a boot that cannot start names QEMU's reason, at once", function(t)
  local vm = provium:vm("a", "pebble")
  local started = faultfs.monotonic()
  local ok, err = pcall(vm.boot, vm)
  t:assert(not ok, "boot must fail")
  t:assert(tostring(err):find("boot: vm 'a' (guest pebble) did not come up: QEMU exited: ", 1, true), tostring(err))
  t:assert(tostring(err):find("no-such-kernel", 1, true), tostring(err))
  t:assert(faultfs.monotonic() - started < 15, "no wait for the boot timeout")
end)
test("failed boots leave the harness's files alone", function(t)
  local vm = provium:vm("b", "pebble")
  local disk = vm:attach_disk({id = "vda", image = img})
  pcall(vm.boot, vm)
  pcall(provium:vm("c", "pebble").boot, provium:vm("c", "pebble"))
  t:assert(disk:size() == 1048576, "size " .. disk:size())
  disk:write_sectors(0, "still mine")
  local f = assert(io.open(img, "rb"))
  t:assert(f:read(10) == "still mine", "the write reached the disk's own image")
  f:close()
end)
LUA
out=$(PROVIUM_GUEST_DIR=$WORK/broken-guest IMG=$WORK/disk.img "$PROVIUM" "$WORK/boot.lua" 2>&1)
echo "$out" | sed 's/^/  | /'
check "both tests pass" same "$(tail -1 <<<"$out")" "2 passed, 0 failed"
check "no QEMU is left" bash -c "! pgrep -f '^qemu-system-x86_64.*$WORK' >/dev/null"

finish
