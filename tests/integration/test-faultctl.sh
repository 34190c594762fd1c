#!/bin/bash
# faultctl: every command, its JSON, and mistakes named before anything is sent.
. "$(dirname "$0")/lib.sh"

make_image a.img $((1 << 20))
make_image b.img $((1 << 20))
mount_faultfs --disk vda="$WORK/a.img"
fc() { "$FAULTCTL" "$@"; }

check "--help prints the usage" bash -c "'$FAULTCTL' --help | grep -q 'faultctl MOUNT/ID inject'"
check "--version prints the version" bash -c "'$FAULTCTL' --version | grep -qx 'faultctl [0-9.]*'"
check "no arguments is a usage error" fails_with "usage: faultctl" fc
check "an unknown command is named" fails_with "faultctl: unknown command 'frob'" fc "$MNT/vda" frob

check "inject eio_read" fc "$MNT/vda" inject eio_read
check "status shows it in a table" same "$(fc "$MNT/vda" status)" "$(printf 'RULE      MATCHED    FIRED\neio_read        0        0')"
check "and the guest path fails" fails_with "Input/output error" read_block vda
check "inject slow 20ms" fc "$MNT/vda" inject slow 20ms
check "status lists both, sorted, with what each rule matched and fired" same "$(fc "$MNT/vda" status)" \
    "$(printf 'RULE       MATCHED    FIRED\neio_read         1        1\nslow 20ms        0        0')"
check "status --json is JSON with the modes" bash -c "'$FAULTCTL' '$MNT/vda' status --json | grep -q '\"line\": \"slow 20ms\"'"
check "status --json carries the delay" bash -c "'$FAULTCTL' '$MNT/vda' status --json | grep -q '\"delay_ns\": 20000000'"
check "status --json carries the stats" bash -c "'$FAULTCTL' '$MNT/vda' status --json | grep -q '\"failed_reads\": 1'"
check "clear eio_read" fc "$MNT/vda" clear eio_read
check "leaves slow" same "$(fc "$MNT/vda" status | sed -n 2p)" "slow 20ms        0        0"
check "clear" fc "$MNT/vda" clear
check "leaves nothing" same "$(fc "$MNT/vda" status)" "(no faults)"

check "a bad mode is named before sending" fails_with "faultctl: inject: unknown mode 'eio_raed' (expected eio_read, eio_write, eio_flush, eio_discard, slow, corrupt_read, corrupt_write, drop_write, torn_write, bad_sectors, volatile)" fc "$MNT/vda" inject eio_raed
check "inject clear is not a mode (clear is its own command)" fails_with "faultctl: inject: unknown mode 'clear'" fc "$MNT/vda" inject clear
check "mount commands sent to a disk say where they go" fails_with "faultctl: $MNT/vda is a disk: attach, detach and list go to its mount" fc "$MNT/vda" attach x "$WORK/b.img"
check "fault commands sent to the mount say where they go" fails_with "faultctl: $MNT is a mount: faults go to one of its disks ($MNT/ID)" fc "$MNT" inject eio_read
check "a bad duration is named" fails_with "faultctl: slow: bad duration '5x': unknown unit (use ns, us, ms, s, m or h)" fc "$MNT/vda" inject slow 5x
check "clear of an unknown mode is named" fails_with "faultctl: clear: unknown mode 'fast'" fc "$MNT/vda" clear fast
check "inject without a mode is refused" fails_with "inject needs a MODE" fc "$MNT/vda" inject
check "a path that is not a disk is named" fails_with "faultctl: $WORK is not a faultfs disk (MOUNT/ID)" fc "$WORK" inject eio_read
check "nothing was applied by the mistakes" same "$(rules vda)" ""

