#!/bin/bash
# No path, race or bind mount gets an image inside the mount attached; with one thread (-s)
# a refused attach never deadlocks the daemon on itself.
. "$(dirname "$0")/lib.sh"
command -v perl >/dev/null || skip "perl is not installed"

make_image a.img $((1 << 20)) random
make_image real.img 65536
mount_faultfs -s --disk vda="$WORK/a.img"

# A bind mount of the mount (needs root): the path never names the mount, its device does.
if [ "$(id -u)" -eq 0 ]; then
    mkdir "$WORK/bind"
    mount --bind "$MNT" "$WORK/bind"
    EXTRA_MOUNTS+=("$WORK/bind")
    check "an image through a bind mount of the mount is refused" \
        fails_with "Invalid argument" timeout 5 bash -c "echo 'attach b $WORK/bind/vda/image' > '$MNT/ctl'"
    check "and the log says it is inside the mount" grep -q "image '$WORK/bind/vda/image' is inside the faultfs mount" "$WORK/faultfs.log"
    check "a symlink to the bind mount is refused too" \
        fails_with "Invalid argument" timeout 5 bash -c "ln -s '$WORK/bind/vda' '$WORK/to-bind' && echo 'attach b $WORK/to-bind/image' > '$MNT/ctl'"
    umount "$WORK/bind"
fi

# A directory swapped with a symlink into the mount while the attach walks the path
# (renameat2 RENAME_EXCHANGE in a loop). Each attach gets the real file or an error.
mkdir "$WORK/swap"
cp "$WORK/real.img" "$WORK/swap/image"
ln -s "$MNT/vda" "$WORK/link"
swapper() {
    # syscall 316 = renameat2 on x86_64, flag 2 = RENAME_EXCHANGE, -100 = AT_FDCWD
    exec perl -e 'my ($a, $b) = @ARGV; my $end = time + 30;
        while (time < $end) { syscall(316, -100, $a, -100, $b, 2) == 0 or die "renameat2: $!\n" }' \
        "$WORK/swap" "$WORK/link"
}
[ "$(uname -m)" = x86_64 ] || skip "the swapper uses x86_64's renameat2 syscall number"
swapper &
swapper_pid=$!
attached=0 refused=0 other=0
for i in $(seq 300); do
    out=$(timeout 5 bash -c "echo 'attach r$i $WORK/swap/image' > '$MNT/ctl'" 2>&1)
    case $? in
    0) attached=$((attached + 1)); echo "detach r$i" >"$MNT/ctl" ;;
    124) other=$((other + 1)); break ;; # the daemon no longer answers
    *) case $out in *"Invalid argument"* | *"No such file"* | *"Not a directory"*) refused=$((refused + 1)) ;; *) other=$((other + 1)); echo "  unexpected: $out" ;; esac ;;
    esac
done
kill "$swapper_pid"
wait "$swapper_pid" 2>/dev/null
echo "  300 attaches while swapping: $attached attached the real file, $refused refused, $other otherwise"
check "the daemon answered every attach, none hung" same "$other" 0
check "the race really ran: both outcomes happened" test "$attached" -gt 0 -a "$refused" -gt 0
check "the daemon still serves (-s)" read_block vda
check "no disk is left over" same "$(ls "$MNT" | tr '\n' ' ')" "ctl vda "
# An image inside the mount would pin it: fusermount3 -u would fail with EBUSY.
check "the mount unmounts cleanly" unmount_faultfs

finish
