#!/bin/bash
# Requests parked by a slow fault hold no process or memory hostage: a killed requester
# is answered at once and its request dropped; clear and detach release what they park;
# parked write data is bounded; a detach waits for requests in flight without spinning.
. "$(dirname "$0")/lib.sh"

make_image a.img $((4 << 20)) random
make_image b.img $((1 << 20)) random
mount_faultfs --disk vda="$WORK/a.img"

# park_read DISK / park_write DISK: one 4 KiB O_DIRECT dd in the background, $parked its
# own pid (not a subshell's, so that a signal reaches dd itself). The caller sleeps a little.
park_read() {
    dd if="$MNT/$1/image" of=/dev/null bs=4096 count=1 iflag=direct status=none 2>"$WORK/parked.err" &
    parked=$!
}
park_write() {
    dd if=/dev/zero of="$MNT/$1/image" bs=4096 count=1 oflag=direct conv=notrunc status=none \
        2>"$WORK/parked.err" &
    parked=$!
}

# settle ACTION...: runs ACTION (a signal, a ctl write) on the parked dd, then waits for dd;
# $took is how long it took to end, $status its exit status.
settle() {
    local start
    start=$(now_ms)
    "$@"
    wait "$parked" 2>/dev/null
    status=$?
    took=$(($(now_ms) - start))
}

# ---- a killed requester ----
echo "slow 20s" >"$MNT/vda/ctl"
park_read vda
sleep 0.5
settle kill -KILL "$parked"
check "a SIGKILLed reader parked on 'slow 20s' is gone at once ($took ms)" at_most 2000 "$took"
check "its read counts as failed" same "$(stat_field vda failed_reads)" 1

sum=$(sha256sum <"$WORK/a.img")
park_write vda
sleep 0.5
settle kill -TERM "$parked"
check "a writer stopped by SIGTERM is gone at once ($took ms)" at_most 2000 "$took"
echo clear >"$MNT/vda/ctl"
sleep 0.3
check "and its parked write was dropped, not written later" same "$(sha256sum <"$WORK/a.img")" "$sum"

# ---- clear, shorter delays and detach release parked requests ----
echo "slow 12s" >"$MNT/vda/ctl"
park_read vda
sleep 0.5
settle ctl vda clear
check "clear releases a read parked on 'slow 12s' ($took ms)" at_most 2000 "$took"
check "and the read succeeds" same "$status" 0

echo "slow 12s" >"$MNT/vda/ctl"
park_read vda
sleep 0.5
settle ctl vda "slow 100ms"
check "a shorter delay releases it when the new one is up ($took ms)" at_most 2000 "$took"

echo "slow 12s" >"$MNT/vda/ctl"
park_read vda
sleep 0.5
echo eio_write >"$MNT/vda/ctl"
sleep 0.3
check "an unrelated change keeps it parked" kill -0 "$parked"
echo clear >"$MNT/vda/ctl"
wait "$parked"

echo "slow 12s" >"$MNT/vda/ctl"
park_read vda
sleep 0.5
settle ctl . "detach vda"
check "detach releases a parked read at once ($took ms)" at_most 2000 "$took"
check "which fails with ENXIO" same "$status $(grep -c 'No such device or address' "$WORK/parked.err")" "1 1"
check "and the daemon no longer holds the image open" \
    bash -c "! ls -l /proc/$FAULTFS_PID/fd | grep -q '$WORK/a.img'"

# ---- a detach waiting for a request in flight sleeps ----
# The image of disk 'nested' lives on a second faultfs mount whose disk is slow, so a read
# of it is in flight (inside pread) for 3 s, and its detach must wait that long.
mkdir "$WORK/inner"
env --default-signal=INT "$FAULTFS" -f --disk vdb="$WORK/b.img" "$WORK/inner" 2>"$WORK/inner.log" &
EXTRA_PIDS+=($!)
EXTRA_MOUNTS+=("$WORK/inner")
for _ in $(seq 100); do is_mounted "$WORK/inner" && break; sleep 0.05; done
echo "attach nested $WORK/inner/vdb/image" >"$MNT/ctl"
echo "slow 3s" >"$WORK/inner/vdb/ctl"
park_read nested
sleep 0.5
cpu_ticks() { awk '{ print $14 + $15 }' "/proc/$FAULTFS_PID/stat"; }
before=$(cpu_ticks)
start=$(now_ms)
echo "detach nested" >"$MNT/ctl"
took=$(($(now_ms) - start))
used=$(($(cpu_ticks) - before))
wait "$parked"
check "detach waited for the request in flight ($took ms)" at_least 1500 "$took"
check "without spinning: $used CPU ticks (1/100 s) in the daemon meanwhile" at_most 20 "$used"
fusermount3 -u "$WORK/inner"

# ---- parked write data is bounded ----
if command -v fio >/dev/null; then
    echo "attach vdc $WORK/a.img" >"$MNT/ctl"
    unmount_faultfs
    # An ASan build keeps freed memory in quarantine: keep it small so the peak shows ours
    # (other builds ignore the variable).
    export ASAN_OPTIONS="${ASAN_OPTIONS:+$ASAN_OPTIONS:}quarantine_size_mb=1"
    mount_faultfs -o max_parked=16M --disk vdc="$WORK/a.img"
    echo "slow 200ms" >"$MNT/vdc/ctl"
    fio --name=parked --filename="$MNT/vdc/image" --rw=randwrite --bs=1m --size=4m \
        --ioengine=libaio --iodepth=64 --numjobs=2 --direct=1 --time_based --runtime=2 \
        --output="$WORK/fio.out" >/dev/null 2>&1
    check "fio's 128 parked 1 MiB writes all completed" same "$?" 0
    peak=$(awk '/^VmHWM:/ { print int($2 / 1024) }' "/proc/$FAULTFS_PID/status")
    check "the daemon's peak memory stayed bounded: $peak MiB" at_most 100 "$peak"
    check "and the writes were really delayed" at_least 10 "$(stat_field vdc writes)"
fi

finish
