#!/bin/bash
# What libvirt's DAC driver does to an image, at the FUSE boundary: a chown or chmod to
# what the image already has succeeds (as root and as the image's owner), any real change
# is refused with EPERM and the backing file keeps its owner and mode; extended
# attributes (libvirt's trusted.libvirt.security.*) are not supported (ENOTSUP), which
# libvirt takes as "this filesystem cannot remember owners". ACLs of the backing file are
# not seen through the mount: the kernel checks the owner, group and mode faultfs shows.
. "$(dirname "$0")/lib.sh"
[ "$(id -u)" -eq 0 ] || skip "needs root to act as another user"
for tool in setpriv getfattr setfattr setfacl; do
    command -v "$tool" >/dev/null || skip "$tool is missing (apt-get install util-linux attr acl)"
done

as_nobody() { setpriv --reuid=65534 --regid=65534 --clear-groups "$@"; }

chmod 755 "$WORK"
make_image root.img 65536
chmod 644 "$WORK/root.img"
make_image nobody.img 65536
chown 65534:65534 "$WORK/nobody.img"
chmod 600 "$WORK/nobody.img"
owners() { stat -c '%u:%g %a' "$WORK/root.img" "$WORK/nobody.img" | tr '\n' ' '; }
before=$(owners)
mount_faultfs -o allow_other --disk vda="$WORK/root.img" --disk vdb="$WORK/nobody.img"
img=$MNT/vda/image
theirs=$MNT/vdb/image

# Root, as libvirtd is.
check "root: a chown to the owner the image has succeeds" chown 0:0 "$img"
check "as does a chown of the user alone, and of the group alone" \
    bash -c "chown 0 '$img' && chgrp 0 '$img'"
check "and a chmod to its mode" chmod 644 "$img"
check "a chown to another user is refused with EPERM" \
    fails_with "Operation not permitted" chown libvirt-qemu:libvirt-qemu "$img"
check "as is one that changes only the group" fails_with "Operation not permitted" chgrp 65534 "$img"
check "and a chmod to another mode" fails_with "Operation not permitted" chmod 600 "$img"
check "getxattr of libvirt's label is not supported" \
    fails_with "Operation not supported" getfattr -n trusted.libvirt.security.ref_dac "$img"
check "nor is setting it" \
    fails_with "Operation not supported" setfattr -n trusted.libvirt.security.dac -v +0:+0 "$img"
check "nor removing it" fails_with "Operation not supported" setfattr -x trusted.libvirt.security.dac "$img"
check "nor listing attributes" fails_with "Operation not supported" getfattr -d -m - "$img"
check "nor a user attribute, on a ctl file either" \
    fails_with "Operation not supported" setfattr -n user.x -v 1 "$MNT/vda/ctl"

# The image's owner, as QEMU is under libvirt.
check "its owner: a chown to itself succeeds" as_nobody chown 65534:65534 "$theirs"
check "and a chmod to its mode" as_nobody chmod 600 "$theirs"
check "a chmod to another mode is refused with EPERM" \
    fails_with "Operation not permitted" as_nobody chmod 644 "$theirs"
check "a chown to root is refused (by the kernel)" \
    fails_with "Operation not permitted" as_nobody chown 0 "$theirs"
check "nor may it chown an image it does not own" \
    fails_with "Operation not permitted" as_nobody chown 65534 "$img"
check "xattrs are not supported for it either" \
    fails_with "Operation not supported" as_nobody getfattr -n user.x "$theirs"
check "and it reads its image" as_nobody dd if="$theirs" of=/dev/null bs=4096 count=1 status=none

check "no backing file changed owner or mode" same "$(owners)" "$before"

# An ACL on the backing file does not let another user in: only the owner, group and mode show.
setfacl -m u:65534:rw "$WORK/root.img"
check "an ACL on the backing file is not seen through the mount" \
    fails_with "Permission denied" as_nobody dd if=/dev/zero of="$img" bs=512 count=1 conv=notrunc status=none
setfacl -b "$WORK/root.img"

check "faultfs unmounts and exits cleanly" unmount_faultfs

finish
