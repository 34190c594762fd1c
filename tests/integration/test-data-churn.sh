#!/bin/bash
# Data faults under churn: writers and readers do O_DIRECT I/O while another process switches
# the volatile cache on and off, cuts the power (keeping a few blocks or none), marks, traces,
# drops writes and adds bad sectors that the writers mend. Every byte ever written is 'X', as
# is the image, so a read that succeeds returns only 'X' whatever the cache did; a request
# fails only with EIO (bad sectors) or ENOSPC (a full cache). Bounded in time
# (CHURN_SECONDS, default 10); under ThreadSanitizer it is the race hunt.
. "$(dirname "$0")/lib.sh"
command -v jq >/dev/null || skip "jq is not installed (apt-get install jq)"

seconds=${CHURN_SECONDS:-10}
blocks=256 # a 1 MiB disk of 4 KiB blocks
head -c $((blocks * 4096)) /dev/zero | tr '\0' X >"$WORK/a.img"
for n in 1 2 3 4; do head -c $((n * 4096)) /dev/zero | tr '\0' X >"$WORK/X$n"; done
mount_faultfs --disk vda="$WORK/a.img"
deadline=$((EPOCHSECONDS + seconds))

allowed() {
    case $1 in
    *"Input/output error"* | *"No space left on device"*) return 0 ;;
    esac
    return 1
}

writer() {
    while [ "$EPOCHSECONDS" -lt "$deadline" ]; do
        local b=$((RANDOM % blocks)) n=$((RANDOM % 4 + 1)) err
        [ $((b + n)) -gt $blocks ] && n=1
        if ! err=$(dd if="$WORK/X$n" of="$MNT/vda/image" bs=4096 seek="$b" oflag=direct \
            conv=notrunc,nocreat status=none 2>&1) && ! allowed "$err"; then
            echo "write $b+$n: $err" >>"$WORK/bad"
        fi
    done
}

reader() {
    while [ "$EPOCHSECONDS" -lt "$deadline" ]; do
        local b=$((RANDOM % (blocks - 4))) out err
        if out=$(dd if="$MNT/vda/image" bs=4096 skip="$b" count=4 iflag=direct status=none \
            2>"$WORK/read-err.$BASHPID" | tr -d X | wc -c); then
            [ "$out" -eq 0 ] || echo "read at block $b: $out bytes other than X" >>"$WORK/bad"
        fi
        err=$(cat "$WORK/read-err.$BASHPID")
        [ -z "$err" ] || allowed "$err" || echo "read $b: $err" >>"$WORK/bad"
    done
}

switcher() {
    local n=0
    while [ "$EPOCHSECONDS" -lt "$deadline" ]; do
        case $((RANDOM % 10)) in
        0) text="volatile limit=$(((RANDOM % 64 + 1) * 4))K" ;;
        1) text="clear volatile" ;;
        2) text="powercut keep=$((RANDOM % 8)) seed=$RANDOM" ;;
        3) text="powercut" ;;
        4) text=$(printf 'trace on\nmark m%d' $n) ;;
        5) text="trace off" ;;
        6) text="trace clear" ;;
        7) text="drop_write prob=30% seed=$RANDOM" ;;
        8) b=$((RANDOM % blocks)); text="bad_sectors sectors=$((b * 8))-$((b * 8 + 7))" ;;
        9) text="clear drop_write" ;;
        esac
        printf '%s\n' "$text" >"$MNT/vda/ctl" || echo "ctl '$text' refused" >>"$WORK/bad"
        [ $((n % 5)) = 0 ] && { jq -e . "$MNT/vda/trace" >/dev/null 2>&1 ||
            [ ! -s "$MNT/vda/trace" ] || echo "trace is not JSON lines" >>"$WORK/bad"; }
        [ $((n % 7)) = 0 ] && { jq -e .cache.bytes "$MNT/vda/stats" >/dev/null ||
            echo "stats is not JSON" >>"$WORK/bad"; }
        [ $((n % 11)) = 0 ] && dd if=/dev/null of="$MNT/vda/image" conv=notrunc,fsync status=none
        n=$((n + 1))
        sleep 0.0$((RANDOM % 3 + 1))
    done
    echo $n >"$WORK/switches"
}

pids=()
for _ in 1 2 3; do writer & pids+=($!); done
for _ in 1 2; do reader & pids+=($!); done
switcher & pids+=($!)
wait "${pids[@]}"

check "the daemon is alive" kill -0 "$FAULTFS_PID"
check "it switched many times" at_least 20 "$(cat "$WORK/switches")"
check "no read returned a byte never written, no request failed otherwise" same "$(head -5 "$WORK/bad" 2>/dev/null)" ""
ctl vda "clear"
check "once cleared, every block reads back as written" same \
    "$(dd if="$MNT/vda/image" bs=1M iflag=direct status=none | tr -d X | wc -c)" 0
check "and the image holds only what was written" same "$(tr -d X <"$WORK/a.img" | wc -c)" 0
check "the mount comes down cleanly" unmount_faultfs
finish
