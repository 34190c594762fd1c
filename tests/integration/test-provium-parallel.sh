#!/bin/bash
# provium -j N: scripts really run at once, each on its own mount; each script's output
# comes in one piece; one summary line and one JUnit report; and nothing the run started
# (workers, faultfs daemons, mounts) is left behind, also after a crash or a SIGINT.
# Only what this test started is looked at: the runner's own descendants and mounts.
. "$(dirname "$0")/lib.sh"
PROVIUM=${PROVIUM:-provium}
export WORK

# wait_for FILE...: up to 30 s for every FILE to exist.
wait_for() {
    local f missing
    for _ in $(seq 600); do
        missing=0
        for f in "$@"; do [ -e "$f" ] || missing=1; done
        [ $missing -eq 0 ] && return 0
        sleep 0.05
    done
    return 1
}
all_gone() { # all_gone FILE: no pid listed in FILE is alive any more (as the same program)
    local pid comm
    while read -r pid comm; do
        [ "$(cat /proc/"$pid"/comm 2>/dev/null)" = "$comm" ] && { echo "  $comm ($pid) still runs"; return 1; }
    done <"$1"
    return 0
}
none_mounted() { # none_mounted DIR...: none of them is a mount any more, nor exists
    local d
    for d in "$@"; do
        is_mounted "$d" && { echo "  $d is still mounted"; return 1; }
        [ -e "$d" ] && { echo "  $d is still there"; return 1; }
    done
    return 0
}

