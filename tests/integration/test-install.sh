#!/bin/bash
# cmake --install puts the programs, the Lua module and the man pages where they are found.
. "$(dirname "$0")/lib.sh"
[ -n "${BUILD_DIR:-}" ] || skip "BUILD_DIR is not set (run through ctest)"
command -v lua5.4 >/dev/null || skip "lua5.4 is not installed"

root=$WORK/root
DESTDIR=$root cmake --install "$BUILD_DIR" --prefix /usr/local >"$WORK/install.log" 2>&1
check "cmake --install succeeds" same "$?" 0
for f in bin/faultfs bin/faultctl bin/provium lib/lua/5.4/faultfs.so share/man/man1/faultfs.1 \
    share/man/man1/faultctl.1 share/man/man1/provium.1 share/man/man3/faultfs-lua.3; do
    check "installs /usr/local/$f" test -e "$root/usr/local/$f"
done
check "the module lands in a directory of Lua's default cpath" \
    bash -c "lua5.4 -e 'print(package.cpath)' | tr ';' '\n' | grep -qx '/usr/local/lib/lua/5.4/?.so'"
unit=$root/usr/local/lib/systemd/system/faultfs@.service
check "installs the template unit faultfs@.service where systemd looks" test -e "$unit"
check "which starts the installed faultfs" grep -qx 'ExecStart=/usr/local/bin/faultfs -f $FAULTFS_ARGS ${MOUNTPOINT}' "$unit"
if command -v systemd-analyze >/dev/null; then
    mkdir "$WORK/units"
    sed "s|/usr/local/bin/faultfs|$root/usr/local/bin/faultfs|" "$unit" >"$WORK/units/faultfs@.service"
    check "systemd-analyze verify finds nothing wrong with it" \
        same "$(systemd-analyze verify --man=no "$WORK/units/faultfs@test.service" 2>&1; echo "status $?")" "status 0"
else
    echo "(systemd-analyze is not installed: the unit is not verified)"
fi
check "the man pages land in man's default path" bash -c "manpath 2>/dev/null | tr ':' '\n' | grep -qx '/usr/local/share/man' || test -d /usr/local/share/man"
# A sanitizer build's module needs its runtime loaded first into the plain interpreter.
preload=()
if ldd "$root/usr/local/lib/lua/5.4/faultfs.so" | grep -q libasan; then
    preload=(LD_PRELOAD="$(gcc -print-file-name=libasan.so) $(gcc -print-file-name=libubsan.so)"
        ASAN_OPTIONS=detect_leaks=0)
fi
check "lua5.4 loads the installed module" \
    env "${preload[@]}" LUA_CPATH="$root/usr/local/lib/lua/5.4/?.so" lua5.4 -e 'local f = require "faultfs"; assert(f.SECTOR_SIZE == 512); assert(f.version)'

make_image a.img $((1 << 20))
cat >"$WORK/t.lua" <<'LUA'
local vm = provium:vm("v", "pebble")
local disk = vm:attach_disk({id = "vda", image = os.getenv("IMG")})
test("installed provium starts the installed faultfs", function(t)
  disk:fault_inject("eio_read")
  t:assert(not pcall(disk.read_sectors, disk, 0, 1))
end)
LUA
out=$(env -u FAULTFS IMG="$WORK/a.img" "$root/usr/local/bin/provium" "$WORK/t.lua" 2>&1)
check "the installed provium runs a script" same "$(tail -1 <<<"$out")" "1 passed, 0 failed"
check "the installed man page renders" bash -c "man -l '$root/usr/local/share/man/man1/provium.1' 2>/dev/null | grep -q provium"

# Plain lua5.4 with the installed module: a mount, a VM and a disk, no runner.
out=$(env -u FAULTFS "${preload[@]}" PATH="$root/usr/local/bin:$PATH" LUA_CPATH="$root/usr/local/lib/lua/5.4/?.so" IMG="$WORK/a.img" lua5.4 -e '
  local faultfs = require "faultfs"
  local m <close> = faultfs.mount()
  local vm = faultfs.vm(m, "v", "pebble")
  local d = vm:attach_disk{id = "vda", image = os.getenv("IMG")}
  d:fault_inject("slow", "1ms")
  print(table.concat(d:active_faults(), ","), #d:read_sectors(0, 2))
  d:detach()' 2>&1)
check "lua5.4 drives a mount with the module alone" same "$out" "slow	1024"

finish
