#!/bin/bash
# Data faults through the mount (SPEC 2b): corrupt reads and writes, dropped and torn writes,
# bad sectors that heal when written, the volatile write cache and powercut, the I/O trace,
# and MOUNT/ID/stored, the image as stored.
. "$(dirname "$0")/lib.sh"

make_image a.img $((1 << 20)) random
cp "$WORK/a.img" "$WORK/orig.img"
mount_faultfs --disk vda="$WORK/a.img"

# bits_differ A B: how many bits differ between files A and B (same length).
bits_differ() {
    perl -e 'local $/; open my $a, "<", $ARGV[0] or die; open my $b, "<", $ARGV[1] or die;
             my $x = <$a> ^ <$b>; print unpack("%32b*", $x), "\n"' "$1" "$2"
}
# block FILE N [COUNT]: COUNT (default 1) 4 KiB blocks of FILE from block N, to stdout.
block() { dd if="$1" bs=4096 skip="$2" count="${3:-1}" status=none; }
# read_image DISK N COUNT OUT: an O_DIRECT read through the mount.
read_image() { dd if="$MNT/$1/image" of="$4" bs=4096 skip="$2" count="$3" iflag=direct status=none; }
fill() { head -c "$2" /dev/zero | tr '\0' "$1"; } # fill CHAR BYTES
write_image() { # write_image DISK FILE BLOCK: FILE written O_DIRECT at 4 KiB block BLOCK
    dd if="$2" of="$MNT/$1/image" bs=4096 seek="$3" oflag=direct conv=notrunc status=none
}
restore() { ctl vda clear; cp "$WORK/orig.img" "$WORK/a.img"; }
differ() { ! cmp -s "$1" "$2"; }

# ---- corrupt_read ----
ctl vda "corrupt_read bits=3 seed=5"
read_image vda 0 1 "$WORK/got"
block "$WORK/orig.img" 0 >"$WORK/want"
check "corrupt_read flips exactly bits=3 bits in what is returned" same "$(bits_differ "$WORK/got" "$WORK/want")" 3
check "the image is untouched" cmp -s "$WORK/a.img" "$WORK/orig.img"
check "ID/stored reads the bytes as stored" same \
    "$(dd if="$MNT/vda/stored" bs=4096 count=1 iflag=direct status=none | md5sum)" "$(md5sum <"$WORK/want")"
check "and is not counted as a fire" same "$(rules vda; sed -n 's/.*fired=//p' "$MNT/vda/ctl")" \
    "corrupt_read bits=3 seed=5
1"
ctl vda "clear"
ctl vda "corrupt_read bits=3 seed=5"
read_image vda 0 1 "$WORK/again"
check "the same seed corrupts the same bits" cmp -s "$WORK/got" "$WORK/again"
ctl vda "clear"
ctl vda "corrupt_read bits=3 seed=6"
read_image vda 0 1 "$WORK/other"
check "another seed, other bits" differ "$WORK/got" "$WORK/other"
ctl vda "clear"
ctl vda "corrupt_read bits=64 sectors=8-15"
read_image vda 0 4 "$WORK/got"
block "$WORK/orig.img" 0 4 >"$WORK/want"
check "with sectors=, only those sectors of a larger read change" same \
    "$(cmp -l "$WORK/got" "$WORK/want" | awk '$1 <= 4096 || $1 > 8192' | wc -l)" 0
check "  (and they do, all 64 bits)" same "$(bits_differ "$WORK/got" "$WORK/want")" 64
restore

# ---- corrupt_write ----
fill A 4096 >"$WORK/A"
ctl vda "corrupt_write bits=2 seed=1"
check "a corrupted write is acknowledged" write_image vda "$WORK/A" 3
check "and stores its bytes with bits=2 bits flipped" same \
    "$(block "$WORK/a.img" 3 >"$WORK/got"; bits_differ "$WORK/got" "$WORK/A")" 2
restore

# ---- drop_write ----
fill B 12288 >"$WORK/B"
ctl vda "drop_write"
check "a dropped write is acknowledged" write_image vda "$WORK/B" 0
check "and stores nothing" cmp -s "$WORK/a.img" "$WORK/orig.img"
ctl vda "clear"
ctl vda "drop_write sectors=8-15"
write_image vda "$WORK/B" 0
check "with sectors=, the write's other sectors are stored" same \
    "$(block "$WORK/a.img" 0 | md5sum) $(block "$WORK/a.img" 2 | md5sum)" \
    "$(fill B 4096 | md5sum) $(fill B 4096 | md5sum)"
