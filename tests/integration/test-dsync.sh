#!/bin/bash
# Writes opened or issued O_DSYNC / O_SYNC / RWF_DSYNC are synced to the backing file before
# they are acknowledged (QEMU's cache=writethrough and directsync, FUA writes), and counted.
. "$(dirname "$0")/lib.sh"
command -v strace >/dev/null || skip "strace is not installed"

make_image a.img $((1 << 20))
mount_faultfs --disk vda="$WORK/a.img"
# strace the daemon's syscalls from here on: the sync must be a real one.
strace -f -qq -e trace=fsync,fdatasync,pwrite64 -o "$WORK/strace.log" -p "$FAULTFS_PID" &
strace_pid=$!
sleep 0.5

dd if=/dev/zero of="$MNT/vda/image" bs=4096 count=4 oflag=direct conv=notrunc status=none
check "plain writes are not synced" same "$(stat_field vda flushes)" 0
dd if=/dev/zero of="$MNT/vda/image" bs=4096 count=3 oflag=dsync,direct conv=notrunc status=none
check "each O_DSYNC write is synced" same "$(stat_field vda flushes)" 3
dd if=/dev/zero of="$MNT/vda/image" bs=4096 count=2 oflag=sync,direct conv=notrunc status=none
check "each O_SYNC write is synced" same "$(stat_field vda flushes)" 5
flushes=5
# pwritev2(fd, iov, 1, offset 0, RWF_DSYNC): syscall 328 on x86_64.
if [ "$(uname -m)" = x86_64 ] && command -v perl >/dev/null; then
    check "a pwritev2 with RWF_DSYNC succeeds" perl -e '
        open(my $f, "+<", $ARGV[0]) or die "$!"; my $buf = "d" x 4096;
        my $iov = pack("pQ", $buf, 4096);
        syscall(328, fileno($f), $iov, 1, 0, 0, 2) == 4096 or die "pwritev2: $!\n"' "$MNT/vda/image"
    flushes=6
    check "and is synced" same "$(stat_field vda flushes)" $flushes
    check "its bytes are in the image" same "$(head -c 4 "$WORK/a.img")" "dddd"
fi
dd if=/dev/zero of="$MNT/vda/image" bs=512 count=1 conv=notrunc,fsync status=none
check "an fsync counts as before" same "$(stat_field vda flushes)" $((flushes + 1))

kill "$strace_pid"
wait "$strace_pid" 2>/dev/null
syncs=$(grep -cE 'fdatasync|fsync' "$WORK/strace.log")
check "the daemon really called fsync/fdatasync ($syncs times)" at_least $((flushes + 1)) "$syncs"

# A synced write that fails its sync is not acknowledged: eio_write still fails it first.
echo eio_write >"$MNT/vda/ctl"
check "eio_write fails an O_DSYNC write" fails_with "Input/output error" \
    dd if=/dev/zero of="$MNT/vda/image" bs=4096 count=1 oflag=dsync,direct conv=notrunc status=none
echo clear >"$MNT/vda/ctl"

finish
