#!/bin/bash
# Attach/detach churn while other processes do O_DIRECT I/O to the disks and flip their
# faults: the daemon survives, every request succeeds or fails with EIO, ENXIO or ENOENT,
# a read never returns bytes of another image, and the mount comes down cleanly.
# Bounded in time (CHURN_SECONDS, default 12); under ThreadSanitizer it is the race hunt.
. "$(dirname "$0")/lib.sh"
command -v fio >/dev/null || skip "fio is not installed (apt-get install fio)"
command -v jq >/dev/null || skip "jq is not installed (apt-get install jq)"

seconds=${CHURN_SECONDS:-12}
ndisks=4
image_size=$((4 << 20))
blocks=$((image_size / 4096))

# Disk dI is only ever image I, whose every byte is I+1 (and writers write the same), so a
# read that returns anything else crossed disks or saw a torn attach.
for i in $(seq 0 $((ndisks - 1))); do
    byte="\\$(printf '%03o' $((i + 1)))"
    head -c 4096 /dev/zero | tr '\0' "$byte" >"$WORK/block$i"
    head -c $image_size /dev/zero | tr '\0' "$byte" >"$WORK/d$i.img"
done
mount_faultfs
deadline=$((EPOCHSECONDS + seconds))

# A failure is fine if its message is one of these errnos; anything else is logged as bad.
allowed() {
    case $1 in
    *"Input/output error"* | *"No such device or address"* | *"No such file or directory"*) return 0 ;;
    esac
    return 1
}

# not_found REGEX FILE: no line of FILE matches; shows the first few that do.
not_found() {
    grep -E "$1" "$2" | head -5 | sed 's/^/  found: /' | grep -q . && return 1
    return 0
}

# churner: attach or detach a random disk (sometimes a detach + attach in one write),
# and keep the state it left in $WORK/attached.
churner() {
    local attached=() i text n=0
    for i in $(seq 0 $((ndisks - 1))); do attached[i]=0; done
    while [ "$EPOCHSECONDS" -lt "$deadline" ]; do
        i=$((RANDOM % ndisks))
        if [ "${attached[i]}" = 1 ] && [ $((RANDOM % 4)) = 0 ]; then
            text=$(printf 'detach d%d\nattach d%d %s' "$i" "$i" "$WORK/d$i.img")
        elif [ "${attached[i]}" = 1 ]; then
            text="detach d$i"
            attached[i]=0
        else
            text="attach d$i $WORK/d$i.img"
            attached[i]=1
        fi
        if ! err=$(printf '%s\n' "$text" 2>&1 >"$MNT/ctl"); then
            echo "churn '${text//$'\n'/; }': $err" >>"$WORK/bad"
        fi
        n=$((n + 1))
        sleep 0.0$((RANDOM % 5 + 1))
    done
    echo "$n" >"$WORK/churns"
    for i in $(seq 0 $((ndisks - 1))); do
        [ "${attached[i]}" = 1 ] && echo "d$i"
    done >"$WORK/attached"
}

# flipper: switch a random disk's faults with a shell's `>` (O_CREAT: a disk detached
# between the lookups of its directory and of ctl turns it into a create, which must fail
# with ENOENT); a disk detached under it is no error.
flipper() {
    local modes=(eio_read eio_write "slow 1ms" clear) i mode err
    while [ "$EPOCHSECONDS" -lt "$deadline" ]; do
        i=$((RANDOM % ndisks))
        mode=${modes[RANDOM % 4]}
        if err=$( { printf '%s\n' "$mode" >"$MNT/d$i/ctl"; } 2>&1); then
            echo ok >>"$WORK/flips"
        elif allowed "$err"; then
            echo failed >>"$WORK/flips"
        else
            echo "flip d$i '$mode': $err" >>"$WORK/bad"
        fi
        sleep 0.01
    done
}

# watcher: list the mount and read the ctl and stats files, which walk the registry and
# the fault tables while they change; what a read returns is well-formed.
watcher() {
    local i out="$WORK/watch.out" f err
    while [ "$EPOCHSECONDS" -lt "$deadline" ]; do
        i=$((RANDOM % ndisks))
        ls "$MNT" >/dev/null || echo "ls of the mount failed" >>"$WORK/bad"
        for f in ctl "d$i/stats" "d$i/ctl"; do
            if err=$(cat "$MNT/$f" 2>&1 >"$out"); then
                [ "$f" = "d$i/ctl" ] && continue # fault lines, not JSON
                jq -e . "$out" >/dev/null 2>&1 ||
                    echo "$f: not JSON: $(head -c 200 "$out")" >>"$WORK/bad"
            elif ! allowed "$err"; then
                echo "cat $f: $err" >>"$WORK/bad"
            fi
        done
        echo read >>"$WORK/watches"
    done
}

