# Shared helpers for the integration tests: a real faultfs mount, checked from a shell.
# Each test sources this, calls mount_faultfs, runs `check`s and ends with `finish`.
set -u

FAULTFS=${FAULTFS:-faultfs}
FAULTCTL=${FAULTCTL:-faultctl}
passed=0
failed=0

skip() {
    echo "SKIP: $*"
    exit 77
}

[ -c /dev/fuse ] || skip "/dev/fuse is missing"
command -v fusermount3 >/dev/null || skip "fusermount3 is not installed (apt-get install fuse3)"
if [ "${FAULTFS_TRANSPORT:-}" = uring ] &&
    [ "$(cat /sys/module/fuse/parameters/enable_uring 2>/dev/null)" != Y ]; then
    skip "FUSE over io_uring is off in this kernel (/sys/module/fuse/parameters/enable_uring" \
        "is not Y; tools/run-tests turns it on as root)"
fi

WORK=$(mktemp -d "${TMPDIR:-/tmp}/faultfs-test.XXXXXX")
MNT=$WORK/mnt
FAULTFS_PID=
EXTRA_MOUNTS=() # other mounts a test made (bind mounts, ...): lazily unmounted at exit
EXTRA_PIDS=()   # other daemons a test started: killed at exit
mkdir -p "$MNT"

cleanup() {
    if [ "$failed" -gt 0 ] && [ -s "$WORK/faultfs.log" ]; then
        echo "--- the daemon's log (last 40 lines):"
        tail -n 40 "$WORK/faultfs.log"
    fi
    local m
    for m in "${EXTRA_MOUNTS[@]}"; do
        umount -l "$m" 2>/dev/null
    done
    if [ -n "$FAULTFS_PID" ]; then
        fusermount3 -u "$MNT" 2>/dev/null || umount -l "$MNT" 2>/dev/null
        kill "$FAULTFS_PID" 2>/dev/null
        wait "$FAULTFS_PID" 2>/dev/null
    fi
    for m in "${EXTRA_PIDS[@]}"; do
        kill "$m" 2>/dev/null
        wait "$m" 2>/dev/null
    done
    rm -rf "$WORK"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# make_image NAME SIZE_BYTES [random]: a backing image in $WORK.
make_image() {
    if [ "${3:-}" = random ]; then
        head -c "$2" /dev/urandom >"$WORK/$1"
    else
        truncate -s "$2" "$WORK/$1"
    fi
}

is_mounted() {
    awk -v m="$1" '$2 == m && $3 ~ /^fuse/ { found = 1 } END { exit !found }' /proc/mounts
}

not_mounted() { ! is_mounted "$1"; }

# mount_faultfs [faultfs args...]: starts the daemon in the foreground, waits for the mount.
mount_faultfs() {
    # A background job starts with SIGINT ignored; give the daemon the default back,
    # as it has when run from a terminal.
    # FAULTFS_TRANSPORT (dev or uring) runs the suite on one transport (tests/CMakeLists.txt).
    if [ "${FAULTFS_TRANSPORT:-}" = uring ] && [[ " $* " == *" -s "* ]]; then
        skip "this test serves on one thread (-s), which only /dev/fuse does"
    fi
    env --default-signal=INT "$FAULTFS" -f ${FAULTFS_TRANSPORT:+-o transport="$FAULTFS_TRANSPORT"} \
        "$@" "$MNT" 2>"$WORK/faultfs.log" &
    FAULTFS_PID=$!
    for _ in $(seq 100); do
        is_mounted "$MNT" && break
        kill -0 "$FAULTFS_PID" 2>/dev/null || break
        sleep 0.05
    done
    if ! is_mounted "$MNT"; then
        echo "faultfs did not mount:"; cat "$WORK/faultfs.log"
        exit 1
    fi
    # The ring takes over once the kernel has taken FUSE_INIT: the test runs on it.
    [ "${FAULTFS_TRANSPORT:-}" = uring ] || return 0
    for _ in $(seq 100); do
        grep -q '"transport": "uring"' "$MNT/ctl" 2>/dev/null && return 0
        sleep 0.05
    done
    echo "faultfs did not move to FUSE over io_uring:"; cat "$WORK/faultfs.log"
    exit 1
}

unmount_faultfs() {
    fusermount3 -u "$MNT"
    wait "$FAULTFS_PID"
    local status=$?
    FAULTFS_PID=
    return $status
}

# check DESCRIPTION COMMAND...: one assertion.
check() {
    local what=$1
    shift
    if "$@"; then
        passed=$((passed + 1))
        echo "ok - $what"
    else
        failed=$((failed + 1))
        echo "not ok - $what"
    fi
}

# fails_with TEXT COMMAND...: COMMAND exits non-zero and its stderr contains TEXT.
fails_with() {
    local want=$1 err
    shift
    if err=$("$@" 2>&1 >/dev/null); then
        echo "  expected failure with '$want', but it succeeded"
        return 1
    fi
    case $err in
    *"$want"*) return 0 ;;
    esac
    echo "  expected '$want', got: $err"
    return 1
}

# same TEXT EXPECTED: string equality, showing both on mismatch.
same() {
    [ "$1" = "$2" ] && return 0
    printf '  got:      %q\n  expected: %q\n' "$1" "$2"
    return 1
}

# at_least MIN VALUE
at_least() {
    [ "$2" -ge "$1" ] && return 0
    echo "  $2 is less than $1"
    return 1
}

# at_most MAX VALUE
at_most() {
    [ "$2" -le "$1" ] && return 0
    echo "  $2 is more than $1"
    return 1
}

now_ms() {
    echo $(($(date +%s%N) / 1000000))
}

# timed COMMAND...: runs COMMAND quietly; sets $took (ms) and $last_status.
timed() {
    local start
    start=$(now_ms)
    "$@" >/dev/null 2>&1
    last_status=$?
    took=$(($(now_ms) - start))
}

# read_block DISK [BLOCK]: one 4 KiB O_DIRECT read of MNT/DISK/image.
read_block() {
    dd if="$MNT/$1/image" of=/dev/null bs=4096 count=1 skip="${2:-0}" iflag=direct status=none
}

write_block() {
    dd if=/dev/zero of="$MNT/$1/image" bs=4096 count=1 seek="${2:-0}" oflag=direct conv=notrunc status=none
}

rules() { # rules DISK: the rules MNT/DISK/ctl lists, without their "# matched=N fired=N"
    sed 's/  # .*$//' "$MNT/$1/ctl"
}

ctl() { # ctl DISK TEXT: one write of TEXT to MNT/DISK/ctl
    printf '%s\n' "$2" >"$MNT/$1/ctl"
}

stat_field() { # stat_field DISK FIELD: a number from MNT/DISK/stats
    sed -n "s/^  \"$2\": \([0-9]*\),\{0,1\}$/\1/p" "$MNT/$1/stats"
}

# descendants PID: every process below PID, one "pid comm" a line (only what a test started).
descendants() {
    local c
    for c in $(cat /proc/"$1"/task/*/children 2>/dev/null); do
        echo "$c $(cat /proc/"$c"/comm 2>/dev/null)"
        descendants "$c"
    done
}

finish() {
    echo "$passed passed, $failed failed"
    [ "$failed" -eq 0 ]
}
