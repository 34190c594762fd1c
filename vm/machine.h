/*
 * A QEMU machine running a harness guest: the process, its QMP monitor, its
 * guest agent, its serial console log, and hot-pluggable virtio disks.
 */
#ifndef FAULTFS_MACHINE_H
#define FAULTFS_MACHINE_H

#include "agent.h"
#include "qmp.h"

#include <stdbool.h>
#include <sys/types.h>

/* A bootable guest, as tools/build-guest describes it in guest.json. */
struct vm_guest {
    char *name;
    char *kernel;  /* vmlinux for a PVH boot when there is one, else vmlinuz */
    char *initrd;
    char *cmdline;
};

/*
 * Finds the guest: $PROVIUM_GUEST_DIR/guest.json if set, else what
 * tools/build-guest prints (it builds the guest on first use, then caches it).
 */
int vm_guest_locate(struct vm_guest *g, char *why, size_t why_size);
void vm_guest_free(struct vm_guest *g);

/* A disk on the machine's command line or hot-plugged: a raw file on a virtio-blk-pci device. */
struct vm_drive {
    const char *node;   /* QEMU node name: a letter, then [A-Za-z0-9_-], at most 31 */
    const char *path;   /* the image file, e.g. MOUNT/vm.vda/image */
    const char *serial; /* what the guest reads in /sys/block/vdX/serial (at most 20) */
    bool stop_on_error; /* QEMU pauses the VM on an I/O error (retried at `cont`) instead of
                           reporting it to the guest */
    const char *aio;    /* QEMU's aio: "threads" (default, cached), "native" or "io_uring"
                           (both open the image O_DIRECT, as cache=none does) */
};

struct vm_machine {
    pid_t pid;
    char *dir;          /* our runtime directory: sockets and logs */
    char *console_path; /* the guest's serial console, captured */
    bool kvm;
    struct qmp qmp;
    struct agent agent;
};

/* Whether /dev/kvm can run a guest here (a nested host may offer a /dev/kvm that cannot). */
bool vm_kvm_usable(void);

/*
 * Boots G with DRIVES on the command line and waits until its agent says
 * hello. Every step (QEMU's QMP socket, its greeting, qmp_capabilities, the
 * agent's socket, its hello) waits as long as TIMEOUT_NS, counted from the
 * call, allows. 0; -ETIMEDOUT with WHY naming the step it was waiting at
 * ("waiting for QMP greeting"); -ESRCH with WHY "QEMU exited: " and QEMU's
 * own last words; or another -errno with WHY.
 */
int vm_machine_start(const struct vm_guest *g, const struct vm_drive *drives, size_t ndrives,
                     unsigned mem_mb, uint64_t timeout_ns, struct vm_machine **out, char *why,
                     size_t why_size);

/*
 * Resets the machine (QMP system_reset) and waits for the agent's hello
 * again, both within TIMEOUT_NS. 0; -ETIMEDOUT with WHY naming the step
 * ("waiting for the guest agent's hello"); or another -errno with WHY.
 */
int vm_machine_reset(struct vm_machine *m, uint64_t timeout_ns, char *why, size_t why_size);

/* Stops QEMU (quit, then SIGKILL) and frees M. */
void vm_machine_stop(struct vm_machine *m);

/* Hot-plugs D: blockdev-add + device_add. 0, or -errno with WHY. */
int vm_machine_plug(struct vm_machine *m, const struct vm_drive *d, char *why, size_t why_size);

/*
 * Unplugs the disk of node NODE: device_del, wait for DEVICE_DELETED,
 * blockdev-del. -ENODEV when QEMU has no such device ("Device not found").
 */
int vm_machine_unplug(struct vm_machine *m, const char *node, char *why, size_t why_size);

/*
 * Lets a VM that QEMU paused on an I/O error of a stop_on_error disk run on:
 * the failed request is retried. Returns 1 if it was paused, 0 if not, -errno.
 */
int vm_machine_resume_after_error(struct vm_machine *m);

/* Whether the QEMU process is still alive. */
bool vm_machine_alive(struct vm_machine *m);

#endif
