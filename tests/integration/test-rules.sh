#!/bin/bash
# Fault rules through the mount (SPEC 2a): sector ranges, times, errno, flush and discard
# modes, slow per direction, seeded probability, counts in ctl and stats, clear LINE.
. "$(dirname "$0")/lib.sh"

make_image a.img $((1 << 20)) random
mount_faultfs --disk vda="$WORK/a.img"

# A 4 KiB block is 8 sectors: block 1 is sectors 8-15.
ctl vda "eio_read sectors=8-15"
check "a range rule fails the block that overlaps it" fails_with "Input/output error" read_block vda 1
check "not the block before" read_block vda 0
check "nor the block after" read_block vda 2
check "a larger read that covers it fails" fails_with "Input/output error" \
    dd if="$MNT/vda/image" of=/dev/null bs=65536 count=1 iflag=direct status=none
check "ctl lists the rule with its counts" same "$(cat "$MNT/vda/ctl")" "eio_read sectors=8-15  # matched=2 fired=2"
check "stats has them too" grep -q '"rule": "eio_read sectors=8-15"' "$MNT/vda/stats"
ctl vda "clear eio_read sectors=8-15"
check "clear LINE removes that rule" same "$(rules vda)" ""

ctl vda "eio_read times=3"
results=
for i in 1 2 3 4 5; do read_block vda 0 2>/dev/null && results+=ok, || results+=EIO,; done
check "times=3 fails three reads, then lets them pass" same "$results" "EIO,EIO,EIO,ok,ok,"
check "and stays listed, spent" same "$(cat "$MNT/vda/ctl")" "eio_read times=3  # matched=5 fired=3"
ctl vda clear

ctl vda "eio_write errno=ENOSPC sectors=0-7"
check "errno= picks the error" fails_with "No space left on device" write_block vda 0
check "only in its range" write_block vda 1
ctl vda clear

ctl vda eio_flush
check "eio_flush fails an fsync" fails_with "Input/output error" \
    dd if=/dev/zero of="$MNT/vda/image" bs=512 count=1 conv=notrunc,fsync status=none
check "and an O_DSYNC write" fails_with "Input/output error" \
    dd if=/dev/zero of="$MNT/vda/image" bs=4096 count=1 oflag=dsync,direct conv=notrunc status=none
check "but not a plain write" write_block vda 0
check "failed flushes are counted" at_least 1 "$(stat_field vda failed_flushes)"
ctl vda clear

ctl vda "eio_discard"
check "eio_discard fails a punch-hole" fails_with "Input/output error" fallocate -p -o 0 -l 4096 "$MNT/vda/image"
check "and a zero-range" fails_with "Input/output error" fallocate -z -o 0 -l 4096 "$MNT/vda/image"
check "not a write" write_block vda 0
ctl vda clear

ctl vda "slow 300ms write"
timed read_block vda 0
check "slow ... write leaves reads fast ($took ms)" at_most 250 "$took"
timed write_block vda 0
check "and delays writes ($took ms)" at_least 300 "$took"
ctl vda clear

# The same seed gives the same sequence, request by request.
sequence() {
    local out=
    ctl vda "clear
eio_read prob=40% seed=11"
    for i in $(seq 30); do read_block vda 0 2>/dev/null && out+=. || out+=x; done
    echo "$out"
}
first=$(sequence)
second=$(sequence)
check "prob with a seed repeats its sequence ($first)" same "$second" "$first"
check "and fires some, not all" bash -c "[[ '$first' == *x* && '$first' == *.* ]]"
ctl vda clear

# Written back, the listing recreates the rules (the counts are comments).
ctl vda "eio_read sectors=0-7,64-127 prob=12.5% seed=3 after=2
slow 1ms..5ms read flush seed=4
slow mean=2ms p99=20ms write"
read_block vda 0
cat "$MNT/vda/ctl" >"$WORK/saved"
ctl vda clear
check "a saved listing writes back" sh -c "cat '$WORK/saved' > '$MNT/vda/ctl'"
check "to the same rules" same "$(rules vda)" "$(sed 's/  # .*$//' "$WORK/saved")"

# Mistakes name the key and change nothing.
check "a bad range is refused" fails_with "Invalid argument" ctl vda "eio_read sectors=9-3"
check "with its reason in the log" grep -q "bad sectors 'sectors=9-3': a range ends before it starts" "$WORK/faultfs.log"
check "an unknown errno is refused" fails_with "Invalid argument" ctl vda "eio_read errno=EFOO"
check "the rules are as they were" same "$(rules vda)" "$(sed 's/  # .*$//' "$WORK/saved")"

# The mount's ctl changes several disks in one batch: "ID: COMMAND", all or nothing.
make_image b.img 65536
ctl vda clear
ctl . "attach vdb $WORK/b.img"
ctl . "vda: eio_read
vdb: slow 1ms write"
check "ID: COMMAND sets each disk's rules" same "$(rules vda)/$(rules vdb)" "eio_read/slow 1ms write"
check "a batch with one bad line changes no disk" fails_with "Invalid argument" ctl . "vda: clear
vdb: eio_write times=0"
check "(vda keeps its rule)" same "$(rules vda)" "eio_read"
check "a command for an unknown disk fails" fails_with "No such file or directory" ctl . "vda: clear
vdz: eio_read"
check "(and changes nothing)" same "$(rules vda)" "eio_read"
check "a disk attached in the batch takes commands" ctl . "attach vdc $WORK/b.img
vdc: eio_write sectors=0-7
vda: clear"
check "(it does, and vda was cleared with it)" same "$(rules vdc)/$(rules vda)" "eio_write sectors=0-7/"
check "a disk's commands and its detach in one batch are refused" fails_with "Invalid argument" \
    ctl . "vdc: clear
detach vdc"
check "(with the reason, at the detach)" grep -q "line 2, column 1: detach: vdc's commands and its detach go in separate batches" "$WORK/faultfs.log"

finish
