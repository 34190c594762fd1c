#!/bin/bash
# The provium runner: one line per test, the summary, exit codes, options, teardown.
. "$(dirname "$0")/lib.sh"
PROVIUM=${PROVIUM:-provium}

# Each script prints the mount its runner started: the tests check that one
# mount, never anybody else's (another provium may run beside this test).
cat >"$WORK/mixed.lua" <<'LUA'
local img = os.getenv("IMG")
local vm = provium:vm("v", "pebble")
local disk = vm:attach_disk({id = "vda", image = img})
test("passes", function(t) t:assert(#disk:read_sectors(0, 1) == 512) end)
test("fails with a message", function(t)
  t:assert(false, "the message")
end)
test("raises an error", function(t) error("boom") end)
test("another pass", function(t) t:assert(true) end)
print("# mount " .. provium.mount:path())
LUA
make_image img $((1 << 20))
export IMG=$WORK/img

out=$("$PROVIUM" "$WORK/mixed.lua" 2>&1)
status=$?
check "a failing test makes the exit status 1" same "$status" 1
check "the summary line counts both" same "$(tail -1 <<<"$out")" "2 passed, 2 failed"
check "each passing test has its line" grep -q "^ok - passes (" <<<"$out"
check "a failed assert names its message and line" grep -q "^not ok - fails with a message: the message (at $WORK/mixed.lua:6)" <<<"$out"
check "a runtime error names its place" grep -q "^not ok - raises an error: $WORK/mixed.lua:8: boom" <<<"$out"
mnt=$(sed -n 's/^# mount //p' <<<"$out")
check "the script ran on a mount of its own" test -n "$mnt"
check "the script's mount is gone afterwards" not_mounted "$mnt"
check "and so is its directory" test ! -e "$mnt"

out=$("$PROVIUM" --filter '^pass' "$WORK/mixed.lua" 2>&1)
check "--filter runs only the matching tests" same "$(tail -1 <<<"$out")" "1 passed, 0 failed"
check "--filter with a bad pattern is refused" fails_with "provium: --filter: bad Lua pattern '[x'" "$PROVIUM" --filter '[x' "$WORK/mixed.lua"

out=$("$PROVIUM" --list "$WORK/mixed.lua" 2>&1)
check "--list lists every test" same "$(grep -c "^$WORK/mixed.lua: " <<<"$out")" 4
check "--list runs none" bash -c "! grep -q '^ok' <<<'$out'"

"$PROVIUM" --junit "$WORK/report.xml" "$WORK/mixed.lua" >/dev/null 2>&1
check "--junit writes a report: a failed assert is a failure, a Lua error an error" \
    grep -q '<testsuites tests="4" failures="1" errors="1" time="' "$WORK/report.xml"
check "each suite has its timestamp and host" \
    grep -Eq '<testsuite name="[^"]*mixed.lua" tests="4" failures="1" errors="1" skipped="0" time="[0-9.]+" timestamp="[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9:]{8}" hostname="[^"]+">' "$WORK/report.xml"
check "the classname has no dot for a CI to split" grep -q '<testcase classname="mixed" name="passes"' "$WORK/report.xml"
check "the error is an <error> without the runner's frames" \
    bash -c "grep -q '<error message=\"$WORK/mixed.lua:8: boom\">' '$WORK/report.xml' && ! grep -Eq 'provium(_runner)?:[0-9]+:' '$WORK/report.xml'"
# (test-provium-junit.sh validates reports against the JUnit schema)
check "--junit to an unwritable path fails before any test runs" \
    fails_with "provium: --junit: cannot write '/nonexistent/dir/r.xml'" "$PROVIUM" --junit /nonexistent/dir/r.xml "$WORK/mixed.lua"
"$PROVIUM" --junit /nonexistent/dir/r.xml "$WORK/mixed.lua" >/dev/null 2>&1
check "(a usage error: exit 2)" same "$?" 2
check "a missing script is a usage error" fails_with "provium: cannot read script '$WORK/nope.lua'" "$PROVIUM" "$WORK/nope.lua"
"$PROVIUM" "$WORK/nope.lua" >/dev/null 2>&1
check "(exit 2)" same "$?" 2
check "with a testcase per test" same "$(grep -c '<testcase ' "$WORK/report.xml")" 4
check "and the failure message" grep -q '<failure message="the message (at ' "$WORK/report.xml"

cat >"$WORK/green.lua" <<'LUA'
test("one", function(t) t:assert(1 + 1 == 2) end)
LUA
out=$("$PROVIUM" -v "$WORK/green.lua" 2>&1)
mnt=$(sed -n 's|^# mount \(/.*\)$|\1|p' <<<"$out")
check "-v prints the mount the script runs on" grep -q "^# mount /tmp/provium-[A-Za-z0-9]*/mnt$" <<<"$out"
check "(right after the script's name)" same "$(sed -n 2p <<<"$out")" "# mount $mnt"
check "which is gone afterwards" not_mounted "$mnt"
check "without -v there is no such line" bash -c "! '$PROVIUM' '$WORK/green.lua' | grep -q '^# mount'"
check "an all-green run exits 0" "$PROVIUM" "$WORK/green.lua"
check "--help prints the usage" bash -c "'$PROVIUM' --help | grep -q 'usage: provium \[options\] SCRIPT.lua...'"
check "--help names -j, --shard and -v" bash -c "'$PROVIUM' --help | grep -q '^  -j, --jobs N ' && '$PROVIUM' --help | grep -q '^  --shard K/N ' && '$PROVIUM' --help | grep -q '^  -v, --verbose '"
check "--version prints the version" bash -c "'$PROVIUM' --version | grep -qx 'provium [0-9.]*'"
check "an unknown option is refused" fails_with "provium: unknown option '--frob'" "$PROVIUM" --frob "$WORK/green.lua"
check "no script is a usage error" fails_with "usage: provium" "$PROVIUM"

echo 'test("x", function(t) end' >"$WORK/broken.lua"
out=$("$PROVIUM" "$WORK/broken.lua" 2>&1)
check "a script that does not load is a failure" grep -q "^not ok - $WORK/broken.lua (top level): .*broken.lua:[0-9]*: ')' expected" <<<"$out"
echo 'error("set-up failed")' >"$WORK/toplevel.lua"
out=$("$PROVIUM" "$WORK/toplevel.lua" 2>&1)
check "an error at the top level is a failure" grep -q "^not ok - $WORK/toplevel.lua (top level): $WORK/toplevel.lua:1: set-up failed" <<<"$out"
check "and counted" same "$(tail -1 <<<"$out")" "0 passed, 1 failed"

cat >"$WORK/alias.lua" <<'LUA'
test("a script for peios", function(t) t:assert(provium:vm("v", "peios")) end)
LUA
check "an unknown guest fails the test" fails_with "" "$PROVIUM" "$WORK/alias.lua"
check "--guest-alias peios=pebble runs it unchanged" "$PROVIUM" --guest-alias peios=pebble "$WORK/alias.lua"
check "a bad --guest-alias is refused" fails_with "expected NAME=GUEST, got 'peios'" "$PROVIUM" --guest-alias peios "$WORK/alias.lua"

# --mount: use an existing mount, and leave it mounted.
mount_faultfs
cat >"$WORK/existing.lua" <<'LUA'
local vm = provium:vm("v", "pebble")
local disk = vm:attach_disk({id = "vda", image = os.getenv("IMG")})
test("uses the given mount", function(t)
  t:assert(disk:path() == os.getenv("MNT") .. "/v.vda", disk:path())
end)
LUA
check "--mount runs on an existing mount" env MNT="$MNT" "$PROVIUM" --mount "$MNT" "$WORK/existing.lua"
check "-v names a mount given with --mount as such" \
    bash -c "'$PROVIUM' -v --mount '$MNT' '$WORK/green.lua' | grep -qx '# mount $MNT (given with --mount)'"
check "which is still mounted afterwards" is_mounted "$MNT"
check "and whose disk was detached at the end" test ! -e "$MNT/v.vda"
out=$("$PROVIUM" --mount "$WORK" "$WORK/green.lua" 2>&1)
check "--mount of a non-mount fails the script" grep -q "^not ok - $WORK/green.lua (set-up): cannot start faultfs: mount: '$WORK' is not a faultfs mount" <<<"$out"

# SIGINT mid-test: the runner tears down its mount and exits 130.
cat >"$WORK/endless.lua" <<'LUA'
print("# mount " .. provium.mount:path())
io.stdout:flush()
local vm = provium:vm("v", "pebble")
local disk = vm:attach_disk({id = "vda", image = os.getenv("IMG")})
test("spins", function(t) while true do end end)
LUA
"$PROVIUM" "$WORK/endless.lua" >"$WORK/endless.out" 2>&1 &
runner=$!
mnt=
for _ in $(seq 100); do
    mnt=$(sed -n 's/^# mount //p' "$WORK/endless.out")
    [ -n "$mnt" ] && break
    sleep 0.05
done
check "the runner mounted its faultfs" is_mounted "$mnt"
# Its daemon is the runner's own child.
daemon=
for child in $(cat /proc/$runner/task/*/children); do
    [ "$(cat /proc/$child/comm 2>/dev/null)" = faultfs ] && daemon=$child
done
check "the runner's faultfs daemon is its child" test -n "$daemon"
sleep 0.3
kill -INT $runner
wait $runner
check "SIGINT ends the runner with 130" same "$?" 130
check "and it says so" grep -q "provium: interrupted; VMs and mounts were torn down" "$WORK/endless.out"
check "its mount is gone" not_mounted "$mnt"
check "its daemon is gone" bash -c "! kill -0 '$daemon' 2>/dev/null"

finish
