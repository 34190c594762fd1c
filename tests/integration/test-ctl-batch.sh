#!/bin/bash
# A batch is everything written through one open ctl file, however a shell, stdio or the
# kernel cuts it into write() calls: each piece is checked as it comes (a mistake fails
# that write and voids the batch), and close() applies the whole batch or nothing.
. "$(dirname "$0")/lib.sh"
command -v perl >/dev/null || skip "perl is not installed"

make_image a.img 65536
mount_faultfs --disk vda="$WORK/a.img"

# comment N: a comment of N bytes (a line of N + 1 with its newline).
comment() {
    printf '#%*s' $(($1 - 1)) '' | tr ' ' c
}

# bash writes a multi-line printf one line per write().
check "bash's printf of a 3-line batch with a bad last line fails" fails_with "Invalid argument" \
    bash -c 'printf "clear\neio_read\nbogus\n" > "$1"' _ "$MNT/vda/ctl"
check "and leaves nothing active" same "$(rules vda)" ""
check "and the log names the line of the batch" grep -q "vda ctl: line 3, column 1: unknown command 'bogus'" "$WORK/faultfs.log"

# The issue's case: a text over 4 KiB with a bad last line.
text="eio_read
$(comment 4200)
bogus"
check "printf of a 4.2 KiB batch with a bad line fails" fails_with "Invalid argument" \
    bash -c 'printf "%s\n" "$1" > "$2"' _ "$text" "$MNT/vda/ctl"
check "and leaves nothing active" same "$(rules vda)" ""
echo "slow 1ms" >"$MNT/vda/ctl"
text="clear
$(comment 9000)
eio_read"
check "a 9 KiB batch that starts with 'clear' is applied whole" \
    bash -c 'printf "%s\n" "$1" > "$2"' _ "$text" "$MNT/vda/ctl"
check "(only eio_read is left)" same "$(rules vda)" "eio_read"
echo "clear
slow 1ms" >"$MNT/vda/ctl"
text="eio_write
$(comment 9000)
eio_read"
bash -c 'printf "%s\n" "$1" > "$2"' _ "$text" "$MNT/vda/ctl"
check "a good 9 KiB batch applies every line" same "$(rules vda)" "$(printf 'eio_read\neio_write\nslow 1ms')"
echo clear >"$MNT/vda/ctl"

# A line cut in two by the writer still parses as one.
check "a line written in two pieces is one line" perl -e '
    open(my $f, ">", $ARGV[0]) or die; syswrite($f, "eio_r") == 5 or die; syswrite($f, "ead\nslow 3ms\n") or die;
    close($f) or die "close: $!\n"' "$MNT/vda/ctl"
check "(it is)" same "$(rules vda)" "$(printf 'eio_read\nslow 3ms')"
echo clear >"$MNT/vda/ctl"

# Nothing takes effect before close(): the batch is applied whole.
check "commands wait for close()" perl -e '
    open(my $f, ">", $ARGV[0]) or die; syswrite($f, "eio_read\n") or die;
    open(my $r, "<", $ARGV[0]) or die; my $now = join "", <$r>;
    die "applied before close: $now\n" if $now ne ""; close($f) or die "close: $!\n"' "$MNT/vda/ctl"
check "and then take effect" same "$(rules vda)" "eio_read"
echo clear >"$MNT/vda/ctl"

# A writev() of 300 buffers arrives in several requests: still one batch.
writev() { # writev FILE LINE...: one writev() of the lines, each its own buffer
    perl -e 'my $file = shift; open(my $f, ">", $file) or die "$file: $!\n";
        my @bufs = map { "$_\n" } @ARGV; my $iov = join "", map { pack("pQ", $_, length $_) } @bufs;
        my $n = syscall(20, fileno($f), $iov, scalar @bufs);  # writev on x86_64
        die "writev: $!\n" if $n < 0; close($f) or die "close: $!\n"' "$@"
}
if [ "$(uname -m)" = x86_64 ]; then
    mapfile -t comments < <(for i in $(seq 298); do echo "# comment $i"; done)
    check "a writev of 300 lines with a bad last one fails" fails_with "Invalid argument" \
        writev "$MNT/vda/ctl" eio_read "${comments[@]}" bogus
    check "and applies none of it" same "$(rules vda)" ""
    check "a good writev of 300 lines succeeds" writev "$MNT/vda/ctl" eio_read "${comments[@]}" "slow 2ms"
    check "and applies all of it" same "$(rules vda)" "$(printf 'eio_read\nslow 2ms')"
    echo clear >"$MNT/vda/ctl"
fi

