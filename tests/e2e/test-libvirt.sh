#!/bin/bash
# libvirt runs the guest, as the README's recipe says: faultfs mounted by root with
# -o allow_other, images owned by libvirt-qemu, a <disk type='file'> on MOUNT/ID/image.
# libvirt's DAC driver relabels the images at start and stop and QEMU runs as
# libvirt-qemu; a fault fails the guest's read (error_policy 'report'), shows in
# libvirt's io-error events, and pauses a disk with error_policy='stop', which
# `virsh domblkerror` reports.
#
# The test starts its own libvirtd (no systemd here, and a host's own libvirtd must not
# be touched) inside a private mount namespace whose /etc/libvirt, /run/libvirt,
# /var/{lib,log,cache}/libvirt are directories of $WORK, with its socket in $WORK;
# QEMU's output goes to a file (stdio_handler "file"), so no virtlogd is needed.
. "$(dirname "$0")/../integration/lib.sh"
[ "$(id -u)" -eq 0 ] || skip "libvirt's system daemon (QEMU as libvirt-qemu) needs root"
for tool in libvirtd virsh socat unshare jq qemu-system-x86_64; do
    command -v "$tool" >/dev/null ||
        skip "$tool is missing (tools/setup installs libvirt-daemon-system, socat, jq, qemu-system-x86)"
done
id libvirt-qemu >/dev/null 2>&1 || skip "no user libvirt-qemu (apt-get install libvirt-daemon-system)"

SOURCE_DIR=${SOURCE_DIR:-$(cd "$(dirname "$0")/../.." && pwd)}
BOOT_SECONDS=120 # or PROVIUM_BOOT_TIMEOUT, in seconds ("600s")
[[ ${PROVIUM_BOOT_TIMEOUT:-} =~ ^([0-9]+)s?$ ]] && BOOT_SECONDS=${BASH_REMATCH[1]}
LV=$WORK/libvirt
DOMAIN=faultfs-e2e
VIRSH=(virsh -q -c "qemu:///system?socket=$LV/sock/libvirt-sock")
LIBVIRTD_PID=
QEMU_PID=
SOCAT_PID= # the agent's connection (bash unsets AGENT_PID when the coproc ends)
chmod 755 "$WORK" # libvirt-qemu reaches the guest's files, its console and the mount

# Stops what this test started, in the order that leaves nothing behind: the domain,
# libvirtd (its namespace holds a copy of the faultfs mount), then lib.sh's cleanup.
libvirt_cleanup() {
    [ -n "$SOCAT_PID" ] && kill "$SOCAT_PID" 2>/dev/null
    if [ -n "$LIBVIRTD_PID" ]; then
        "${VIRSH[@]}" destroy "$DOMAIN" >/dev/null 2>&1
        kill "$LIBVIRTD_PID" 2>/dev/null
        wait "$LIBVIRTD_PID" 2>/dev/null
    fi
    [ -n "$QEMU_PID" ] && kill -9 "$QEMU_PID" 2>/dev/null
    if [ "$failed" -gt 0 ]; then
        echo "--- libvirtd's log (errors):"; grep -E ' (error|warning) ' "$LV/libvirtd.log" | tail -n 20
        echo "--- QEMU's log:"; tail -n 20 "$LV/log/qemu/$DOMAIN.log" 2>/dev/null
        echo "--- the guest's console:"; tail -n 20 "$WORK/console.log" 2>/dev/null
    fi
}
trap 'libvirt_cleanup; cleanup' EXIT

# The pebble guest: its kernel and initrd copied where libvirt-qemu may read them
# (libvirt relabels them too, and the shared cache is not ours to relabel).
guest=$("$SOURCE_DIR/tools/build-guest") || { echo "tools/build-guest failed"; exit 1; }
kernel=$(jq -r '.kernel_pvh // .kernel' "$guest/guest.json")
[ -r "$kernel" ] || kernel=$(jq -r .kernel "$guest/guest.json")
cmdline=$(jq -r .cmdline "$guest/guest.json")
cp "$kernel" "$WORK/kernel"
cp "$guest/initrd.img" "$WORK/initrd.img"

# The recipe: images belong to the user libvirt runs QEMU as; root mounts with allow_other.
make_image vda.img $((8 << 20))
printf 'sector zero, read through libvirt' | dd of="$WORK/vda.img" conv=notrunc status=none
make_image vdb.img $((8 << 20))
chown libvirt-qemu:libvirt-qemu "$WORK/vda.img" "$WORK/vdb.img"
chmod 600 "$WORK/vda.img" "$WORK/vdb.img"
# Before libvirtd: its namespace gets a copy of the mounts that exist when it starts.
mount_faultfs -o allow_other --disk vda="$WORK/vda.img" --disk vdb="$WORK/vdb.img"