# A script NAME: attaches a disk on its mount, says where that mount is, then waits for
# the test's "go" (so it can only pass while the other script runs too).
script() {
    truncate -s 1M "$WORK/img-$1"
    cat >"$WORK/$1.lua" <<LUA
local name, work = "$1", os.getenv("WORK")
local disk = provium:vm("v", "pebble"):attach_disk({id = "vda", image = work .. "/img-" .. name})
local f = io.open(work .. "/" .. name .. ".mount", "w")
f:write(provium.mount:path())
f:close()
local function exists(path) local g = io.open(path) if g then g:close() end return g ~= nil end
test(name .. ": runs beside the other script", function(t)
  for _ = 1, 600 do
    if exists(work .. "/go") then return end
    os.execute("sleep 0.05")
  end
  t:assert(false, "no go within 30 s")
end)
test(name .. ": reads its disk", function(t) t:assert(#disk:read_sectors(0, 1) == 512) end)
print(name .. ": a line of its own output")
LUA
}
script a
script b
cat >"$WORK/c.lua" <<'LUA'
io.open(os.getenv("WORK") .. "/c.started", "w"):close()
test("c: fails", function(t) t:assert(false, "as it should") end)
for k = 1, 3 do test("c: passes " .. k, function(t) print("c: output of test " .. k) end) end
LUA

"$PROVIUM" -j 2 --junit "$WORK/report.xml" "$WORK/a.lua" "$WORK/b.lua" "$WORK/c.lua" >"$WORK/out" 2>&1 &
runner=$!
check "two scripts run at once (each waits for the other's mount)" wait_for "$WORK/a.mount" "$WORK/b.mount"
descendants $runner | awk '$2 == "provium" || $2 == "faultfs"' >"$WORK/started"
check "two workers run" same "$(grep -c ' provium$' "$WORK/started")" 2
check "each with its own faultfs daemon" same "$(grep -c ' faultfs$' "$WORK/started")" 2
mnt_a=$(cat "$WORK/a.mount") mnt_b=$(cat "$WORK/b.mount")
check "on two different mounts" bash -c "[ -n '$mnt_a' ] && [ '$mnt_a' != '$mnt_b' ]"
check "both mounted" bash -c "$(declare -f is_mounted); is_mounted '$mnt_a' && is_mounted '$mnt_b'"
check "the third script waits for a free slot (-j 2)" test ! -e "$WORK/c.started"
touch "$WORK/go"
wait $runner
check "a run with a failed test exits 1" same "$?" 1
check "(the third script ran once a slot was free)" test -e "$WORK/c.started"
out=$(cat "$WORK/out")
check "one summary line, the last, counting every script" same \
    "$(grep -E '^[0-9]+ passed, [0-9]+ failed' <<<"$out")" "7 passed, 1 failed"
check "(last)" same "$(tail -1 <<<"$out")" "7 passed, 1 failed"
# Every line between a script's "# SCRIPT" and the next one is that script's.
check "each script's output is in one piece" awk -v w="$WORK/" '
    /^# / { script = substr($2, length(w) + 1); sub(/\.lua$/, "", script); seen[script]++; next }
    /^[0-9]+ passed/ { next }
    { line = $0; sub(/^(not )?ok - /, "", line)
      if (index(line, script ": ") != 1) { print "  line of another script under " script ": " $0; bad = 1 } }
    END { for (s in seen) if (seen[s] != 1) { print "  " s " printed twice"; bad = 1 }
          exit bad || length(seen) != 3 }' <<<"$out"
check "a script's own prints are in its piece" grep -q '^a: a line of its own output$' <<<"$out"
check "one JUnit report with a suite per script, in the scripts' order" same \
    "$(sed -n 's/.*<testsuite name="\([^"]*\)".*/\1/p' "$WORK/report.xml")" "$(printf '%s\n' "$WORK/a.lua" "$WORK/b.lua" "$WORK/c.lua")"
check "which counts every test" grep -q '^<testsuites tests="8" failures="1" errors="0" ' "$WORK/report.xml"
check "no worker or daemon is left" all_gone "$WORK/started"
check "no mount is left" none_mounted "$mnt_a" "$mnt_b"

# A worker that dies: its script is an error, its mount goes with it.
rm -f "$WORK"/*.mount "$WORK/go"
script d
echo 'os.exit(3)' >>"$WORK/d.lua"
out=$("$PROVIUM" -j 2 "$WORK/d.lua" "$WORK/c.lua" 2>&1)
check "a worker that dies is an error of its script" \
    grep -qx "not ok - $WORK/d.lua (runner): provium exited with status 3 before it reported its tests" <<<"$out"
check "and counted" same "$(tail -1 <<<"$out")" "3 passed, 2 failed"
mnt_d=$(cat "$WORK/d.mount")
for _ in $(seq 100); do is_mounted "$mnt_d" || break; sleep 0.05; done
check "its mount is gone too" not_mounted "$mnt_d"

# SIGINT to the runner alone: every worker tears down, their output is still printed.
rm -f "$WORK"/*.mount
for s in e f; do
    truncate -s 1M "$WORK/img-$s"
    cat >"$WORK/$s.lua" <<LUA
provium:vm("v", "pebble"):attach_disk({id = "vda", image = os.getenv("WORK") .. "/img-$s"})
local f = io.open(os.getenv("WORK") .. "/$s.mount", "w")
f:write(provium.mount:path())
f:close()
test("$s: spins", function(t) while true do end end)
LUA
done
"$PROVIUM" -j 2 "$WORK/e.lua" "$WORK/f.lua" >"$WORK/out" 2>&1 &
runner=$!
check "(both interrupted scripts started)" wait_for "$WORK/e.mount" "$WORK/f.mount"
sleep 0.3
descendants $runner | awk '$2 == "provium" || $2 == "faultfs"' >"$WORK/started"
check "(two workers, two daemons)" same "$(wc -l <"$WORK/started")" 4
kill -INT $runner
wait $runner
check "SIGINT ends a -j run with 130" same "$?" 130
check "and says so" grep -q "provium: interrupted; VMs and mounts were torn down" "$WORK/out"
check "each worker's output is still printed" same "$(grep -c '^# ' "$WORK/out")" 2
check "no worker or daemon is left after SIGINT" all_gone "$WORK/started"
check "no mount is left after SIGINT" none_mounted "$(cat "$WORK/e.mount")" "$(cat "$WORK/f.mount")"

# Usage errors.
check "-j 0 is refused" fails_with "provium: -j: expected a number of scripts to run at a time (1 or more), got '0'" \
    "$PROVIUM" -j 0 "$WORK/c.lua"
check "-j x is refused" fails_with "got 'x'" "$PROVIUM" --jobs x "$WORK/c.lua"
check "-j with --mount is refused" fails_with "provium: -j 2 and --mount cannot go together" \
    "$PROVIUM" -j 2 --mount "$WORK" "$WORK/c.lua" "$WORK/c.lua"
"$PROVIUM" -j 0 "$WORK/c.lua" >/dev/null 2>&1
check "(exit 2)" same "$?" 2

finish
