#!/bin/bash
# Ctrl-C in the middle of a guest command: the runner stops at once, and neither
# QEMU nor the faultfs mount outlives it.
. "$(dirname "$0")/../integration/lib.sh"
PROVIUM=${PROVIUM:-provium}
command -v qemu-system-x86_64 >/dev/null || skip "qemu-system-x86 is not installed"

make_image disk.img $((1 << 20))
cat >"$WORK/long.lua" <<'LUA'
local vm = provium:vm("v", "pebble")
vm:attach_disk({id = "vda", image = os.getenv("IMG")})
vm:boot()
print("BOOTED on " .. provium.mount:path())
io.stdout:flush()
test("a long guest command", function(t) vm:run("sleep 600", "700s") end)
LUA
IMG=$WORK/disk.img "$PROVIUM" "$WORK/long.lua" >"$WORK/out" 2>&1 &
runner=$!
for _ in $(seq 600); do grep -q BOOTED "$WORK/out" && break; sleep 0.1; done
check "the guest booted" grep -q BOOTED "$WORK/out"
mnt=$(sed -n 's/^BOOTED on //p' "$WORK/out")
check "on the runner's own mount" is_mounted "$mnt"
qemu=$(pgrep -P $runner -f qemu-system-x86_64)
check "QEMU runs as the runner's child" test -n "$qemu"
sleep 1
start=$(now_ms)
kill -INT $runner
wait $runner
status=$?
took=$(($(now_ms) - start))
check "SIGINT ends the runner with 130" same "$status" 130
check "promptly, not after the command's 600 s ($took ms)" at_most 15000 "$took"
check "QEMU is gone" bash -c "! kill -0 $qemu 2>/dev/null"
check "the mount is gone" not_mounted "$mnt"
check "the runner said why" grep -q "provium: interrupted; VMs and mounts were torn down" "$WORK/out"

finish
