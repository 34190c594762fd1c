#!/bin/bash
# faultfs's command line: --help, --version, -o, and bad --disk options named precisely.
. "$(dirname "$0")/lib.sh"

make_image a.img $((1 << 20))
check "--help prints the usage" bash -c "'$FAULTFS' --help | grep -q 'usage: faultfs \[options\] \[--disk ID=IMAGE\[,size=BYTES\]\]... MOUNTPOINT'"
check "--help lists the FUSE options" bash -c "'$FAULTFS' --help | grep -q -- '-o allow_other'"
check "--version prints faultfs's version first, with its license" \
    bash -c "'$FAULTFS' --version | head -1 | grep -qx 'faultfs [0-9.]* (BSD-3-Clause)'"
check "--help is faultfs's own, not libfuse's generic text" bash -c "! '$FAULTFS' --help | grep -q clone_fd"
check "no mountpoint is an error" fails_with "no MOUNTPOINT given" "$FAULTFS" --disk vda="$WORK/a.img"
check "a missing mountpoint is named" fails_with "$WORK/nowhere': No such file or directory" "$FAULTFS" -f "$WORK/nowhere"
check "--disk without = is refused" fails_with "--disk 'vda': expected ID=IMAGE[,size=BYTES]" "$FAULTFS" -f --disk vda "$MNT"
check "--disk with a missing image is refused" fails_with "--disk 'vda=$WORK/nope.img': attach: image '$WORK/nope.img' does not exist (faultfs never creates images)" \
    "$FAULTFS" -f --disk vda="$WORK/nope.img" "$MNT"
check "an unknown transport is named" fails_with "-o transport='tcp': expected auto, uring or dev" \
    "$FAULTFS" -f -o transport=tcp "$MNT"
check "-s with transport=uring is refused" fails_with "-o transport=uring needs a thread per CPU" \
    "$FAULTFS" -f -s -o transport=uring "$MNT"
check "--disk with a bad id is refused" fails_with "attach: bad disk ID 'a/b'" "$FAULTFS" -f --disk a/b="$WORK/a.img" "$MNT"
check "--disk with a bad size is refused" fails_with "attach: bad size 'size=lots'" "$FAULTFS" -f --disk vda="$WORK/a.img",size=lots "$MNT"
check "--disk twice with one id is refused" fails_with "attach: disk 'vda' is already attached" \
    "$FAULTFS" -f --disk vda="$WORK/a.img" --disk vda="$WORK/a.img" "$MNT"
check "--disk inside the mountpoint is refused" fails_with "is inside the faultfs mount" \
    "$FAULTFS" -f --disk vda="$MNT/a.img" "$MNT"
check "an unknown -o option is refused" fails_with "unknown option" "$FAULTFS" -f -o frobnicate "$MNT"
check "nothing was mounted by the failures" bash -c "! awk '\$2 == \"$MNT\"' /proc/mounts | grep -q ."

daemon_cmd=("$FAULTFS" --disk vda=a.img,size=64K -o fsname=faultfs-test "$MNT")
(cd "$WORK" && "${daemon_cmd[@]}")
check "without -f it daemonizes and mounts" is_mounted "$MNT"
# A daemon is no child of ours: it is the process whose command line is exactly
# the one we ran, which names our own $MNT (another faultfs may run beside us).
daemon=
want=$(printf '%s\n' "${daemon_cmd[@]}")
for cmdline in /proc/[0-9]*/cmdline; do
    if [ "$(tr '\0' '\n' <"$cmdline" 2>/dev/null)" = "$want" ]; then
        daemon=${cmdline#/proc/}
        daemon=${daemon%/cmdline}
    fi
done
check "the daemon runs" test -n "$daemon"
check "a relative image path is taken from the current directory" grep -q "\"image\": \"$WORK/a.img\"" "$MNT/ctl"
check "size= applies" same "$(stat -c %s "$MNT/vda/image")" 65536
check "-o options reach the mount" grep -q "^faultfs-test $MNT " /proc/mounts
check "fusermount3 -u unmounts it" fusermount3 -u "$MNT"
daemon_gone() {
    [ -n "$daemon" ] || return 1
    for _ in $(seq 100); do
        kill -0 "$daemon" 2>/dev/null || return 0
        sleep 0.05
    done
    return 1
}
check "and the daemon then exits" daemon_gone

mount_faultfs -d --disk vda="$WORK/a.img"
cat "$MNT/vda/ctl" >/dev/null
check "-d prints FUSE debug output" grep -q "unique:" "$WORK/faultfs.log"

finish
