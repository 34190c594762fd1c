#!/bin/bash
# slow: every read and write first sleeps; slow + eio_read delays, then fails.
. "$(dirname "$0")/lib.sh"

make_image a.img $((1 << 20))
mount_faultfs --disk vda="$WORK/a.img"

echo slow >"$MNT/vda/ctl"
check "ctl shows the default delay" same "$(rules vda)" "slow 50ms"
timed read_block vda
check "a read takes at least 50 ms ($took ms)" at_least 50 "$took"
check "and succeeds" same "$last_status" 0
timed write_block vda
check "a write takes at least 50 ms ($took ms)" at_least 50 "$took"
timed dd if="$MNT/vda/image" of=/dev/null bs=4096 count=4 iflag=direct
check "each request sleeps: 4 reads take at least 200 ms ($took ms)" at_least 200 "$took"

echo "slow 200ms" >"$MNT/vda/ctl"
check "ctl shows the new delay" same "$(rules vda)" "slow 200ms"
timed read_block vda
check "slow 200ms: a read takes at least 200 ms ($took ms)" at_least 200 "$took"

echo eio_read >"$MNT/vda/ctl"
timed read_block vda
check "slow + eio_read: the read is delayed ($took ms)" at_least 200 "$took"
check "slow + eio_read: then fails" same "$last_status" 1
check "slow + eio_read: with Input/output error" fails_with "Input/output error" read_block vda

echo clear >"$MNT/vda/ctl"
timed read_block vda
check "after clear a read is fast again ($took ms)" at_most 180 "$took"

finish
