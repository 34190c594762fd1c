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

#include "disk_id.h"

#include <lauxlib.h>
#include <lua.h>
#include <stdbool.h>
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

/* Writes TEXT to DIR/RELPATH in one write(); 0 or -errno. */
int lmount_write(const LMount *m, const char *relpath, const char *text);

/* Reads DIR/RELPATH into a malloc'd NUL-terminated string, or NULL with errno set. */
char *lmount_read(const LMount *m, const char *relpath);

int lmount_open(lua_State *L);

/* ---- Disk ---- */

/* Pushes a new Disk of VM (at VM_INDEX) for the attach_disk options table at OPTS_INDEX. */
int ldisk_attach(lua_State *L, int vm_index, int opts_index);

/* ---- VM ---- */

typedef struct LVM LVM;

LVM *lvm_check(lua_State *L, int index);
const char *lvm_name(const LVM *vm);

/* Pushes a new VM named NAME running GUEST on the Mount at MOUNT_INDEX. */
int lvm_new(lua_State *L, int mount_index, const char *name, const char *guest);

/* The hot-plug hooks a Disk calls on its VM; both are no-ops while the VM is not running. */
int lvm_plug_disk(lua_State *L, int vm_index, const char *mount_id);
void lvm_unplug_disk(lua_State *L, int vm_index, const char *mount_id);

void lvm_open(lua_State *L);
void ldisk_open(lua_State *L);


#endif