check "  and those sectors are not" same "$(block "$WORK/a.img" 1 | md5sum)" "$(block "$WORK/orig.img" 1 | md5sum)"
ctl vda "clear"
ctl vda "drop_write prob=50% seed=3"
for i in $(seq 0 19); do write_image vda "$WORK/A" "$((10 + i))"; done
stored=0
for i in $(seq 0 19); do block "$WORK/a.img" "$((10 + i))" | cmp -s - "$WORK/A" && stored=$((stored + 1)); done
check "prob=50% drops some writes and stores the others" same "$((stored > 0 && stored < 20))" 1
check "  and ctl counts what it dropped" same "$(sed -n 's/.*fired=//p' "$MNT/vda/ctl")" "$((20 - stored))"
restore

# ---- torn_write ----
fill C 8192 >"$WORK/C"
# One write of 8 KiB (16 sectors): write_image would send two.
write_c() { dd if="$WORK/C" of="$MNT/vda/image" bs=8192 oflag=direct conv=notrunc status=none; }
ctl vda "torn_write keep=2"
check "a torn write is acknowledged" write_c
check "and stores only its first keep=2 sectors" same \
    "$(head -c 1024 "$WORK/a.img" | md5sum) $(tail -c +1025 "$WORK/a.img" | head -c 7168 | md5sum)" \
    "$(fill C 1024 | md5sum) $(tail -c +1025 "$WORK/orig.img" | head -c 7168 | md5sum)"
restore
ctl vda "torn_write"
write_c
check "by default, the first half of its sectors" same "$(cmp -l "$WORK/a.img" "$WORK/C" 2>/dev/null | awk '$1 <= 4096' | wc -l)" 0
check "  and not the second" same "$(block "$WORK/a.img" 1 | md5sum)" "$(block "$WORK/orig.img" 1 | md5sum)"
restore
ctl vda "torn_write keep=1 errno=EIO"
check "with errno=, the torn write fails" fails_with "Input/output error" write_c
check "  after storing its first sector" same "$(head -c 512 "$WORK/a.img" | md5sum)" "$(fill C 512 | md5sum)"
restore

# ---- bad_sectors ----
ctl vda "bad_sectors sectors=16-23"
check "a bad sector fails the read that covers it" fails_with "Input/output error" read_block vda 2
check "not its neighbours" read_block vda 1
fill D 512 >"$WORK/D"
dd if="$WORK/D" of="$MNT/vda/image" bs=512 seek=16 oflag=direct conv=notrunc status=none
check "a write mends the sectors it covers" same "$(rules vda)" "bad_sectors sectors=17-23"
check "  and the others stay bad" fails_with "Input/output error" read_block vda 2
dd if="$WORK/D" of="$MNT/vda/image" bs=512 seek=19 oflag=direct conv=notrunc status=none
check "a write in the middle splits the range" same "$(rules vda)" "bad_sectors sectors=17-18,20-23"
fill E 4096 >"$WORK/E"
write_image vda "$WORK/E" 2
check "once every sector is rewritten, the rule is gone" same "$(rules vda)" ""
check "  and the block reads again, with the new bytes" same \
    "$(dd if="$MNT/vda/image" bs=4096 skip=2 count=1 iflag=direct status=none | md5sum)" "$(md5sum <"$WORK/E")"
check "stats counts the mended sectors" same "$(stat_field vda healed_sectors)" 8
ctl vda "bad_sectors sectors=40-47 errno=ENODEV"
check "errno= names the error" fails_with "No such device" read_block vda 5
restore

# ---- volatile and powercut ----
ctl vda "volatile limit=64K"
check "ctl lists the cache with its limit" same "$(rules vda)" "volatile limit=64K"
write_image vda "$WORK/A" 0
check "a write goes to the cache: the image is untouched" cmp -s "$WORK/a.img" "$WORK/orig.img"
check "  and reads see it" same "$(dd if="$MNT/vda/image" bs=4096 count=1 iflag=direct status=none | md5sum)" "$(md5sum <"$WORK/A")"
check "  and ID/stored does not" same \
    "$(dd if="$MNT/vda/stored" bs=4096 count=1 iflag=direct status=none | md5sum)" "$(block "$WORK/orig.img" 0 | md5sum)"
