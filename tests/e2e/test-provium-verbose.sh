#!/bin/bash
# provium -v -j 2 on two guests: each VM's console log is named (the file the VM really
# writes), each script's mount too, and after the run no QEMU, daemon or mount of it is
# left. Only the runner's own descendants are looked at, never the machine's.
. "$(dirname "$0")/../integration/lib.sh"
PROVIUM=${PROVIUM:-provium}
command -v qemu-system-x86_64 >/dev/null || skip "qemu-system-x86 is not installed"
export WORK


for name in p q; do
    cat >"$WORK/$name.lua" <<LUA
local work = os.getenv("WORK")
local vm = provium:vm("$name", "pebble")
vm:boot()
local f = io.open(work .. "/$name.console", "w")
f:write(vm:console():path(), "\n", provium.mount:path(), "\n")
f:close()
test("$name: the guest runs, and writes its console", function(t)
  for _ = 1, 1200 do
    local go = io.open(work .. "/go")
    if go then go:close() break end
    os.execute("sleep 0.1")
  end
  t:assert(vm:run("echo hello from $name > /dev/console").status == 0)
end)
LUA
done

"$PROVIUM" -v -j 2 "$WORK/p.lua" "$WORK/q.lua" >"$WORK/out" 2>&1 &
runner=$!
for _ in $(seq 1800); do
    [ -s "$WORK/p.console" ] && [ -s "$WORK/q.console" ] && break
    kill -0 $runner 2>/dev/null || break
    sleep 0.1
done
check "both guests booted at once" bash -c "[ -s '$WORK/p.console' ] && [ -s '$WORK/q.console' ]"
descendants $runner | awk '$2 ~ /^(provium|faultfs|qemu-system)/' >"$WORK/started"
check "two QEMUs run below the runner" same "$(grep -c ' qemu-system' "$WORK/started")" 2
touch "$WORK/go"
wait $runner
check "the run passes" same "$?" 0
cat "$WORK/out"
for name in p q; do
    console=$(sed -n 1p "$WORK/$name.console") mnt=$(sed -n 2p "$WORK/$name.console")
    check "-v names vm $name's console log, the one vm:console():path() gives" \
        grep -qx "# vm $name: console $console" "$WORK/out"
    check "-v names the mount of $name.lua" grep -qx "# mount $mnt" "$WORK/out"
    check "the console log is gone with its VM" test ! -e "$console"
    check "the mount of $name.lua is gone" not_mounted "$mnt"
done
gone=1
while read -r pid comm; do
    [ "$(cat /proc/"$pid"/comm 2>/dev/null)" = "$comm" ] && { echo "  $comm ($pid) still runs"; gone=0; }
done <"$WORK/started"
check "no QEMU, daemon or worker of the run is left" same "$gone" 1

finish
