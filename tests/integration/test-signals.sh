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

# A killed daemon takes its mount with it (auto_unmount is the default)...
mount_faultfs --disk vda="$WORK/a.img"
kill -KILL "$FAULTFS_PID"
wait "$FAULTFS_PID" 2>/dev/null
FAULTFS_PID=
# The auto_unmount helper notices the death and unmounts: give it time on a busy (or ASan) host.
for _ in $(seq 200); do is_mounted "$MNT" || break; sleep 0.05; done
check "SIGKILL: no dead mount is left behind" bash -c "! awk '\$2 == \"$MNT\"' /proc/mounts | grep -q ."
check "SIGKILL: the mountpoint is a plain directory again" ls "$MNT"
# ...unless noauto_unmount asks to keep it.
mount_faultfs -o noauto_unmount --disk vda="$WORK/a.img"
kill -KILL "$FAULTFS_PID"
wait "$FAULTFS_PID" 2>/dev/null
sleep 0.3
check "noauto_unmount: the dead mount stays" is_mounted "$MNT"
umount -l "$MNT" 2>/dev/null || fusermount3 -uz "$MNT"
FAULTFS_PID=

finish
