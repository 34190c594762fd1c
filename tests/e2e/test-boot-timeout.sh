#!/bin/bash
# A boot that runs out of time says which step it was waiting at, and leaves no
# QEMU behind; a PROVIUM_BOOT_TIMEOUT that is no duration is refused by name.
# About 6 s: the guest that never answers is given its full 5 s.
. "$(dirname "$0")/../integration/lib.sh"
PROVIUM=${PROVIUM:-provium}
command -v qemu-system-x86_64 >/dev/null || skip "qemu-system-x86 is not installed"

cat >"$WORK/timeout.lua" <<'LUA'
-- The runner's own children, by command name: QEMU is one while a VM runs.
local function slurp(path)
  local f = assert(io.open(path))
  local text = f:read("a")
  f:close()
  return text
end
local function children()
  local pid = slurp("/proc/self/stat"):match("^(%d+)")
  local names = {}
  for child in slurp("/proc/" .. pid .. "/task/" .. pid .. "/children"):gmatch("%d+") do
    local ok, comm = pcall(slurp, "/proc/" .. child .. "/comm")
    if ok then names[#names + 1] = comm:match("[^\n]*") end
  end
  return table.concat(names, " ")
end

test("a boot that times out names the step and stops QEMU", function(t)
  local vm = provium:vm("v", "pebble")
  local ok, err = pcall(vm.boot, vm)
  err = tostring(err)
  print("# " .. err)
  t:assert(not ok, "the boot must fail")
  local step = err:match("boot: vm 'v' %(guest pebble%) did not come up within 1ms: (.*)$")
  t:assert(step, err)
  local steps = {["waiting for QEMU's QMP socket"] = true, ["waiting for QMP greeting"] = true,
                 ["waiting for QEMU to answer qmp_capabilities"] = true,
                 ["waiting for QEMU's guest agent socket"] = true,
                 ["waiting for the guest agent's hello"] = true}
  t:assert(steps[step], "not a step of the boot: " .. step)
  t:assert(not vm:is_running(), "the VM is not running")
  t:assert(not children():find("qemu"), "no QEMU is left: " .. children())
end)
LUA
out=$(PROVIUM_BOOT_TIMEOUT=1ms "$PROVIUM" "$WORK/timeout.lua" 2>&1)
echo "$out" | sed 's/^/  | /'
check "a 1ms boot fails naming its step" same "$(tail -1 <<<"$out")" "1 passed, 0 failed"

# A guest whose init is /bin/true panics (and, with panic=0, stays so): its agent never says hello.
guest=$("${FAULTFS_BUILD_GUEST:-${SOURCE_DIR:-$(dirname "$0")/../..}/tools/build-guest}" 2>/dev/null | tail -1)
mkdir "$WORK/no-agent"
sed 's|"cmdline": "[^"]*"|"cmdline": "console=ttyS0 rdinit=/bin/true panic=0"|' "$guest/guest.json" \
    >"$WORK/no-agent/guest.json"
cat >"$WORK/hello.lua" <<'LUA'
test("boot", function(t) provium:vm("v", "pebble"):boot() end)
LUA
out=$(PROVIUM_GUEST_DIR=$WORK/no-agent PROVIUM_BOOT_TIMEOUT=5s "$PROVIUM" "$WORK/hello.lua" 2>&1)
check "a guest that never answers times out at the agent's hello" grep -q \
    "^not ok - boot: .*boot: vm 'v' (guest pebble) did not come up within 5s: waiting for the guest agent's hello$" <<<"$out"

cat >"$WORK/bad.lua" <<'LUA'
test("boot", function(t) provium:vm("v", "pebble"):boot() end)
LUA
out=$(PROVIUM_BOOT_TIMEOUT=soon "$PROVIUM" "$WORK/bad.lua" 2>&1)
check "a bad PROVIUM_BOOT_TIMEOUT is named" \
    grep -q "^not ok - boot: .*boot: bad PROVIUM_BOOT_TIMEOUT 'soon': expected a number such as 50ms" <<<"$out"
out=$(PROVIUM_ACCEL=kmv "$PROVIUM" "$WORK/bad.lua" 2>&1)
check "a misspelt PROVIUM_ACCEL is named, not taken for TCG" \
    grep -q "^not ok - boot: .*boot: bad PROVIUM_ACCEL 'kmv': expected kvm or tcg" <<<"$out"

finish
