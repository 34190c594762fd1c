#!/bin/bash
# Faults on one disk leave the other disks untouched.
. "$(dirname "$0")/lib.sh"

make_image a.img $((1 << 20)) random
make_image b.img $((1 << 20)) random
mount_faultfs --disk vda="$WORK/a.img" --disk vdb="$WORK/b.img"

printf 'eio_read\neio_write\nslow 300ms\n' >"$WORK/all"
cat "$WORK/all" >"$MNT/vda/ctl"
check "vda fails reads" fails_with "Input/output error" read_block vda
check "vdb reads" read_block vdb
check "vdb writes" write_block vdb 1
timed read_block vdb
check "vdb is not slowed ($took ms)" at_most 250 "$took"
check "vdb's ctl stays empty" same "$(rules vdb)" ""
check "vdb's stats count no fault" same "$(stat_field vdb faults_fired)" 0
check "the whole of vdb reads back its image" cmp "$MNT/vdb/image" "$WORK/b.img"

finish
