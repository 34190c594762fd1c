#!/bin/bash
# A thousand attached disks: all listed, each served.
. "$(dirname "$0")/lib.sh"

make_image a.img $((1 << 20)) random
mount_faultfs
for i in $(seq 0 999); do echo "attach d$i $WORK/a.img"; done >"$WORK/batch"
check "1000 disks attach in one write" sh -c "cat '$WORK/batch' > '$MNT/ctl'"
check "all are listed" same "$(ls "$MNT" | wc -l)" 1001
check "the last one is served" cmp <(head -c 4096 "$MNT/d999/image") <(head -c 4096 "$WORK/a.img")
echo eio_read >"$MNT/d500/ctl"
check "a fault on one of them" fails_with "Input/output error" read_block d500
check "leaves the others alone" read_block d501
for i in $(seq 0 2 999); do echo "detach d$i"; done >"$WORK/batch"
check "half of them detach in one write" sh -c "cat '$WORK/batch' > '$MNT/ctl'"
check "501 entries remain" same "$(ls "$MNT" | wc -l)" 501

finish
