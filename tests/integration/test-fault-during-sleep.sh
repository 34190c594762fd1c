#!/bin/bash
# A fault switched on while a slow request sleeps still fails that request.
. "$(dirname "$0")/lib.sh"

make_image a.img $((1 << 20)) random
mount_faultfs --disk vda="$WORK/a.img"
before=$(sha256sum <"$WORK/a.img")

echo "slow 1s" >"$MNT/vda/ctl"
read_block vda 2>"$WORK/read.err" &
reader=$!
dd if=/dev/zero of="$MNT/vda/image" bs=4096 count=1 seek=3 oflag=direct conv=notrunc \
    status=none 2>"$WORK/write.err" &
writer=$!
sleep 0.3
printf 'eio_read\neio_write\n' >"$WORK/faults"
cat "$WORK/faults" >"$MNT/vda/ctl"
wait $reader
check "the sleeping read failed" same "$?" 1
check "with Input/output error" grep -q "Input/output error" "$WORK/read.err"
wait $writer
check "the sleeping write failed" same "$?" 1
check "and wrote nothing (the check before the I/O caught it)" same "$(sha256sum <"$WORK/a.img")" "$before"

finish