# dd_worker N: single 4 KiB O_DIRECT reads and writes of random disks and blocks.
dd_worker() {
    local out="$WORK/dd$1.out" i block err
    while [ "$EPOCHSECONDS" -lt "$deadline" ]; do
        i=$((RANDOM % ndisks))
        block=$((RANDOM % blocks))
        if [ $((RANDOM % 2)) = 0 ]; then
            if err=$(dd if="$MNT/d$i/image" of="$out" bs=4096 count=1 skip=$block \
                iflag=direct 2>&1); then
                if cmp -s "$out" "$WORK/block$i"; then
                    echo "read ok" >>"$WORK/ios"
                else
                    echo "read d$i block $block: $(wc -c <"$out") bytes, not image $i's" \
                        >>"$WORK/bad"
                fi
            elif allowed "$err"; then
                echo "read failed" >>"$WORK/ios"
            else
                echo "read d$i block $block: $err" >>"$WORK/bad"
            fi
        else
            if err=$(dd if="$WORK/block$i" of="$MNT/d$i/image" bs=4096 count=1 seek=$block \
                oflag=direct conv=notrunc 2>&1); then
                case $err in
                *"1+0 records out"*) echo "write ok" >>"$WORK/ios" ;;
                *) echo "write d$i block $block: short: $err" >>"$WORK/bad" ;;
                esac
            elif allowed "$err"; then
                echo "write failed" >>"$WORK/ios"
            else
                echo "write d$i block $block: $err" >>"$WORK/bad"
            fi
        fi
    done
}

# fio_worker: libaio at QD8, runs of 256 mixed reads and writes on a random disk.
# fio reports each job's errno as "err= N".
fio_worker() {
    local i out="$WORK/fio.out" errs e
    while [ "$EPOCHSECONDS" -lt "$deadline" ]; do
        i=$((RANDOM % ndisks))
        [ -e "$MNT/d$i/image" ] || { sleep 0.05; continue; }
        fio --name=churn --filename="$MNT/d$i/image" --allow_file_create=0 \
            --ioengine=libaio --direct=1 --rw=randrw --bs=4k --iodepth=8 --size=$image_size \
            --buffer_pattern=$((i + 1)) --number_ios=256 >"$out" 2>&1
        errs=$(grep -o 'err= *[0-9]*' "$out" | grep -o '[0-9]*$')
        if [ -z "$errs" ]; then
            # Detached between the test and fio's stat (ENOENT): fio then wants to create
            # the file, which allow_file_create=0 forbids, or its directory, which the
            # mount refuses (EPERM, as for any mkdir there).
            if grep -q -e 'file creation disallowed' -e 'failed to create dir' "$out"; then
                echo "fio failed" >>"$WORK/ios"
                continue
            fi
            echo "fio d$i: no result: $(head -c 300 "$out")" >>"$WORK/bad"
            continue
        fi
        for e in $errs; do
            case $e in
            0) echo "fio ok" >>"$WORK/ios" ;;
            2 | 5 | 6) echo "fio failed" >>"$WORK/ios" ;;
            *) echo "fio d$i: err=$e: $(grep 'err=' "$out" | head -2)" >>"$WORK/bad" ;;
            esac
        done
    done
}

touch "$WORK/bad" "$WORK/ios" "$WORK/flips" "$WORK/watches"
churner &
workers=($!)
flipper &
workers+=($!)
for n in 1 2; do
    dd_worker $n &
    workers+=($!)
done
fio_worker &
workers+=($!)
watcher &
workers+=($!)
wait "${workers[@]}"

echo "  $(cat "$WORK/churns") attach/detach writes; I/O:" \
    "$(sort "$WORK/ios" | uniq -c | tr -s ' \n' ' '); fault flips: $(wc -l <"$WORK/flips");" \
    "listings: $(wc -l <"$WORK/watches")"
check "the daemon survived the churn" kill -0 "$FAULTFS_PID"
check "every request succeeded or failed with EIO, ENXIO or ENOENT" same "$(head -5 "$WORK/bad")" ""
check "the disks were churned" at_least 20 "$(cat "$WORK/churns")"
check "reads got through" at_least 1 "$(grep -c 'read ok' "$WORK/ios")"
check "writes got through" at_least 1 "$(grep -c 'write ok' "$WORK/ios")"
check "the mount lists the disks the churn left" \
    same "$(ls "$MNT")" "$(printf 'ctl\n'; cat "$WORK/attached")"

# Afterwards every disk still works.
for i in $(seq 0 $((ndisks - 1))); do
    grep -qx "d$i" "$WORK/attached" || echo "attach d$i $WORK/d$i.img" >"$MNT/ctl"
    echo clear >"$MNT/d$i/ctl"
done
check "a cleared disk serves its image" cmp "$MNT/d3/image" "$WORK/d3.img"
check "the daemon's log reports no sanitizer error" \
    not_found 'Sanitizer|runtime error' "$WORK/faultfs.log"
check "unmount exits 0" unmount_faultfs
check "no stray mount is left" not_found " $WORK/" /proc/mounts

finish
