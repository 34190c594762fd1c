/* Private to the VM: the state its two files (lvm.c, lvm_views.c) share. */
#ifndef FAULTFS_LVM_I_H
#define FAULTFS_LVM_I_H

#include "lvm.h"

#include "disk_id.h"
#include "lproc.h"

#include <lauxlib.h>

typedef struct LVM {
    char name[DISK_ID_MAX + 1];
    char guest[64];
    struct vm_machine *machine; /* NULL until booted, and after shutdown */
    unsigned slots;             /* slots handed to disks so far */
} LVM;

#define tovm(L) ((LVM *)luaL_checkudata(L, 1, FAULTFS_VM))

/* The machine of the VM at INDEX, running or not (its logs outlive QEMU); raises if never booted.
 */
struct vm_machine *lvm_machine_any(lua_State *L, int index, const char *what);

/* The running machine of the VM at INDEX; raises "<what>: vm 'x' is not booted" otherwise. */
struct vm_machine *lvm_running(lua_State *L, int index, const char *what);

/* Lets the VM at VM_INDEX run on if QEMU paused it on an error of a retry disk. */
void lvm_service(lua_State *L, int vm_index);

/* What commands (lproc.c) ask of their VM. */
extern const struct lproc_vm_ops lvm_proc_ops;

/* The methods of lvm_views.c, and its classes (Console, Clock, Worker). */
int lvm_events(lua_State *L);
int lvm_wait_event(lua_State *L);
int lvm_console(lua_State *L);
int lvm_clock(lua_State *L);
int lvm_spawn_worker(lua_State *L);
void lvm_views_open(lua_State *L);

#endif
