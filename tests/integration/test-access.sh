#!/bin/bash
# Access: with -o allow_other other users see the mount, but the kernel checks the images'
# own owners and modes, and only the mounting user (or root) controls faults and disks.
. "$(dirname "$0")/lib.sh"
[ "$(id -u)" -eq 0 ] || skip "needs root to act as another user"
command -v setpriv >/dev/null || skip "setpriv is not installed (util-linux)"

# as_nobody COMMAND...: runs COMMAND as uid/gid 65534 with no groups.
as_nobody() {
    setpriv --reuid=65534 --regid=65534 --clear-groups "$@"
}

chmod 755 "$WORK"
head -c 65536 /dev/urandom >"$WORK/secret.img"
chmod 600 "$WORK/secret.img"
make_image public.img 65536 random
chmod 644 "$WORK/public.img"
sums=$(sha256sum "$WORK/secret.img" "$WORK/public.img")

mount_faultfs -o allow_other --disk vda="$WORK/secret.img" --disk vdb="$WORK/public.img"
check "allow_other brings default_permissions with it" \
    awk -v m="$MNT" '$2 == m && $4 ~ /default_permissions/ && $4 ~ /allow_other/ { f = 1 } END { exit !f }' /proc/mounts

check "another user lists the mount" same "$(as_nobody ls "$MNT" | tr '\n' ' ')" "ctl vda vdb "
check "and reads the disk list" as_nobody grep -q '"id": "vda"' "$MNT/ctl"
check "an image shows its backing file's owner and mode" same "$(stat -c '%u %a' "$MNT/vda/image")" "0 600"
check "another user cannot read a 0600 image" fails_with "Permission denied" as_nobody cat "$MNT/vda/image"
check "nor write it" fails_with "Permission denied" \
    as_nobody dd if=/dev/zero of="$MNT/vda/image" bs=512 count=1 conv=notrunc status=none
check "a 0644 image can be read" as_nobody cmp -s "$MNT/vdb/image" "$WORK/public.img"
check "but not written" fails_with "Permission denied" \
    as_nobody dd if=/dev/zero of="$MNT/vdb/image" bs=512 count=1 conv=notrunc status=none

check "another user cannot switch a fault" fails_with "Permission denied" as_nobody sh -c "echo eio_read > '$MNT/vdb/ctl'"
check "the fault table is untouched" same "$(rules vdb)" ""
check "nor attach /etc/shadow" fails_with "Permission denied" as_nobody sh -c "echo 'attach s /etc/shadow' > '$MNT/ctl'"
check "a missing file gives the same error: no oracle for hidden files" \
    fails_with "Permission denied" as_nobody sh -c "echo 'attach s /root/nope' > '$MNT/ctl'"
check "nor detach a disk" fails_with "Permission denied" as_nobody sh -c "echo 'detach vda' > '$MNT/ctl'"
check "the disks are as they were" same "$(ls "$MNT" | tr '\n' ' ')" "ctl vda vdb "
check "stats stay readable" as_nobody grep -q '"reads"' "$MNT/vdb/stats"

check "the mounting user switches faults" ctl vdb eio_read
check "and it shows" same "$(rules vdb)" "eio_read"
ctl vdb clear
check "no image changed" same "$(sha256sum "$WORK/secret.img" "$WORK/public.img")" "$sums"
unmount_faultfs

# Without allow_other the kernel keeps everyone but the mounting user out.
mount_faultfs --disk vdb="$WORK/public.img"
check "without allow_other another user cannot even look" fails_with "Permission denied" as_nobody ls "$MNT"

finish