# ---- a private libvirtd
mkdir -p "$LV"/{etc,run,lib,log,cache,sock} /run/libvirt
cat >"$LV/etc/libvirtd.conf" <<EOF
unix_sock_dir = "$LV/sock"
auth_unix_rw = "none"
auth_unix_ro = "none"
log_outputs = "3:file:$LV/libvirtd.log"
EOF
# Debian's defaults otherwise: user and group libvirt-qemu, dynamic_ownership = 1,
# remember_owner = 1. namespaces = []: the domain gets no private /dev, which would try
# to carry the /dev/kvm cover below along.
cat >"$LV/etc/qemu.conf" <<EOF
stdio_handler = "file"
namespaces = [ ]
EOF
# The domain is type 'qemu' (TCG). Where /dev/kvm is root's alone (0600), QEMU's probe
# finds KVM but libvirt-qemu could not use it, so libvirt calls its capability cache stale
# at every look and probes QEMU again (seconds each, a minute per virsh create); with
# /dev/kvm covered in the namespace, both agree there is no KVM.
: >"$LV/no-kvm"
unshare --mount --propagation private sh -c '
    lv=$1
    { [ ! -e /dev/kvm ] || mount --bind "$lv/no-kvm" /dev/kvm; } &&
    mount --bind "$lv/etc" /etc/libvirt && mount --bind "$lv/run" /run/libvirt &&
    mount --bind "$lv/lib" /var/lib/libvirt && mount --bind "$lv/log" /var/log/libvirt &&
    mount --bind "$lv/cache" /var/cache/libvirt &&
    exec libvirtd --timeout 600 --config "$lv/etc/libvirtd.conf" --pid-file "$lv/libvirtd.pid"' \
    sh "$LV" >"$LV/libvirtd.out" 2>&1 &
LIBVIRTD_PID=$!
for _ in $(seq 300); do
    "${VIRSH[@]}" version >/dev/null 2>&1 && break
    kill -0 "$LIBVIRTD_PID" 2>/dev/null || break
    sleep 0.1
done
if ! "${VIRSH[@]}" version >/dev/null 2>&1; then
    echo "libvirtd did not come up:"; cat "$LV/libvirtd.out"; tail -n 20 "$LV/libvirtd.log"
    exit 1
fi

# ---- the domain: the recipe's <disk> elements, the guest's agent on a unix socket
cat >"$WORK/domain.xml" <<EOF
<domain type='qemu'>
  <name>$DOMAIN</name>
  <memory unit='MiB'>256</memory>
  <vcpu>1</vcpu>
  <os>
    <type arch='x86_64' machine='pc'>hvm</type>
    <kernel>$WORK/kernel</kernel>
    <initrd>$WORK/initrd.img</initrd>
    <cmdline>$cmdline</cmdline>
  </os>
  <on_poweroff>destroy</on_poweroff>
  <on_reboot>destroy</on_reboot>
  <on_crash>destroy</on_crash>
  <devices>
    <disk type='file' device='disk'>
      <driver name='qemu' type='raw' cache='none'/>
      <source file='$MNT/vda/image'/>
      <target dev='vda' bus='virtio'/>
    </disk>
    <disk type='file' device='disk'>
      <driver name='qemu' type='raw' cache='none' error_policy='stop'/>
      <source file='$MNT/vdb/image'/>
      <target dev='vdb' bus='virtio'/>
    </disk>
    <serial type='file'>
      <source path='$WORK/console.log'/>
      <target port='0'/>
    </serial>
    <channel type='unix'>
      <source mode='bind' path='$WORK/agent.sock'/>
      <target type='virtio' name='org.faultfs.agent'/>
    </channel>
    <memballoon model='none'/>
  </devices>
</domain>
EOF
check "virsh create starts the transient domain on the mount's images" "${VIRSH[@]}" create "$WORK/domain.xml"
QEMU_PID=$(cat "$LV/run/qemu/$DOMAIN.pid" 2>/dev/null)
# The README's watch on the domain's failed requests.
"${VIRSH[@]}" event --domain "$DOMAIN" --event io-error --loop >"$WORK/events" 2>&1 &
EXTRA_PIDS+=($!)
check "QEMU runs as libvirt-qemu" same "$(ps -o user= -p "${QEMU_PID:-0}")" "libvirt-qemu"
check "libvirt's relabel left the images as they were" \
    same "$(stat -c '%U:%G %a' "$WORK/vda.img" "$WORK/vdb.img" | tr '\n' ' ')" \
    "libvirt-qemu:libvirt-qemu 600 libvirt-qemu:libvirt-qemu 600 "

booted=false
for _ in $(seq $((BOOT_SECONDS * 10))); do
    grep -q PEBBLE-READY "$WORK/console.log" 2>/dev/null && booted=true && break
    sleep 0.1
