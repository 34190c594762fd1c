#!/bin/bash
# A qcow2 image through the mount, with QEMU's own tools and no Lua: qemu-img info, check
# and convert read it; qemu-io's writes allocate clusters past the file's end and so grow
# the backing file; under eio_read QEMU cannot even read the header; a size= cap stops the
# growth with ENOSPC.
. "$(dirname "$0")/lib.sh"
command -v qemu-img >/dev/null || skip "qemu-img is not installed (apt-get install qemu-utils)"
command -v qemu-io >/dev/null || skip "qemu-io is not installed (apt-get install qemu-utils)"

size_of() { stat -c %s "$1"; }
quiet() { "$@" >/dev/null; }   # qemu-io reports each command on stdout...
loud() { "$@" >&2; }           # ...its failures too: for fails_with, which reads stderr
clean() { # clean IMAGE: qemu-img check finds nothing wrong
    local out
    out=$(qemu-img check "$1" 2>&1) && [[ $out == *"No errors were found on the image."* ]] && return 0
    echo "  $out"
    return 1
}

qemu-img create -q -f qcow2 "$WORK/a.qcow2" 64M
qemu-io -f qcow2 -c 'write -P 0x5a 0 64k' "$WORK/a.qcow2" >/dev/null
mount_faultfs --disk vda="$WORK/a.qcow2"
img=$MNT/vda/image

info=$(qemu-img info "$img" 2>&1)
check "qemu-img info reads the format" same "$(sed -n 's/^file format: //p' <<<"$info")" qcow2
check "qemu-img info reads the virtual size" same \
    "$(sed -n 's/^virtual size: .*(\([0-9]*\) bytes)$/\1/p' <<<"$info")" 67108864
check "qemu-img check finds it clean" clean "$img"
check "qemu-img convert copies the guest's view out of it" \
    qemu-img convert -f qcow2 -O raw "$img" "$WORK/a.raw"
check "  (the first cluster, 0x5a)" same "$(head -c 65536 "$WORK/a.raw" | tr -d '\132' | wc -c)" 0
check "  (and the virtual size)" same "$(size_of "$WORK/a.raw")" 67108864

before=$(size_of "$WORK/a.qcow2")
check "qemu-io writes 1 MiB into unallocated clusters through the mount" \
    quiet qemu-io -f qcow2 -c 'write -P 0x71 8M 1M' "$img"
after=$(size_of "$WORK/a.qcow2")
check "the backing file grew by the 16 clusters ($before -> $after)" at_least $((before + (1 << 20))) "$after"
check "the image shows the new size" same "$(size_of "$img")" "$after"
check "a partial cluster far out grows it again" quiet qemu-io -f qcow2 -c 'write -P 0x66 40M 4k' "$img"
check "  ($after -> $(size_of "$WORK/a.qcow2"))" at_least $((after + 4096)) "$(size_of "$WORK/a.qcow2")"
check "qemu-img check still finds it clean" clean "$img"
check "the data reads back through the mount" \
    quiet qemu-io -r -f qcow2 -c 'read -P 0x71 8M 1M' -c 'read -P 0x66 40M 4k' -c 'read -P 0x5a 0 64k' "$img"
check "  and the rest of the partial cluster as zeros" quiet qemu-io -r -f qcow2 -c 'read -P 0 40964k 60k' "$img"
check "and from the backing file itself" quiet qemu-io -r -f qcow2 -c 'read -P 0x71 8M 1M' "$WORK/a.qcow2"

ctl vda eio_read
check "under eio_read qemu-img cannot read the qcow2 header" \
    fails_with "Could not read qcow2 header: Input/output error" qemu-img info -f qcow2 "$img"
check "  nor probe the format" \
    fails_with "Could not read image for determining its format: Input/output error" qemu-img info "$img"
check "  and qemu-img check cannot open it" fails_with "Input/output error" qemu-img check "$img"
ctl vda clear
check "after clear it opens again" clean "$img"

ctl vda eio_write
check "under eio_write an allocating write fails" \
    fails_with "write failed: Input/output error" loud qemu-io -f qcow2 -c 'write -P 0x22 16M 64k' "$img"
ctl vda clear
check "  and leaves the image clean" clean "$img"

qemu-img create -q -f qcow2 "$WORK/c.qcow2" 64M
cap=$(size_of "$WORK/c.qcow2")
echo "attach vdc $WORK/c.qcow2 size=$cap" >"$MNT/ctl"
check "a size= cap refuses the growth" \
    fails_with "write failed: No space left on device" loud qemu-io -f qcow2 -c 'write -P 0x33 0 64k' "$MNT/vdc/image"
check "  and the capped file keeps its size" same "$(size_of "$WORK/c.qcow2")" "$cap"

check "the daemon exits 0 at unmount" unmount_faultfs
finish