check "attach" fc "$MNT" attach vdb "$WORK/b.img" size=512K
check "list shows both disks" bash -c "'$FAULTCTL' '$MNT' list | grep -q '^vdb  *524288  *-  *$WORK/b.img'"
check "list --json is the mount's JSON" same "$(fc "$MNT" list --json)" "$(cat "$MNT/ctl")"
(cd "$WORK" && "$FAULTCTL" "$MNT" attach vdc b.img)
check "attach takes a relative image path" grep -q "\"image\": \"$WORK/b.img\"" "$MNT/ctl"
check "a missing image is named" fails_with "faultctl: attach: image '$WORK/nope.img' does not exist (faultfs never creates images)" fc "$MNT" attach vdd "$WORK/nope.img"
check "a directory is named" fails_with "faultctl: attach: image '$WORK' is not a regular file" fc "$MNT" attach vdd "$WORK"
check "an image inside the mount is named" fails_with "is inside the faultfs mount $MNT" fc "$MNT" attach vdd "$MNT/vda/image"
check "a duplicate id is named" fails_with "faultctl: attach: disk 'vdb' is already attached" fc "$MNT" attach vdb "$WORK/b.img"
check "a bad id is named" fails_with "faultctl: attach: bad disk ID 'a/b'" fc "$MNT" attach a/b "$WORK/b.img"
check "an id with a blank is named as the id" \
    fails_with "faultctl: attach: bad disk ID 'my disk': only A-Z a-z 0-9 _ . - are allowed" fc "$MNT" attach "my disk" "$WORK/b.img"
check "list on a disk points to its mount" fails_with "faultctl: $MNT/vda is a disk: list goes to its mount" fc "$MNT/vda" list
check "a bad size is named" fails_with "faultctl: attach: bad size 'size=1Q'" fc "$MNT" attach vdd "$WORK/b.img" size=1Q
check "detach" fc "$MNT" detach vdb
check "detach of an unknown disk is named" fails_with "faultctl: detach: no disk 'vdb' is attached" fc "$MNT" detach vdb
check "the listing is right" same "$(ls "$MNT")" "$(printf 'ctl\nvda\nvdc')"
check "a path that is not a mount is named" fails_with "faultctl: $WORK is not a faultfs mount" fc "$WORK" list

# Rules with keys, as a ctl line writes them.
check "inject takes a rule's keys" fc "$MNT/vda" inject eio_read sectors=8-15 times=2 errno=ENOSPC
check "and the disk has that rule" same "$(rules vda)" "eio_read errno=ENOSPC sectors=8-15 times=2"
check "a bad key is named before sending" fails_with "faultctl: eio_read: bad count 'times=0': must be at least 1" \
    fc "$MNT/vda" inject eio_read times=0
check "clear takes the rule's line" fc "$MNT/vda" clear eio_read sectors=8-15 times=2
check "and removes just it" same "$(rules vda)" ""
check "inject slow with a range and directions" fc "$MNT/vda" inject slow 1ms..2ms write flush
check "(it is set)" same "$(rules vda)" "slow 1ms..2ms write flush"
fc "$MNT/vda" clear

# watch: a live view of every disk, one screen per interval.
( for _ in $(seq 40); do read_block vda 0; sleep 0.02; done ) &
reader=$!
out=$(fc "$MNT" watch --interval 0.4 --count 2)
wait "$reader"
check "watch prints a header per screen" same "$(grep -c '^DISK ' <<<"$out")" 2
check "and a line per disk" same "$(grep -c '^vd[ac] ' <<<"$out")" 4
check "with reads per second" awk '/^vda / && $2 > 0 { found = 1 } END { exit !found }' <<<"$out"
check "watch refuses a bad interval" fails_with "faultctl: watch: bad --interval 'x'" fc "$MNT" watch --interval x

# Data faults and the one-shot commands (SPEC 2b).
check "inject takes a data fault with its keys" fc "$MNT/vda" inject corrupt_read bits=4 sectors=0-7
check "  listed as ctl writes it" same "$(rules vda | grep corrupt)" "corrupt_read bits=4 sectors=0-7"
check "a data fault's bad key is named before sending" fails_with \
    "faultctl: drop_write: 'keep=2': keep= goes with torn_write" fc "$MNT/vda" inject drop_write keep=2
check "trace on" fc "$MNT/vda" trace on
check "mark TEXT, several words" fc "$MNT/vda" mark before the write
read_block vda 0
check "trace show prints the JSON lines" same "$(fc "$MNT/vda" trace show | jq -r '.mark // .op')" "before the write
read"
check "trace with a bad argument is named" fails_with "faultctl: trace: unknown argument 'sometimes'" \
    fc "$MNT/vda" trace sometimes
check "powercut" fc "$MNT/vda" powercut
check "powercut takes no argument" fails_with "faultctl: powercut: unexpected argument 'now'" fc "$MNT/vda" powercut now

finish
