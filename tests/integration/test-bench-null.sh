#!/bin/bash
# The benchmark's ceiling, bench-null: serves MNT/image from memory (reads give back what
# was written) over either transport, and stops on SIGTERM.
. "$(dirname "$0")/lib.sh"
[ -x "${BENCH_NULL:-}" ] || skip "BENCH_NULL is not set (run through ctest)"

check "transport=uring with -s is refused" fails_with "no -s or readers=" \
    "$BENCH_NULL" -f -s -o transport=uring "$MNT"
check "a transport it does not know is named" fails_with "transport='tcp'" \
    "$BENCH_NULL" -f -o transport=tcp "$MNT"
check "a bad size is named" fails_with "size='12Q'" "$BENCH_NULL" -f -o size=12Q "$MNT"

# serve TRANSPORT: the checks below on a bench-null mount of that transport.
serve() {
    FAULTFS=$BENCH_NULL FAULTFS_TRANSPORT= mount_faultfs -o size=1M,transport="$1"
    if [ "$1" = uring ]; then
        for _ in $(seq 100); do
            grep -q "transport: FUSE over io_uring" "$WORK/faultfs.log" && break
            sleep 0.05
        done
        check "uring: the ring took over" grep -q "transport: FUSE over io_uring" "$WORK/faultfs.log"
    fi
    check "the file shows its size" same "$(stat -c %s "$MNT/image")" 1048576
    check "the root lists it" same "$(ls "$MNT")" image
    head -c 8192 /dev/urandom >"$WORK/data"
    check "a direct write succeeds" dd if="$WORK/data" of="$MNT/image" bs=4096 seek=3 \
        oflag=direct conv=notrunc status=none
    check "and reads back the same" cmp <(dd if="$MNT/image" bs=4096 skip=3 count=2 iflag=direct \
        status=none) "$WORK/data"
    check "a write past the end is refused" fails_with "No space left" dd if="$WORK/data" \
        of="$MNT/image" bs=4096 seek=256 count=1 oflag=direct conv=notrunc status=none
    # Several readers at once, through the request loop it shares with faultfs.
    readers=()
    for _ in 1 2 3 4; do
        dd if="$MNT/image" of=/dev/null bs=4096 count=256 iflag=direct status=none &
        readers+=($!)
    done
    ok=0
    for r in "${readers[@]}"; do wait "$r" && ok=$((ok + 1)); done
    check "four concurrent readers finish" same "$ok" 4

    kill -TERM "$FAULTFS_PID"
    wait "$FAULTFS_PID"
    check "SIGTERM: it exits with status 0" same "$?" 0
    FAULTFS_PID=
    check "and the mount is gone" not_mounted "$MNT"
}

serve dev
if [ "$(cat /sys/module/fuse/parameters/enable_uring 2>/dev/null)" = Y ]; then
    serve uring
else
    echo "# FUSE over io_uring is off in this kernel: the uring half is not run"
fi

finish
