/*
 * The faultfs Lua module: shared declarations of its parts.
 *
 *   lmount.c  Mount: a faultfs daemon this process started (or an existing mount)
 *   ldisk.c   Disk: the seed's Disk API over a mount's disk and its raw image
 *   lvm.c     VM: a machine of the harness and the disks attached to it
 *   lfaultfs.c  luaopen_faultfs: the module table
 */
#ifndef FAULTFS_LFAULTFS_H
#define FAULTFS_LFAULTFS_H

#include "ctl_parse.h"
#include "disk_id.h"

#include <lauxlib.h>
#include <limits.h>
#include <lua.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#define FAULTFS_MOUNT "faultfs.Mount"
#define FAULTFS_DISK "faultfs.Disk"
#define FAULTFS_VM "faultfs.VM"

/* 4 GiB: the seed's modelled size of a disk attached without one. */
#define LDISK_DEFAULT_SIZE (4ll << 30)

/* ---- Mount ---- */

typedef struct LMount {
    char *dir;  /* the mount point; NULL once closed */
    char *work; /* our temporary directory holding dir and the log; NULL for an existing mount */
    pid_t pid;  /* the daemon we started, or 0 */
} LMount;

/* The Mount at INDEX, raising an error if it is closed. */
LMount *lmount_check(lua_State *L, int index);

/* Sends TEXT as one batch to the ctl file DIR/RELPATH: 0, or -errno with the daemon's reason. */
int lmount_send(const LMount *m, const char *relpath, const char *text, struct ff_error *err);
/* Opens MOUNT/RELPATH with FLAGS (O_CLOEXEC added): the descriptor, or -errno. */
int lmount_open_file(const LMount *m, const char *relpath, int flags);

/* Reads DIR/RELPATH into a malloc'd NUL-terminated string, or NULL with errno set. */
char *lmount_read(const LMount *m, const char *relpath);

int lmount_open(lua_State *L);

/* ---- Disk ---- */

/* Pushes a new Disk of VM (at VM_INDEX) for the attach_disk options table at OPTS_INDEX. */
int ldisk_attach(lua_State *L, int vm_index, int opts_index);

/* What QEMU needs to plug a Disk in. */
struct ldisk_drive {
    char node[16];          /* QEMU node name, unique in its VM */
    char serial[21];        /* the guest reads it in /sys/block/vdX/serial */
    char path[PATH_MAX];    /* MOUNT/<vm>.<id>/image */
    bool retry;             /* on_error = "retry": QEMU pauses on an error, retries on resume */
    const char *aio;        /* "threads", "native" or "io_uring" (static strings) */
};

/* Fills OUT for the Disk at INDEX; false when it has no image (nothing to plug). */
bool ldisk_drive(lua_State *L, int index, struct ldisk_drive *out);

/* ---- VM ---- */

typedef struct LVM LVM;

LVM *lvm_check(lua_State *L, int index);
const char *lvm_name(const LVM *vm);

/* Pushes a new VM named NAME running GUEST on the Mount at MOUNT_INDEX. */
int lvm_new(lua_State *L, int mount_index, const char *name, const char *guest);

/* A slot number for a new disk of the VM: names its QEMU node. */
unsigned lvm_take_slot(LVM *vm);

/*
 * The hot-plug hooks a Disk (at DISK_INDEX) calls on its VM; no-ops while the
 * VM is not running. plug returns -1 with an error message pushed; unplug is
 * best effort ("Device not found" and the like are swallowed).
 */
int lvm_plug_disk(lua_State *L, int vm_index, int disk_index);
void lvm_unplug_disk(lua_State *L, int vm_index, int disk_index);

/*
 * Lets the VM at VM_INDEX run on if QEMU paused it on an I/O error of an
 * on_error = "retry" disk: the request is retried (and pauses it again while
 * the fault lasts). Called whenever the harness waits on the VM.
 */
void lvm_service(lua_State *L, int vm_index);

/* The guest's device (/dev/vdX) of SERIAL, pushed as a string; raises if the VM is not running. */
int lvm_guest_device(lua_State *L, int vm_index, const char *serial);

/* ---- running commands in the guest (lproc.c) ---- */

struct vm_machine;

/* The running machine of the VM at INDEX; raises "<what>: vm 'x' is not booted" otherwise. */
struct vm_machine *lvm_machine(lua_State *L, int index, const char *what);

/* The VM's machine if it has one (running or not), else NULL; never raises. */
struct vm_machine *lvm_machine_or_null(lua_State *L, int index);

/* Runs CMD in the guest and pushes its Result; raises on timeout or a lost guest. */
int lproc_run(lua_State *L, int vm_index, const char *cmd, uint64_t timeout_ns);
/* Starts CMD and pushes a Proc. */
int lproc_start(lua_State *L, int vm_index, const char *cmd);
/* Pushes a Worker of the VM at INDEX. */
int lproc_worker(lua_State *L, int vm_index);
void lproc_open(lua_State *L);

/*
 * Registers metatable NAME with METAMETHODS, its __index a table of METHODS
 * (either may be NULL). Leaves the stack as it was.
 */
void lfaultfs_new_class(lua_State *L, const char *name, const luaL_Reg *methods,
                        const luaL_Reg *metamethods);

/*
 * Set from a signal handler (provium's SIGINT/SIGTERM): long waits in C (a
 * guest command, a sleep) give up at their next slice and raise
 * "provium: interrupted", so the runner can tear down at once.
 */
extern volatile sig_atomic_t lfaultfs_stop_requested;

/* Raises "provium: interrupted" if a stop was requested. */
void lfaultfs_check_stop(lua_State *L);

/* The duration at INDEX: a string such as "5s" or "100ms", or a number of seconds. */
uint64_t lfaultfs_duration(lua_State *L, int index, uint64_t default_ns, const char *what);

void lvm_open(lua_State *L);
void ldisk_open(lua_State *L);


#endif
