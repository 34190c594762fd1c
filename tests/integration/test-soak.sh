#!/bin/bash
# Integrity soak: random O_DIRECT writes and reads from several threads race a shell that
# keeps switching faults. fio checks the data under slow/clear; soak_check (tests/tools)
# checks it under eio_write and eio_read, where some requests fail: a failed write may
# have landed (the re-check fails it after the I/O), but no block may ever hold an older
# generation, a torn block or bytes that were never written, and every failure is EIO.
. "$(dirname "$0")/lib.sh"
command -v fio >/dev/null || skip "fio is not installed (apt-get install fio)"
command -v jq >/dev/null || skip "jq is not installed (apt-get install jq)"
[ -x "${SOAK_CHECK:-}" ] || skip "SOAK_CHECK is not set (run through ctest)"

SECONDS_PER_PHASE=${SOAK_SECONDS:-10} # soak_check write; its read gets half
HALF=$(((SECONDS_PER_PHASE + 1) / 2))

# toggle DISK LINE...: until toggle_stop, writes one of the LINEs (picked at random) to
# DISK's ctl, in bursts: one time in sixteen it sleeps 10-30 ms after, otherwise it goes
# straight on, so a fault often switches while requests are between check and re-check.
# At the end $WORK/toggles holds "ok=N failed=N" and each line that failed.
toggle_start() {
    local disk=$1
    shift
    touch "$WORK/toggling"
    (
        # read -t on a fifo nobody writes sleeps without starting a process
        mkfifo "$WORK/never.$BASHPID" && exec 3<>"$WORK/never.$BASHPID" && rm "$WORK/never.$BASHPID"
        lines=("$@")
        ok=0
        failed=0
        while [ -e "$WORK/toggling" ]; do
            line=${lines[RANDOM % ${#lines[@]}]}
            if printf '%s\n' "$line" >"$MNT/$disk/ctl"; then
                ok=$((ok + 1))
            else
                failed=$((failed + 1))
                echo "FAILED: $line"
            fi
            [ $((RANDOM % 16)) -eq 0 ] && read -r -t 0.0$((RANDOM % 3 + 1)) -u 3
        done >"$WORK/toggles.failed"
        echo "ok=$ok failed=$failed" >"$WORK/toggles"
        cat "$WORK/toggles.failed" >>"$WORK/toggles"
    ) &
    TOGGLER=$!
}

toggle_stop() {
    rm -f "$WORK/toggling"
    wait "$TOGGLER"
}

# field KEY FILE: the value of KEY=VALUE in FILE (soak_check's summary line).
field() {
    grep -o "\b$1=[0-9.]*" "$2" | head -1 | cut -d= -f2
}

soak_check() {
    "$SOAK_CHECK" "$@"
}

make_image fio.img $((128 << 20))
make_image soak.img $((16 << 20))
soak_check init "$WORK/soak.img" >/dev/null
mount_faultfs --disk vda="$WORK/fio.img" --disk vdb="$WORK/soak.img"

# ---- phase 1: fio writes and verifies while the disk turns slow and back ----
# Four jobs on 32 MiB each (two libaio QD16, two psync), each writing every block of its
# own once, so a write that did not land leaves zeros, which fio's verify rejects. (With
# blocks written more than once fio would also accept an older version of a block.)
cat >"$WORK/soak.fio" <<FIO
[global]
filename=$MNT/vda/image
direct=1
rw=randwrite
bs=4k
size=32m
offset_increment=32m
verify=crc32c
verify_fatal=1
verify_state_save=0
[aio]
ioengine=libaio
iodepth=16
numjobs=2
[sync]
ioengine=psync
offset=64m
numjobs=2
FIO
# fio_ios FILE DIRECTION: the I/Os of all jobs in fio's JSON FILE (after any warnings).
fio_ios() {
    sed -n '/^{/,$p' "$1" | jq "[.jobs[].$2.total_ios] | add"
}
toggle_start vda "slow 1ms" clear
fio --output-format=json --output="$WORK/fio-write.json" "$WORK/soak.fio" 2>"$WORK/fio.err"
check "fio writes and verifies under slow/clear toggling" same "$?" 0
toggle_stop
ctl vda clear
check "fio wrote all 32768 blocks" same "$(fio_ios "$WORK/fio-write.json" write)" 32768
fio --verify_only --output-format=json --output="$WORK/fio-verify.json" "$WORK/soak.fio" \
    2>>"$WORK/fio.err"
check "a clean verify pass finds every block fio wrote" same "$?" 0
check "it read back all 32768" same "$(fio_ios "$WORK/fio-verify.json" read)" 32768
check "the toggler switched $(field ok "$WORK/toggles") times and never failed" \
    same "$(field failed "$WORK/toggles")" 0
check "slow fired ($(stat_field vda faults_fired) times)" at_least 20 "$(stat_field vda faults_fired)"
check "no request failed" same "$(stat_field vda failed_writes),$(stat_field vda failed_reads)" 0,0

# ---- phase 2: soak_check writes while eio_write comes and goes ----
toggle_start vdb eio_write clear "slow 1ms" "clear eio_write" $'slow 1ms\neio_write' clear
# A snapshot of the backing file halfway through: a source of stale blocks for the
# checks at the end that soak_check itself would catch a defect.
(sleep "$HALF" && cp "$WORK/soak.img" "$WORK/snapshot.img") &
snapshot=$!
soak_check write "$MNT/vdb/image" "$WORK/soak.img" "$WORK/state" --seconds "$SECONDS_PER_PHASE" \
    >"$WORK/write.out" 2>"$WORK/write.err"
check "soak_check write: each write read back as allowed, every failure EIO" same "$?" 0
toggle_stop
wait $snapshot
ctl vdb clear
cat "$WORK/write.out" "$WORK/write.err"
check "the toggler switched $(field ok "$WORK/toggles") times and never failed" \
    same "$(field failed "$WORK/toggles")" 0
check "some writes succeeded" at_least 1000 "$(field acknowledged "$WORK/write.out")"
check "and some failed" at_least 100 "$(field failed "$WORK/write.out")"
check "every failure was EIO, none short" same \
    "$(field failed_other "$WORK/write.out"),$(field short "$WORK/write.out")" 0,0
check "the daemon counted the same writes" same \
    "$(stat_field vdb writes),$(stat_field vdb failed_writes)" \
    "$(field writes "$WORK/write.out"),$(field failed "$WORK/write.out")"

soak_check verify "$WORK/soak.img" "$WORK/state" >"$WORK/verify.out" 2>"$WORK/verify.err"
check "every block holds what the fault model allows" same "$?" 0
cat "$WORK/verify.out" "$WORK/verify.err"
check "all 4096 blocks verified" same "$(field verified "$WORK/verify.out")" 4096
check "the 256 guard blocks kept their initial content" \
    at_least 256 "$(field untouched "$WORK/verify.out")"
check "the image never changed size" same "$(stat -c %s "$WORK/soak.img")" $((16 << 20))

# With eio_write held on, the check before the I/O fails every write: none may land.
ctl vdb eio_write
soak_check write "$MNT/vdb/image" "$WORK/soak.img" "$WORK/state.held" --seconds 1 \
    >"$WORK/held.out" 2>&1
check "with eio_write held, soak_check write sees no violation" same "$?" 0
cat "$WORK/held.out"
check "every write failed" same "$(field acknowledged "$WORK/held.out")" 0
check "and none of them landed" same "$(field failed_landed "$WORK/held.out")" 0
check "the backing file still verifies against the soak's state" \
    soak_check verify "$WORK/soak.img" "$WORK/state" >/dev/null
ctl vdb clear

# ---- phase 3: reads through the mount while eio_read comes and goes ----
toggle_start vdb eio_read clear "slow 1ms" "clear eio_read" $'slow 1ms\neio_read' clear
reads_before=$(stat_field vdb reads)
soak_check read "$MNT/vdb/image" "$WORK/soak.img" --seconds "$HALF" \
    >"$WORK/read.out" 2>"$WORK/read.err"
check "every read that succeeded returned the stored bytes, every failure was EIO" same "$?" 0
toggle_stop
ctl vdb clear
cat "$WORK/read.out" "$WORK/read.err"
check "some reads succeeded" at_least 1000 "$(field ok "$WORK/read.out")"
check "and some failed" at_least 100 "$(field failed "$WORK/read.out")"
check "the daemon counted the same reads" same \
    "$(($(stat_field vdb reads) - reads_before)),$(stat_field vdb failed_reads)" \
    "$(field reads "$WORK/read.out"),$(field failed "$WORK/read.out")"

# ---- the checkers catch what they must ----
# A lost write: one of fio's blocks back to zeros in the backing file.
dd if=/dev/zero of="$WORK/fio.img" bs=4096 seek=12345 count=1 conv=notrunc status=none
check "fio's verify pass rejects a lost write" fails_with "bad magic header" \
    fio --verify_only --output=/dev/null "$WORK/soak.fio"

# Blocks that changed after the snapshot ("BLOCK FIRST_DIFFERING_BYTE"): put back 8 of
# their older contents.
cmp -l "$WORK/snapshot.img" "$WORK/soak.img" |
    awk '{ b = int(($1 - 1) / 4096)
           if (b != last) { print b, ($1 - 1) % 4096; last = b; if (++n == 8) exit } }' \
        >"$WORK/changed"
check "8 blocks changed after the snapshot" same "$(wc -l <"$WORK/changed")" 8
cp "$WORK/soak.img" "$WORK/stale.img"
while read -r b _; do
    dd if="$WORK/snapshot.img" of="$WORK/stale.img" bs=4096 skip="$b" seek="$b" count=1 \
        conv=notrunc status=none
done <"$WORK/changed"
check "soak_check rejects stale blocks" fails_with "older than its last acknowledged write" \
    soak_check verify "$WORK/stale.img" "$WORK/state"
# The half of a block where it first differs from the snapshot, taken from the snapshot:
# a torn write, half one generation and half another.
read -r b at <"$WORK/changed"
half=$((2 * b + at / 2048))
cp "$WORK/soak.img" "$WORK/torn.img"
dd if="$WORK/snapshot.img" of="$WORK/torn.img" bs=2048 skip=$half seek=$half count=1 \
    conv=notrunc status=none
check "soak_check rejects a torn block" fails_with "block $b: torn" \
    soak_check verify "$WORK/torn.img" "$WORK/state"

check "the daemon is healthy: it unmounts cleanly" unmount_faultfs
finish
