#!/bin/bash
# stats counts reads, writes, bytes, flushes, discards and faults fired.
. "$(dirname "$0")/lib.sh"

make_image a.img $((1 << 20))
mount_faultfs --disk vda="$WORK/a.img"

check "stats starts at zero" same "$(stat_field vda reads),$(stat_field vda writes),$(stat_field vda faults_fired)" "0,0,0"
dd if="$MNT/vda/image" of=/dev/null bs=4096 count=3 iflag=direct status=none
dd if=/dev/zero of="$MNT/vda/image" bs=8192 count=2 oflag=direct conv=notrunc status=none
check "3 reads counted" same "$(stat_field vda reads)" 3
check "12288 bytes read" same "$(stat_field vda read_bytes)" 12288
check "2 writes counted" same "$(stat_field vda writes)" 2
check "16384 bytes written" same "$(stat_field vda write_bytes)" 16384

echo eio_read >"$MNT/vda/ctl"
read_block vda 2>/dev/null
read_block vda 2>/dev/null
echo "slow 1ms" >"$MNT/vda/ctl"
write_block vda
check "2 injected EIOs and 1 delay fired" same "$(stat_field vda faults_fired)" 3
check "counted per mode" same "$(tr -d ' \n' <"$MNT/vda/stats" | grep -o '"fired":{[^}]*}')" \
    '"fired":{"bad_sectors":0,"corrupt_read":0,"corrupt_write":0,"drop_write":0,"eio_discard":0,"eio_flush":0,"eio_read":2,"eio_write":0,"slow":1,"torn_write":0,"volatile":0}'
check "failed reads counted" same "$(stat_field vda failed_reads)" 2
check "failed reads moved no bytes" same "$(stat_field vda read_bytes)" 12288
echo clear >"$MNT/vda/ctl"

dd if=/dev/zero of="$MNT/vda/image" bs=4096 count=1 conv=notrunc,fsync status=none
check "fsync reached the daemon as a flush" at_least 1 "$(stat_field vda flushes)"
fallocate -p -o 0 -l 8192 "$MNT/vda/image"
check "a discard is counted" same "$(stat_field vda discards)" 1
check "stats is valid JSON with the disk's id" grep -q '"id": "vda"' "$MNT/vda/stats"

finish
