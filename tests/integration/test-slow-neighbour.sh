#!/bin/bash
# A slow disk must not stall its neighbours, for synchronous and asynchronous I/O alike.
# The margins are wide on purpose: a stalled neighbour waits whole seconds, a free one
# finishes in milliseconds.
. "$(dirname "$0")/lib.sh"
command -v fio >/dev/null || skip "fio is not installed (apt-get install fio)"

make_image slow.img $((64 << 20))
make_image fast.img $((64 << 20))
mount_faultfs --disk slow="$WORK/slow.img" --disk fast="$WORK/fast.img"
echo "slow 2s" >"$MNT/slow/ctl"

# Synchronous: 24 readers park on the slow disk, more than the daemon has threads.
readers=()
for _ in $(seq 24); do
    dd if="$MNT/slow/image" of=/dev/null bs=4096 count=2 iflag=direct status=none &
    readers+=($!)
done
sleep 0.5
timed dd if="$MNT/fast/image" of=/dev/null bs=4096 count=200 iflag=direct
check "200 synchronous reads of the neighbour succeed" same "$last_status" 0
check "and are not held behind the slow disk ($took ms)" at_most 1500 "$took"
wait "${readers[@]}"

# Asynchronous: fio libaio at QD64 on the slow disk fills the kernel's background queue
# (12 requests by default) unless the daemon raised max_background.
fio --name=slow --filename="$MNT/slow/image" --ioengine=libaio --direct=1 --rw=randread \
    --bs=4k --iodepth=64 --time_based --runtime=6 --output="$WORK/slow.fio" &
slow_fio=$!
sleep 1
fio --name=fast --filename="$MNT/fast/image" --ioengine=libaio --direct=1 --rw=randread \
    --bs=4k --iodepth=8 --number_ios=400 --size=64m --output-format=json \
    --output="$WORK/fast.json" >/dev/null 2>&1 &
fast_fio=$!
start=$(now_ms)
wait $fast_fio
fast_status=$?
took=$(($(now_ms) - start))
check "fio libaio on the neighbour succeeds" same "$fast_status" 0
check "while QD64 waits on the slow disk, 400 async reads finish quickly ($took ms)" at_most 3000 "$took"
reads=$(grep -o '"total_ios" : [0-9]*' "$WORK/fast.json" | head -1 | grep -o '[0-9]*$')
check "all 400 reads were done ($reads)" same "$reads" 400
check "the slow disk was busy the whole time" kill -0 $slow_fio
wait $slow_fio
check "and its fio finished without error" same "$?" 0

finish
