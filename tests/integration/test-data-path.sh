#!/bin/bash
# The data path: O_DIRECT and buffered opens, fsync, discard and write-zeroes pass through.
. "$(dirname "$0")/lib.sh"

make_image a.img $((4 << 20)) random
mount_faultfs --disk vda="$WORK/a.img"

head -c 65536 /dev/urandom >"$WORK/chunk"
check "an O_DIRECT write lands in the backing file" \
    dd if="$WORK/chunk" of="$MNT/vda/image" bs=65536 seek=3 oflag=direct conv=notrunc status=none
check "at the right place" cmp <(dd if="$WORK/a.img" bs=65536 skip=3 count=1 status=none) "$WORK/chunk"
check "an O_DIRECT read returns it" cmp <(dd if="$MNT/vda/image" bs=65536 skip=3 count=1 iflag=direct status=none) "$WORK/chunk"
check "a 1 MiB O_DIRECT read matches the backing file" \
    cmp <(dd if="$MNT/vda/image" bs=1M count=2 iflag=direct status=none) <(head -c 2M "$WORK/a.img")
check "a buffered write is not absorbed by a cache" \
    dd if="$WORK/chunk" of="$MNT/vda/image" bs=4096 count=1 conv=notrunc status=none
check "it is in the backing file at once" cmp <(head -c 4096 "$WORK/a.img") <(head -c 4096 "$WORK/chunk")

# Discard (punch hole) and write-zeroes (zero range), as QEMU sends them.
blocks_before=$(stat -c %b "$WORK/a.img")
check "punch-hole passes through" fallocate -p -o 1048576 -l 1048576 "$MNT/vda/image"
check "the range reads back as zeros" same \
    "$(dd if="$MNT/vda/image" bs=1M skip=1 count=1 iflag=direct status=none | tr -d '\0' | wc -c)" 0
check "the backing file really has a hole" at_most $((blocks_before - 2000)) "$(stat -c %b "$WORK/a.img")"
check "zero-range passes through" fallocate -z -o 3145728 -l 65536 "$MNT/vda/image"
check "that range reads as zeros" same \
    "$(dd if="$WORK/a.img" bs=65536 skip=48 count=1 status=none | tr -d '\0' | wc -c)" 0
check "the size never changed" same "$(stat -c %s "$WORK/a.img")" 4194304
if command -v fio >/dev/null; then
    for engine in psync libaio io_uring; do
        check "fio $engine writes and verifies through the mount (O_DIRECT)" \
            fio --name=$engine --filename="$MNT/vda/image" --ioengine=$engine --direct=1 --rw=randwrite \
            --bs=4k --iodepth=16 --size=2m --offset=1m --verify=crc32c --do_verify=1 --output=/dev/null
    done
fi
check "fsync and fdatasync succeed" dd if=/dev/zero of="$MNT/vda/image" bs=4096 count=1 conv=notrunc,fsync,fdatasync status=none

finish
