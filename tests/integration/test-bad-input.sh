#!/bin/bash
# Bad input gets a precise errno and changes nothing: fault tables, images, other disks.
. "$(dirname "$0")/lib.sh"

make_image a.img $((1 << 20)) random
make_image b.img $((1 << 20)) random
mkdir "$WORK/dir"
mkfifo "$WORK/fifo"
mount_faultfs --disk vda="$WORK/a.img" --disk vdb="$WORK/b.img"
echo "slow 1ms" >"$MNT/vda/ctl"
sums=$(sha256sum "$WORK/a.img" "$WORK/b.img")

check "an unknown command fails with Invalid argument" fails_with "Invalid argument" ctl vda bogus
check "and the daemon logs the reason" grep -q "vda ctl: line 1, column 1: unknown command 'bogus'" "$WORK/faultfs.log"
check "a bad duration fails" fails_with "Invalid argument" ctl vda "slow 5x"
check "a duration without unit fails" fails_with "Invalid argument" ctl vda "slow 50"
check "an argument to eio_read fails" fails_with "Invalid argument" ctl vda "eio_read please"
check "clearing an unknown mode fails" fails_with "Invalid argument" ctl vda "clear fast"
check "attach in a disk's ctl fails" fails_with "Invalid argument" ctl vda "attach x /tmp/x"
check "the fault table is as it was" same "$(rules vda)" "slow 1ms"

# One write, several lines, one bad: nothing of it takes effect.
printf 'clear\neio_read\neio_write\nbogus\n' >"$WORK/batch"
check "a batch with one bad line fails" fails_with "Invalid argument" sh -c "cat '$WORK/batch' > '$MNT/vda/ctl'"
check "and changes nothing" same "$(rules vda)" "slow 1ms"
check "the log names line 4" grep -q "line 4, column 1: unknown command 'bogus'" "$WORK/faultfs.log"
printf 'clear\neio_read\n# a comment\n\neio_write   # both\n' >"$WORK/batch"
check "a good batch applies every line" sh -c "cat '$WORK/batch' > '$MNT/vda/ctl'"
check "in one go" same "$(rules vda)" "$(printf 'eio_read\neio_write')"
echo clear >"$MNT/vda/ctl"

# The mount's ctl.
list=$(cat "$MNT/ctl")
check "an unknown mount command fails" fails_with "Invalid argument" ctl . "mount vdc /x"
check "a bad disk id fails" fails_with "Invalid argument" ctl . "attach a/b $WORK/a.img"
check "a relative image path fails" fails_with "Invalid argument" ctl . "attach vdc a.img"
check "a missing image fails with ENOENT" fails_with "No such file or directory" ctl . "attach vdc $WORK/nope.img"
check "and is not created" test ! -e "$WORK/nope.img"
check "a directory is refused" fails_with "Is a directory" ctl . "attach vdc $WORK/dir"
check "a FIFO is refused at once" fails_with "Invalid argument" timeout 5 bash -c "echo 'attach vdc $WORK/fifo' > '$MNT/ctl'"
check "an image inside the mount is refused" fails_with "Invalid argument" ctl . "attach vdc $MNT/vda/image"
check "the id 'ctl' is reserved" fails_with "Invalid argument" ctl . "attach ctl $WORK/b.img"
check "and the log says why" grep -q "bad disk ID 'ctl': 'ctl' is reserved" "$WORK/faultfs.log"
cp "$WORK/b.img" "$WORK/$(printf 'bad\xff.img')"
check "an image path that is not UTF-8 is refused, not hidden" \
    fails_with "Invalid argument" ctl . "attach vdu $WORK/$(printf 'bad\xff.img')"
check "and the log names it escaped" grep -q "image path '$WORK/bad\\\\xff.img' is not valid UTF-8" "$WORK/faultfs.log"
check "a path with a control byte is refused" \
    fails_with "Invalid argument" ctl . "attach vdu $WORK/$(printf 'x\033[31m.img')"
check "and the log carries no raw control byte" bash -c "! grep -q \$'\\033' '$WORK/faultfs.log'"
check "a size past 2^63 bytes is refused" fails_with "Invalid argument" ctl . "attach vdu $WORK/b.img size=17179869183G"
check "and the log says it is too large" grep -q "bad size 'size=17179869183G': too large" "$WORK/faultfs.log"
check "a duplicate id fails with EEXIST" fails_with "File exists" ctl . "attach vda $WORK/b.img"
check "detaching an unknown disk fails with ENOENT" fails_with "No such file or directory" ctl . "detach vdz"
printf 'attach vdc %s\ndetach vdb\nattach vdd %s/nope.img\n' "$WORK/a.img" "$WORK" >"$WORK/batch"
check "a batch with one bad attach fails" fails_with "No such file or directory" sh -c "cat '$WORK/batch' > '$MNT/ctl'"
check "and attaches and detaches nothing" same "$(cat "$MNT/ctl")" "$list"
check "the mount's listing is unchanged" same "$(ls "$MNT")" "$(printf 'ctl\nvda\nvdb')"

# The files themselves.
check "stats is read-only" fails_with "Permission denied" sh -c "echo x > '$MNT/vda/stats'"
check "the image cannot be truncated" fails_with "Operation not permitted" truncate -s 0 "$MNT/vda/image"
check "nor grown" fails_with "Operation not permitted" truncate -s 2M "$MNT/vda/image"
check "no files can be created in the mount" fails_with "Operation not permitted" touch "$MNT/new"
check "nor directories" fails_with "Operation not permitted" mkdir "$MNT/newdir"
check "disks are not removed by rm" fails_with "Operation not permitted" rm -f "$MNT/vda/image"
check "nor renamed" fails_with "Operation not permitted" mv "$MNT/vda" "$MNT/vdx"
check "a missing disk is ENOENT" fails_with "No such file or directory" cat "$MNT/vdz/ctl"
check "the image is not a directory" fails_with "Not a directory" ls "$MNT/vda/image/x"
check "chmod of the image is refused" fails_with "Operation not permitted" chmod 600 "$MNT/vda/image"
check "a chown to the owner it has succeeds (libvirt does that)" \
    chown "$(stat -c %u:%g "$WORK/a.img")" "$MNT/vda/image"
check "as does a chmod to its mode" chmod "$(stat -c %a "$WORK/a.img")" "$MNT/vda/image"
check "a chown to another owner is refused" fails_with "Operation not permitted" chown 12345 "$MNT/vda/image"
check "the mount's directories carry the mount's time, not 1970" \
    test "$(stat -c %Y "$MNT")" -gt $(($(date +%s) - 3600))

check "no backing image changed" same "$(sha256sum "$WORK/a.img" "$WORK/b.img")" "$sums"
check "the other disk is untouched" same "$(rules vdb)" ""
check "the daemon is still serving" read_block vda

# With one thread (-s) no other thread could answer lookups the daemon sent its own
# mount: a symlink into the mount must be refused without following it there.
unmount_faultfs
mount_faultfs -s --disk vda="$WORK/a.img"
ln -s "$MNT/vda/image" "$WORK/link-into-mount.img"
check "-s: an image reached through a symlink into the mount is refused" \
    fails_with "Invalid argument" timeout 5 bash -c "echo 'attach vdc $WORK/link-into-mount.img' > '$MNT/ctl'"
check "-s: and the daemon still answers" read_block vda

finish