done
check "the guest boots (PEBBLE-READY on its console)" $booted
$booted || exit 1

# ---- the guest agent (vm/agent_protocol.h): one line per message, payloads in base64
coproc AGENT { exec socat - "UNIX-CONNECT:$WORK/agent.sock"; }
SOCAT_PID=$AGENT_PID
read -r -t 30 hello <&"${AGENT[0]}"
check "the guest agent greets" same "${hello% *}" "hello pebble"

unb64() { [ "$1" = - ] || printf %s "$1" | base64 -d; }
guest_start() { # guest_start ID COMMAND
    printf 'run %s %s\n' "$1" "$(printf %s "$2" | base64 -w0)" >&"${AGENT[1]}"
}
guest_wait() { # guest_wait ID: sets $gstatus $gout $gerr
    local word id status out err
    gstatus=timeout gout= gerr=
    read -r -t 60 word id status out err <&"${AGENT[0]}" || return 0
    [ "$word $id" = "exit $1" ] || { gerr="unexpected: $word $id $status"; return 0; }
    gstatus=$status
    gout=$(unb64 "$out" | tr -d '\0')
    gerr=$(unb64 "$err")
}
eventually() { # eventually COMMAND...: COMMAND succeeds within 10 s (virsh prints events as they come)
    local _
    for _ in $(seq 100); do
        "$@" && return 0
        sleep 0.1
    done
    return 1
}
n=0
guest_run() { # guest_run COMMAND
    n=$((n + 1))
    guest_start "$n" "$1"
    guest_wait "$n"
}

# ---- vda, error_policy 'report' (the default): the guest's read fails
guest_run "odio read /dev/vda 0 512"
check "the guest reads vda through libvirt's QEMU" same "$gstatus ${gout:0:33}" "0 sector zero, read through libvirt"
ctl vda eio_read
guest_run "odio read /dev/vda 0 512"
check "with eio_read the guest's read fails with an I/O error" \
    same "$gstatus $gerr" "1 odio: read /dev/vda at 0: Input/output error"
check "libvirt emits io-error for the disk" \
    eventually grep -q "event 'io-error' for domain '$DOMAIN': $MNT/vda/image (virtio-disk0) report" "$WORK/events"
check "domblkerror has nothing for a reported error" same "$("${VIRSH[@]}" domblkerror "$DOMAIN")" "No errors found"
ctl vda clear
guest_run "odio read /dev/vda 0 512"
check "after clear the guest reads again" same "$gstatus" 0

# ---- vdb, error_policy='stop': the domain pauses and domblkerror names the disk
ctl vdb eio_read
n=$((n + 1))
guest_start "$n" "odio read /dev/vdb 0 512"
state=
for _ in $(seq 100); do
    state=$("${VIRSH[@]}" domstate --reason "$DOMAIN")
    [ "$state" = "paused (I/O error)" ] && break
    sleep 0.1
done
check "with eio_read on a stop disk the domain pauses" same "$state" "paused (I/O error)"
check "virsh domblkerror reports the disk" same "$("${VIRSH[@]}" domblkerror "$DOMAIN")" "vdb: unspecified error"
check "libvirt emits io-error pause for it" \
    eventually grep -q "event 'io-error' for domain '$DOMAIN': $MNT/vdb/image (virtio-disk1) pause" "$WORK/events"
check "faultfs counted the failed read" at_least 1 "$(stat_field vdb failed_reads)"
ctl vdb clear
check "after clear, virsh resume" "${VIRSH[@]}" resume "$DOMAIN"
guest_wait "$n"
check "and the held read completes in the guest" same "$gstatus" 0

# ---- stop: libvirt restores labels (its chown back to root is refused, and tolerated)
check "virsh destroy stops the domain" "${VIRSH[@]}" destroy "$DOMAIN"
for _ in $(seq 50); do
    kill -0 "$QEMU_PID" 2>/dev/null || break
    sleep 0.1
done
check "its QEMU is gone" bash -c "! kill -0 $QEMU_PID 2>/dev/null"
check "the images keep their owner and mode" \
    same "$(stat -c '%U:%G %a' "$WORK/vda.img" "$WORK/vdb.img" | tr '\n' ' ')" \
    "libvirt-qemu:libvirt-qemu 600 libvirt-qemu:libvirt-qemu 600 "
check "libvirtd logged no error about the images" bash -c "! grep ' error : .*$MNT' '$LV/libvirtd.log'"
kill "$LIBVIRTD_PID"
wait "$LIBVIRTD_PID"
check "libvirtd stops cleanly" same "$?" 0
LIBVIRTD_PID=

check "faultfs unmounts and exits cleanly" unmount_faultfs

finish
