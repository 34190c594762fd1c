/*
 * A QEMU machine running a harness guest: the process, its QMP monitor, its
 * guest agent, its serial console log, and hot-pluggable virtio disks.
 *
 * Functions return 0 or -errno and fill a struct ff_error (which may be
 * NULL); callers decide on the code, the message is for people. Nothing
 * here reads the environment: what the harness was told comes in as
 * arguments, read at the program's edge.
 */
#ifndef FAULTFS_MACHINE_H
#define FAULTFS_MACHINE_H

#include "agent.h"
#include "ff_error.h"
#include "qmp.h"

#include <stdbool.h>
#include <sys/types.h>

/* A bootable guest, as tools/build-guest describes it in guest.json. */
struct vm_guest {
    char *name;
    char *kernel; /* vmlinux for a PVH boot when there is one, else vmlinuz */
    char *initrd;
    char *cmdline;
};

/* Loads the guest that DIR/guest.json describes. 0, or -errno with ERR. */
int vm_guest_load(const char *dir, struct vm_guest *g, struct ff_error *err);

/*
 * Runs BUILDER (build-guest: it builds the guest on first use, then finds it
 * in its cache; its progress goes to our stderr) and loads the guest in the
 * directory it prints last. 0, or -errno with ERR.
 */
int vm_guest_build(const char *builder, struct vm_guest *g, struct ff_error *err);

void vm_guest_free(struct vm_guest *g);

/*
 * A disk on the machine's command line or hot-plugged: an image file in a
 * format driver (raw or qcow2) on a virtio-blk-pci device.
 */
struct vm_drive {
    const char *node;   /* QEMU node name: a letter, then [A-Za-z0-9_-], at most 31 */
    const char *path;   /* the image file, e.g. MOUNT/vm.vda/image */
    const char *format; /* QEMU's format driver over the file: "raw" (NULL = raw) or "qcow2" */
    const char *serial; /* what the guest reads in /sys/block/vdX/serial (at most 20) */
    bool stop_on_error; /* QEMU pauses the VM on an I/O error (retried at `cont`) instead of
                           reporting it to the guest */
    const char *aio;    /* QEMU's aio: "threads" (default, cached), "native" or "io_uring"
                           (both open the image O_DIRECT, as cache=none does) */
};

enum vm_accel {
    VM_ACCEL_AUTO, /* KVM where /dev/kvm can run a guest, else TCG */
    VM_ACCEL_KVM,
    VM_ACCEL_TCG,
};

struct vm_options {
    unsigned mem_mb;
    enum vm_accel accel;
    uint64_t timeout_ns; /* how long the whole boot (or reset) may take */
};

struct vm_machine {
    pid_t pid;
    char *dir;          /* our runtime directory: sockets and logs */
    char *console_path; /* the guest's serial console, captured */
    bool kvm;
    struct qmp qmp;
    struct agent agent;
};

/*
 * Boots G with DRIVES on the command line and waits until its agent says
 * hello. Every step (QEMU's QMP socket, its greeting, qmp_capabilities, the
 * agent's socket, its hello) waits as long as OPTS->timeout_ns, counted from
 * the call, allows. 0 with *OUT the machine; else *OUT is NULL and:
 * -ETIMEDOUT with ERR naming the step it was waiting at ("waiting for QMP
 * greeting"); -ESRCH with ERR "QEMU exited: " and QEMU's own last words;
 * -EPROTO when the guest agent speaks another protocol version; or another
 * -errno.
 */
int vm_machine_start(const struct vm_guest *g, const struct vm_drive *drives, size_t ndrives,
                     const struct vm_options *opts, struct vm_machine **out, struct ff_error *err);

/*
 * Resets the machine (QMP system_reset) and waits for the agent's hello
 * again, both within TIMEOUT_NS. 0; -ETIMEDOUT with ERR naming the step
 * ("waiting for the guest agent's hello"); or another -errno.
 */
int vm_machine_reset(struct vm_machine *m, uint64_t timeout_ns, struct ff_error *err);

/* Stops QEMU (quit, then SIGKILL) and frees M; M may be NULL. */
void vm_machine_stop(struct vm_machine *m);

/* Hot-plugs D: blockdev-add + device_add. 0, or -errno with ERR. */
int vm_machine_plug(struct vm_machine *m, const struct vm_drive *d, struct ff_error *err);

/*
 * Unplugs the disk of node NODE: device_del, wait for DEVICE_DELETED,
 * blockdev-del. -ENODEV when QEMU has no such device (its class
 * DeviceNotFound), -ETIMEDOUT when the guest does not let go, or -errno.
 */
int vm_machine_unplug(struct vm_machine *m, const char *node, struct ff_error *err);

/*
 * Lets a VM that QEMU paused on an I/O error of a stop_on_error disk run on:
 * the failed request is retried. Returns 1 if it was paused, 0 if not, -errno.
 */
int vm_machine_resume_after_error(struct vm_machine *m);

/* Whether the QEMU process is still alive. */
bool vm_machine_alive(struct vm_machine *m);

#endif
