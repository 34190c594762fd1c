#!/bin/bash
# A boot on a busy host: CPU hogs and a sync-write loop beside QEMU slow every
# step of the boot, and the boot waits as long as its timeout allows. (With a
# one-second window for QMP's handshake, QEMU's answer to qmp_capabilities
# came too late in 6 of 6 runs on a 2-CPU TCG host: "QEMU did not answer in
# time" after about 3 s. Now the boot takes about 19 s there, as long as the
# load lasts, then runs a command.)
. "$(dirname "$0")/../integration/lib.sh"
PROVIUM=${PROVIUM:-provium}
command -v qemu-system-x86_64 >/dev/null || skip "qemu-system-x86 is not installed"

# The load starts WARMUP_SECONDS before the boot (a sync-write loop hurts once
# it runs) and lasts LOAD_SECONDS in all: past QEMU's start and QMP handshake,
# and short enough that the guest then boots at its usual pace.
WARMUP_SECONDS=2
LOAD_SECONDS=20
HOGS=$((4 * $(nproc)))
load_pids=()
sink=$(mktemp /var/tmp/faultfs-busy.XXXXXX 2>/dev/null || echo "$WORK/busy-sink")
stop_load() {
    # Each load process is a `timeout`, which passes the signal on to its whole group.
    [ ${#load_pids[@]} -gt 0 ] && kill "${load_pids[@]}" 2>/dev/null
    wait "${load_pids[@]}" 2>/dev/null
    load_pids=()
    rm -f "$sink"
}
trap 'stop_load; cleanup' EXIT
for _ in $(seq "$HOGS"); do
    timeout "$LOAD_SECONDS" bash -c 'while :; do :; done' &
    load_pids+=($!)
done
timeout "$LOAD_SECONDS" bash -c \
    "while :; do dd if=/dev/zero of='$sink' bs=1M count=64 oflag=dsync 2>/dev/null; done" &
load_pids+=($!)
sleep "$WARMUP_SECONDS"

cat >"$WORK/busy.lua" <<'LUA'
local faultfs = require "faultfs"
test("a boot on a busy host waits for QEMU and the guest", function(t)
  local vm = provium:vm("v", "pebble")
  local started = faultfs.monotonic()
  vm:boot()
  print(string.format("# booted in %.1f s", faultfs.monotonic() - started))
  local r = vm:run("echo up")
  t:assert(r.ok and r.stdout == "up\n", "the guest ran a command: " .. r.stdout .. r.stderr)
end)
LUA
out=$("$PROVIUM" "$WORK/busy.lua" 2>&1)
stop_load
echo "$out" | sed 's/^/  | /'
check "the boot succeeds beside $HOGS CPU hogs and a sync-write loop" \
    same "$(tail -1 <<<"$out")" "1 passed, 0 failed"

finish
