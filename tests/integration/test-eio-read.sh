#!/bin/bash
# eio_read: the next read fails with EIO; clear restores it; ctl shows what is active.
. "$(dirname "$0")/lib.sh"

make_image a.img $((1 << 20)) random
mount_faultfs --disk vda="$WORK/a.img"

check "the image reads back the backing bytes" cmp "$MNT/vda/image" "$WORK/a.img"
check "ctl starts empty" same "$(rules vda)" ""
check "a read works before the fault" read_block vda

echo eio_read >"$MNT/vda/ctl"
check "cat ctl shows eio_read" same "$(rules vda)" "eio_read"
check "dd fails with Input/output error" fails_with "Input/output error" \
    dd if="$MNT/vda/image" of=/dev/null bs=4096 count=1
check "a buffered read fails too (no page cache in the way)" fails_with "Input/output error" \
    cat "$MNT/vda/image"
check "writes still work under eio_read" write_block vda 10

echo clear >"$MNT/vda/ctl"
check "clear empties ctl" same "$(rules vda)" ""
check "the read works again after clear" read_block vda
check "and the data is intact" cmp <(head -c 4096 "$MNT/vda/image") <(head -c 4096 "$WORK/a.img")

# A long-open descriptor sees the fault at its very next read.
exec 3<"$MNT/vda/image"
check "an open descriptor reads" dd of=/dev/null bs=512 count=1 status=none <&3
echo eio_read >"$MNT/vda/ctl"
check "the same descriptor fails at once" fails_with "Input/output error" dd of=/dev/null bs=512 count=1 <&3
echo "clear eio_read" >"$MNT/vda/ctl"
check "clear MODE clears that mode" dd of=/dev/null bs=512 count=1 status=none <&3
exec 3<&-

# Reading ctl round-trips: what it prints, written back, recreates the set.
printf 'slow 2ms\neio_read\n' >"$WORK/batch"
cat "$WORK/batch" >"$MNT/vda/ctl"
cat "$MNT/vda/ctl" >"$WORK/saved"
echo clear >"$MNT/vda/ctl"
cat "$WORK/saved" >"$MNT/vda/ctl"
check "ctl round-trips, sorted by name" same "$(rules vda)" "$(printf 'eio_read\nslow 2ms')"
check "re-activating an active mode is not an error" ctl vda eio_read
check "and leaves a single rule" same "$(rules vda)" "$(printf 'eio_read\nslow 2ms')"

finish