check "stats reports what the cache holds" same "$(tr -d ' \n' <"$MNT/vda/stats" | grep -o '"cache":{[^}]*}')" \
    '"cache":{"limit":65536,"bytes":4096,"full":0,"powercuts":0,"lost_bytes":0}'
ctl vda "powercut"
check "powercut drops what was not flushed" same \
    "$(dd if="$MNT/vda/image" bs=4096 count=1 iflag=direct status=none | md5sum)" "$(block "$WORK/orig.img" 0 | md5sum)"
check "  and counts it" same "$(tr -d ' \n' <"$MNT/vda/stats" | grep -o '"cache":{[^}]*}')" \
    '"cache":{"limit":65536,"bytes":0,"full":0,"powercuts":1,"lost_bytes":4096}'
write_image vda "$WORK/A" 1
dd if=/dev/null of="$MNT/vda/image" oflag=sync conv=notrunc,fsync status=none
check "a flush commits the cache to the image" same "$(block "$WORK/a.img" 1 | md5sum)" "$(md5sum <"$WORK/A")"
ctl vda "powercut"
check "  and a later powercut keeps what was flushed" same "$(block "$WORK/a.img" 1 | md5sum)" "$(md5sum <"$WORK/A")"
dd if="$WORK/B" of="$MNT/vda/image" bs=4096 seek=4 oflag=direct,dsync conv=notrunc status=none
ctl vda "powercut"
check "an O_DSYNC write goes through to the image" same "$(block "$WORK/a.img" 4 3 | md5sum)" "$(md5sum <"$WORK/B")"
ctl vda "bad_sectors sectors=300-307 errno=ENODEV"
dd if="$WORK/D" of="$MNT/vda/image" bs=512 seek=300 oflag=direct conv=notrunc status=none
check "a cached write mends a bad sector" same "$(rules vda | grep bad)" "bad_sectors errno=ENODEV sectors=301-307"
ctl vda "powercut"
check "  which is bad again when a power cut loses the write" \
    fails_with "No such device" dd if="$MNT/vda/image" of=/dev/null bs=512 skip=300 count=1 iflag=direct status=none
dd if="$WORK/D" of="$MNT/vda/image" bs=512 seek=302 oflag=direct conv=notrunc status=none
dd if=/dev/null of="$MNT/vda/image" conv=notrunc,fsync status=none
ctl vda "powercut"
check "  but not once a flush stored it" dd if="$MNT/vda/image" of=/dev/null bs=512 skip=302 count=1 iflag=direct status=none
ctl vda "clear bad_sectors"
for b in 40 41 42 43 44 45; do write_image vda "$WORK/A" $b; done
ctl vda "powercut keep=2 seed=5"
kept() { for b in 40 41 42 43 44 45; do block "$WORK/a.img" $b | cmp -s - "$WORK/A" && printf '%s ' $b; done; }
first=$(kept)
check "powercut keep=2: two of the six cached blocks reached the image" same "$(wc -w <<<"$first")" 2
cp "$WORK/orig.img" "$WORK/a.img"
for b in 40 41 42 43 44 45; do write_image vda "$WORK/A" $b; done
ctl vda "powercut keep=2 seed=5"
check "  the same two, given the same seed" same "$(kept)" "$first"
cp "$WORK/orig.img" "$WORK/a.img"
head -c 131072 /dev/urandom >"$WORK/big"
check "a write past the cache's limit fails" fails_with "No space left on device" \
    dd if="$WORK/big" of="$MNT/vda/image" bs=131072 seek=1 oflag=direct conv=notrunc status=none
