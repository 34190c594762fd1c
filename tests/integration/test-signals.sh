#!/bin/bash
# SIGINT, SIGTERM and fusermount3 -u all unmount cleanly and end the daemon with status 0.
. "$(dirname "$0")/lib.sh"

make_image a.img $((1 << 20))
for how in fusermount SIGTERM SIGINT; do
    mount_faultfs --disk vda="$WORK/a.img"
    echo "slow 300ms" >"$MNT/vda/ctl"
    read_block vda 2>/dev/null & # a request held by the slow fault while we stop
    reader=$!
    sleep 0.1
    case $how in
    fusermount) wait $reader; fusermount3 -u "$MNT" ;; # a busy mount cannot be unmounted
    SIGTERM) kill -TERM "$FAULTFS_PID" ;;
    SIGINT) kill -INT "$FAULTFS_PID" ;;
    esac
    wait "$FAULTFS_PID"
    status=$?
    wait $reader
    FAULTFS_PID=
    check "$how: the daemon exits with status 0" same "$status" 0
    check "$how: the mount is gone" bash -c "! awk '\$2 == \"$MNT\"' /proc/mounts | grep -q ."
done
check "the backing image is intact" same "$(stat -c %s "$WORK/a.img")" 1048576

finish
