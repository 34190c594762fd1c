#!/bin/bash
# Attach and detach at run time show at once; a detached disk's open descriptor fails cleanly.
. "$(dirname "$0")/lib.sh"

make_image a.img $((1 << 20)) random
make_image b.img $((2 << 20)) random
mount_faultfs
check "an empty mount lists no disks" same "$(ls "$MNT")" "ctl"
check "its ctl says so in JSON" same "$(jq -c .disks "$MNT/ctl")" '[]'
check "and names the transport" grep -Eq '"transport": "(dev|uring)"' "$MNT/ctl"

echo "attach vda $WORK/a.img" >"$MNT/ctl"
check "an attached disk shows at once" same "$(ls "$MNT")" "$(printf 'ctl\nvda')"
check "with image, ctl, stats, stored and trace" same "$(ls "$MNT/vda")" "$(printf 'ctl\nimage\nstats\nstored\ntrace')"
check "its image is the backing file" cmp "$MNT/vda/image" "$WORK/a.img"
check "it is listed in the mount's ctl" grep -q "\"image\": \"$WORK/a.img\"" "$MNT/ctl"

echo "attach vdb $WORK/b.img size=1M" >"$MNT/ctl"
check "size= limits the visible size" same "$(stat -c %s "$MNT/vdb/image")" 1048576
check "reads stop at the limit" same "$(wc -c <"$MNT/vdb/image")" 1048576

exec 3<"$MNT/vda/image"
echo "detach vda" >"$MNT/ctl"
check "a detached disk vanishes at once" same "$(ls "$MNT")" "$(printf 'ctl\nvdb')"
check "its path is gone" test ! -e "$MNT/vda/image"
sum=$(sha256sum <"$WORK/a.img")
check "an open descriptor of it fails reads" fails_with "No such device or address" dd bs=512 count=1 of=/dev/null <&3
exec 3<&-
check "the backing image is untouched" same "$(sha256sum <"$WORK/a.img")" "$sum"

# A write through a descriptor opened before the detach never reaches the old image.
echo "attach vda $WORK/a.img" >"$MNT/ctl"
check "the same id attaches again" test -e "$MNT/vda/image"
check "with a fresh fault table" same "$(rules vda)" ""
exec 5<>"$MNT/vda/image"
echo "detach vda" >"$MNT/ctl"
check "a write through a stale descriptor fails" fails_with "No such device or address" \
    bash -c 'dd if=/dev/zero bs=4096 count=1 conv=notrunc oflag=direct >&5' 
exec 5>&-
check "and the old image did not change" same "$(sha256sum <"$WORK/a.img")" "$sum"

# Detach and re-attach under one id in one write.
echo "attach vda $WORK/a.img" >"$MNT/ctl"
printf 'detach vda\nattach vda %s\n' "$WORK/b.img" >"$WORK/batch"
cat "$WORK/batch" >"$MNT/ctl"
check "detach + attach in one batch swaps the image" cmp <(head -c 4096 "$MNT/vda/image") <(head -c 4096 "$WORK/b.img")
check "the daemon survived all of it" kill -0 "$FAULTFS_PID"

finish