check "  stores nothing" same "$(dd if="$MNT/vda/image" bs=131072 skip=1 count=1 iflag=direct status=none | md5sum)" "$(block "$WORK/orig.img" 32 32 | md5sum)"
check "  and is counted" same "$(tr -d ' \n' <"$MNT/vda/stats" | grep -o '"full":[0-9]*')" '"full":1'
write_image vda "$WORK/E" 300
check "a cached write past the end shows in the size" same "$(stat -c %s "$MNT/vda/image")" $((301 * 4096))
check "  but the backing file has not grown" same "$(stat -c %s "$WORK/a.img")" $((1 << 20))
ctl vda "clear volatile"
check "clearing volatile writes the cache back" same "$(block "$WORK/a.img" 300 | md5sum)" "$(md5sum <"$WORK/E")"
check "  and then writes go to the image" write_image vda "$WORK/A" 6
check "  (stored at once)" same "$(block "$WORK/a.img" 6 | md5sum)" "$(md5sum <"$WORK/A")"
truncate -s 1M "$WORK/a.img"
restore

# ---- the trace ----
ctl vda "trace on"
ctl vda "mark before"
read_block vda 0
ctl vda "eio_read sectors=8-15"
read_block vda 1 2>/dev/null
ctl vda "mark after the fault"
write_block vda 2
check "every trace line is JSON" jq -e . "$MNT/vda/trace" >/dev/null
check "requests and marks, in order" same "$(jq -r 'if .mark then "mark " + .mark else .op + " " + (.sector|tostring) + "+" + (.count|tostring) + " " + .result end' "$MNT/vda/trace")" \
    "mark before
read 0+8 ok
read 8+8 EIO
mark after the fault
write 16+8 ok"
check "a failed request names the rule that fired" same \
    "$(jq -r 'select(.result == "EIO") | .rule + " " + (.rule_id|type)' "$MNT/vda/trace")" "eio_read number"
check "everything after a mark, by its seq" same \
    "$(jq -r --argjson m "$(jq 'select(.mark == "after the fault") | .seq' "$MNT/vda/trace")" 'select(.seq > $m) | .op' "$MNT/vda/trace")" write
ctl vda "trace off"
read_block vda 3
check "trace off stops recording and keeps the entries" same "$(wc -l <"$MNT/vda/trace")" 5
ctl vda "trace clear"
check "trace clear empties it" same "$(wc -l <"$MNT/vda/trace")" 0
check "trace is read-only" fails_with "Permission denied" sh -c "echo x > '$MNT/vda/trace'"
restore

# ---- the mount's ctl reaches them too ----
printf 'vda: volatile\nvda: trace on\nvda: mark from the mount\n' >"$MNT/ctl"
check "ID: COMMAND sets a data fault and runs one-shot commands" same "$(rules vda) $(jq -r .mark "$MNT/vda/trace")" \
    "volatile from the mount"
write_block vda 0
printf 'vda: powercut\n' >"$MNT/ctl"
check "  including powercut" cmp -s "$WORK/a.img" "$WORK/orig.img"
restore
ctl vda "trace off"

# ---- bad input names the mistake and changes nothing ----
ctl vda "drop_write sectors=0-7"
bad() { # bad LINE MESSAGE
    check "refused: $1" fails_with "Invalid argument" bash -c "printf '%s\n' '$1' > '$MNT/vda/ctl'"
    check "  names it: $2" grep -qF "$2" "$WORK/faultfs.log"
}
bad "corrupt_read bits=0" "corrupt_read: bad count 'bits=0': must be at least 1"
bad "corrupt_read keep=2" "corrupt_read: 'keep=2': keep= goes with torn_write"
bad "drop_write errno=EIO" "drop_write: 'errno=EIO': errno= goes with the eio_ modes, bad_sectors and torn_write"
bad "volatile limit=1K" "volatile: bad size 'limit=1K': must be from 4K to 64G"
bad "volatile sectors=0-7" "volatile: the cache is the whole disk's: it takes limit= only"
bad "bad_sectors" "bad_sectors: sectors=A-B[,C-D...] is required (the sectors that are bad)"
bad "torn_write 5ms" "torn_write: unexpected argument '5ms'"
bad "powercut now" "powercut: unexpected argument 'now' (expected keep=N, seed=N)"
bad "powercut keep=x" "powercut: bad count 'keep=x': expected a whole number"
bad "mark" "mark: missing TEXT"
bad "trace maybe" "trace: unknown argument 'maybe' (expected on, off or clear)"
check "the disk's rules are as they were" same "$(rules vda)" "drop_write sectors=0-7"

finish
