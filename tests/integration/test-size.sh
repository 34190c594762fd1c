#!/bin/bash
# The size is the backing file's live size: reads past the end return 0 bytes, writes grow
# the file; a size= cap refuses writes past it.
. "$(dirname "$0")/lib.sh"

make_image a.img $((1 << 20)) random
mount_faultfs --disk vda="$WORK/a.img"

check "the image has the backing file's size" same "$(stat -c %s "$MNT/vda/image")" 1048576
check "a read at the end returns 0 bytes" same \
    "$(dd if="$MNT/vda/image" bs=4096 skip=256 count=1 iflag=direct status=none | wc -c)" 0
check "a read far past the end returns 0 bytes" same \
    "$(dd if="$MNT/vda/image" bs=4096 skip=100000 count=1 iflag=direct status=none | wc -c)" 0
check "a read across the end is cut at the end" same \
    "$(dd if="$MNT/vda/image" bs=512 skip=2047 count=4 status=none | wc -c)" 512
check "a write across the end grows the backing file" \
    dd if=/dev/zero of="$MNT/vda/image" bs=512 seek=2047 count=2 oflag=direct conv=notrunc status=none
check "the backing file grew by one sector" same "$(stat -c %s "$WORK/a.img")" $((1048576 + 512))
check "a write far past the end grows it there" \
    dd if=/dev/urandom of="$WORK/far" bs=4096 count=1 status=none
check "  (written)" dd if="$WORK/far" of="$MNT/vda/image" bs=4096 seek=1024 oflag=direct conv=notrunc status=none
check "the image shows the new size" same "$(stat -c %s "$MNT/vda/image")" $(((4 << 20) + 4096))
check "the bytes written past the old end read back" same \
    "$(dd if="$MNT/vda/image" bs=4096 skip=1024 count=1 iflag=direct status=none | md5sum)" "$(md5sum <"$WORK/far")"
check "the hole before them reads as zeros" same \
    "$(dd if="$MNT/vda/image" bs=4096 skip=1000 count=1 iflag=direct status=none | tr -d '\0' | wc -c)" 0
truncate -s 1M "$WORK/a.img"
check "a discard past the end does not grow the file" fallocate -p -o $((1 << 20)) -l 65536 "$MNT/vda/image"
check "the backing file did not grow" same "$(stat -c %s "$WORK/a.img")" 1048576
check "nor a write-zeroes with KEEP_SIZE" fallocate -z -n -o $((1 << 20)) -l 65536 "$MNT/vda/image"
check "  (still the same size)" same "$(stat -c %s "$WORK/a.img")" 1048576
check "a write-zeroes past the end grows the file, as for any file" \
    fallocate -z -o $((1 << 20)) -l 8192 "$MNT/vda/image"
check "  to its end" same "$(stat -c %s "$WORK/a.img")" $(((1 << 20) + 8192))
check "an allocation past the end grows it too" fallocate -o $(((1 << 20) + 8192)) -l 4096 "$MNT/vda/image"
check "  to its end" same "$(stat -c %s "$WORK/a.img")" $(((1 << 20) + 12288))
truncate -s 1M "$WORK/a.img"

make_image c.img $((1 << 20)) random
echo "attach vdc $WORK/c.img size=65536" >"$MNT/ctl"
check "a write at a size= cap fails" fails_with "No space left on device" \
    dd if=/dev/zero of="$MNT/vdc/image" bs=4096 seek=16 count=1 oflag=direct conv=notrunc
check "a write across a size= cap fails" fails_with "No space left on device" \
    dd if=/dev/zero of="$MNT/vdc/image" bs=512 seek=127 count=2 oflag=direct conv=notrunc
check "an allocation past a size= cap fails" fails_with "No space left on device" \
    fallocate -o 65536 -l 4096 "$MNT/vdc/image"
check "a write-zeroes past a size= cap fails" fails_with "No space left on device" \
    fallocate -z -o 61440 -l 8192 "$MNT/vdc/image"
check "the capped backing file did not change size" same "$(stat -c %s "$WORK/c.img")" 1048576

truncate -s 2M "$WORK/a.img"
check "the size follows the backing file as it grows" same "$(stat -c %s "$MNT/vda/image")" 2097152
check "the new space is readable" same \
    "$(dd if="$MNT/vda/image" bs=4096 skip=300 count=1 iflag=direct status=none | wc -c)" 4096
truncate -s 512K "$WORK/a.img"
check "and as it shrinks" same "$(stat -c %s "$MNT/vda/image")" 524288
check "an open descriptor sees the new end" same "$(wc -c <"$MNT/vda/image")" 524288

finish