# The mount's ctl: attaches written line by line, one with a missing image.
check "line-by-line attaches with a missing image fail at that line" fails_with "No such file or directory" \
    bash -c '{ for i in 1 2 3; do echo "attach d$i $1/a.img"; done; echo "attach d4 $1/nope.img"; } > "$2"' _ "$WORK" "$MNT/ctl"
check "and attach none of them" same "$(ls "$MNT" | tr '\n' ' ')" "ctl vda "
bash -c '{ for i in 1 2 3; do echo "attach d$i $1/a.img"; done; } > "$2"' _ "$WORK" "$MNT/ctl"
check "good ones attach together" same "$(ls "$MNT" | tr '\n' ' ')" "ctl d1 d2 d3 vda "
check "an id attached twice in a batch is refused at its line" fails_with "File exists" \
    bash -c '{ echo "detach d1"; echo "attach d1 $1/a.img"; echo "attach d1 $1/a.img"; } > "$2"' _ "$WORK" "$MNT/ctl"
check "(nothing changed)" same "$(ls "$MNT" | tr '\n' ' ')" "ctl d1 d2 d3 vda "
echo "detach d1" >"$MNT/ctl"; echo "detach d2" >"$MNT/ctl"; echo "detach d3" >"$MNT/ctl"

# A refusal only close() can find (the image vanished after its line was checked).
cp "$WORK/a.img" "$WORK/vanishing.img"
check "a refusal found at close comes from close()" fails_with "close: No such file or directory" perl -e '
    open(my $f, ">", $ARGV[0]) or die; syswrite($f, "attach late $ARGV[1]\n") or die "write: $!\n";
    unlink $ARGV[1]; close($f) or die "close: $!\n"' "$MNT/ctl" "$WORK/vanishing.img"
check "and attaches nothing" same "$(ls "$MNT" | tr '\n' ' ')" "ctl vda "

# After a refused piece the open file's batch is void: later writes fail too.
check "a write after a refused one fails" fails_with "later write: Invalid argument" perl -e '
    open(my $f, ">", $ARGV[0]) or die; syswrite($f, "bogus\n") and die "bogus accepted\n";
    syswrite($f, "eio_read\n") or die "later write: $!\n"' "$MNT/vda/ctl"
check "and nothing is applied" same "$(rules vda)" ""

# The writer learns why: after a refusal, reading the same open file returns the reason.
reason=$(perl -e '
    open(my $f, "+<", $ARGV[0]) or die; syswrite($f, "eio_read\nslow 5x\n") and die "accepted\n";
    sysseek($f, 0, 0); sysread($f, my $why, 4096); print $why' "$MNT/vda/ctl")
check "a refused write leaves its reason to read on the same file" same "$reason" \
    "line 2, column 6: slow: bad duration '5x': unknown unit (use ns, us, ms, s, m or h)"
# fsync() applies the batch so far, as close() would, and reports a refusal only it finds.
check "fsync applies what was written" perl -MIO::Handle -e '
    open(my $f, "+<", $ARGV[0]) or die; syswrite($f, "eio_read\n") or die;
    $f->sync or die "fsync: $!\n"; open(my $r, "<", $ARGV[0]) or die; my $now = join "", <$r>;
    die "not applied by fsync: $now\n" if $now !~ /^eio_read  # /' "$MNT/vda/ctl"
echo clear >"$MNT/vda/ctl"
cp "$WORK/a.img" "$WORK/gone.img"
reason=$(perl -MIO::Handle -e '
    open(my $f, "+<", $ARGV[0]) or die; syswrite($f, "attach late $ARGV[1]\n") or die "write: $!\n";
    unlink $ARGV[1]; $f->sync and die "fsync accepted\n"; $! == 2 or die "fsync: $!\n";
    sysseek($f, 0, 0); sysread($f, my $why, 4096); print $why' "$MNT/ctl" "$WORK/gone.img")
check "a refusal at fsync leaves its reason too" same "$reason" \
    "line 1, column 1: attach: image '$WORK/gone.img' does not exist (faultfs never creates images)"

# A batch stops at 64 KiB.
head -c 70000 /dev/zero | tr '\0' '#' >"$WORK/huge"
check "a batch over 64 KiB fails" fails_with "File too large" sh -c "cat '$WORK/huge' > '$MNT/vda/ctl'"

# Simple writes are as before.
check "a bad command fails at its write()" fails_with "Invalid argument" ctl vda bogus
check "a command without a newline is applied" sh -c "printf eio_read > '$MNT/vda/ctl'"
check "(it is)" same "$(rules vda)" "eio_read"
echo clear >"$MNT/vda/ctl"

finish
