#!/bin/bash
# eio_write: writes (and discards) fail with EIO and leave the image bytes untouched.
. "$(dirname "$0")/lib.sh"

make_image a.img $((1 << 20)) random
mount_faultfs --disk vda="$WORK/a.img"
before=$(sha256sum <"$WORK/a.img")

echo eio_write >"$MNT/vda/ctl"
check "a direct write fails with Input/output error" fails_with "Input/output error" \
    dd if=/dev/zero of="$MNT/vda/image" bs=4096 count=4 oflag=direct conv=notrunc
check "a buffered write fails too" fails_with "Input/output error" \
    dd if=/dev/zero of="$MNT/vda/image" bs=512 count=1 conv=notrunc,fsync
check "a discard (punch hole) fails" fails_with "Input/output error" \
    fallocate -p -o 0 -l 65536 "$MNT/vda/image"
check "a write-zeroes (zero range) fails" fails_with "Input/output error" \
    fallocate -z -o 0 -l 65536 "$MNT/vda/image"
check "the image bytes are untouched" same "$(sha256sum <"$WORK/a.img")" "$before"
check "reads still work under eio_write" read_block vda

echo clear >"$MNT/vda/ctl"
check "after clear the write lands" write_block vda 0
check "and the bytes changed" same "$(head -c 4096 "$WORK/a.img" | tr -d '\0' | wc -c)" 0

finish
