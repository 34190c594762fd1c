#!/bin/bash
# faultfs implements no lock operations, so the kernel enforces image locks locally.
. "$(dirname "$0")/lib.sh"
command -v flock >/dev/null || skip "flock is not installed (util-linux)"

make_image a.img $((1 << 20))
mount_faultfs --disk vda="$WORK/a.img"

flock -x "$MNT/vda/image" sleep 3 &
holder=$!
sleep 0.5
check "a second exclusive lock on the image is refused" fails_with "" flock -n -x "$MNT/vda/image" true
check "a lock on another file is independent" flock -n -x "$MNT/ctl" true
wait $holder
check "once released, the lock can be taken" flock -n -x "$MNT/vda/image" true

finish
