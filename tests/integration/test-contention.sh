#!/bin/bash
# Under CPU contention (two busy loops beside fio, all three on the same two CPUs) the
# io_uring transport, whose rings are per CPU, must not starve a request behind a busy
# loop: fio psync 4 KiB randread QD1 on a uring mount and on a dev mount of the same kind,
# alternating, in the same run. Every run completes, no request takes 300 ms (a stall), and the median p99
# completion latency on uring is at most twice that on dev.
[ -d /dev/shm ] && export TMPDIR=/dev/shm # a tmpfs image: the figures are the transports'
. "$(dirname "$0")/lib.sh"
command -v fio >/dev/null || skip "fio is not installed (apt-get install fio)"
command -v jq >/dev/null || skip "jq is not installed (apt-get install jq)"
[ "$(cat /sys/module/fuse/parameters/enable_uring 2>/dev/null)" = Y ] ||
    skip "FUSE over io_uring is off in this kernel (/sys/module/fuse/parameters/enable_uring" \
        "is not Y; tools/run-tests turns it on as root)"

rounds=3
runtime=4           # seconds per fio run
stall_ns=300000000 # a request that takes this long has stalled: many scheduler slices
cpus=0,1            # fio and the busy loops share these, however many CPUs the machine has

# start_daemon TRANSPORT: faultfs -o transport=TRANSPORT on $WORK/TRANSPORT, serving
# its own image as vda; returns once its ctl says it runs on TRANSPORT.
start_daemon() {
    local t=$1
    make_image "$t.img" $((64 << 20)) random
    mkdir "$WORK/$t"
    env --default-signal=INT "$FAULTFS" -f -o transport="$t" --disk vda="$WORK/$t.img" \
        "$WORK/$t" 2>"$WORK/$t.log" &
    EXTRA_PIDS+=($!)
    EXTRA_MOUNTS+=("$WORK/$t")
    for _ in $(seq 100); do
        grep -q "\"transport\": \"$t\"" "$WORK/$t/ctl" 2>/dev/null && return 0
        sleep 0.05
    done
    echo "faultfs -o transport=$t did not mount and run on $t within 5 s:"
    cat "$WORK/$t.log"
    exit 1
}
start_daemon dev
start_daemon uring
# A first run pays for what the daemon sets up once (threads, buffers, the image's pages):
# not part of either transport's figures.
for t in dev uring; do
    fio --name=warm-up --filename="$WORK/$t/vda/image" --rw=randread --bs=4k --ioengine=psync \
        --direct=1 --time_based --runtime=1 --output=/dev/null >/dev/null 2>&1
done

# Started after the mounts, so the daemons' threads are made as on an idle machine.
for _ in 1 2; do
    taskset -c "$cpus" bash -c 'while :; do :; done' &
    EXTRA_PIDS+=($!)
done
busy=("${EXTRA_PIDS[@]: -2}")

# qd1 TRANSPORT ROUND: one fio run on that mount; prints "iops p50_ns p99_ns max_ns".
qd1() {
    local out=$WORK/$1.$2.json
    taskset -c "$cpus" fio --name="$1" --filename="$WORK/$1/vda/image" --rw=randread --bs=4k --ioengine=psync \
        --iodepth=1 --direct=1 --time_based --runtime="$runtime" --norandommap \
        --randrepeat=0 --output-format=json --output="$out" >/dev/null 2>&1 || return 1
    jq -r '.jobs[0].read | [.iops, .clat_ns.percentile["50.000000", "99.000000"], .clat_ns.max]
        | map(tostring) | join(" ")' "$out"
}

declare -A p99
printf '%-9s %5s %9s %10s %10s %12s\n' transport round IOPS "p50 us" "p99 us" "max us"
for round in $(seq "$rounds"); do
    # Alternate which transport goes first, so a drift of the machine favours neither.
    order="dev uring"
    [ $((round % 2)) = 0 ] && order="uring dev"
    for t in $order; do
        if ! figures=$(qd1 "$t" "$round"); then
            check "$t, round $round: fio completes" false
            continue
        fi
        read -r iops p50 p99_ns max <<<"$figures"
        awk -v t="$t" -v r="$round" -v i="$iops" -v a="$p50" -v b="$p99_ns" -v m="$max" \
            'BEGIN { printf "%-9s %5d %9.0f %10.1f %10.1f %12.1f\n", t, r, i, a / 1e3, b / 1e3, m / 1e3 }'
        check "$t, round $round: fio completes with IOPS > 0 ($iops)" \
            awk -v i="$iops" 'BEGIN { exit !(i > 0) }'
        check "$t, round $round: no request stalled (max $((max / 1000)) us < 300 ms)" \
            at_most $((stall_ns - 1)) "$max"
        p99[$t]+=" $p99_ns"
    done
done
alive=0
for p in "${busy[@]}"; do kill -0 "$p" 2>/dev/null && alive=$((alive + 1)); done
check "the two busy loops ran throughout" same "$alive" 2

# median NUMBERS...: the middle one (the lower middle of an even count).
median() { printf '%s\n' "$@" | sort -n | sed -n "$((($# + 1) / 2))p"; }
# shellcheck disable=SC2086 # the lists are of numbers, split on purpose
dev_p99=$(median ${p99[dev]:-0})
# shellcheck disable=SC2086
uring_p99=$(median ${p99[uring]:-0})
echo "median p99: dev $((dev_p99 / 1000)) us, uring $((uring_p99 / 1000)) us," \
    "uring/dev $(awk -v u="$uring_p99" -v d="$dev_p99" 'BEGIN { printf "%.2f", (d > 0 ? u / d : 0) }')"
check "uring's median p99 is within 2x of dev's" at_most $((2 * dev_p99)) "$uring_p99"

if [ "$failed" -gt 0 ]; then
    for t in dev uring; do
        echo "--- faultfs -o transport=$t's log (last 20 lines):"
        tail -n 20 "$WORK/$t.log"
    done
fi
finish
