/*
 * Commands in the guest: results and processes. Above lutil; below the VM,
 * which starts them. A command never calls into the VM layer: it is given
 * the VM's stack index and a table of what it needs of a VM
 * (struct lproc_vm_ops), and keeps the VM alive while it lives.
 */
#ifndef FAULTFS_LPROC_H
#define FAULTFS_LPROC_H

#include <lua.h>
#include <stdint.h>

struct vm_machine;

/* What a command asks of its VM (at VM_INDEX); the VM layer fills one static table. */
struct lproc_vm_ops {
    /* The VM's running machine; raises "<what>: vm 'x' is not booted" (or no longer running). */
    struct vm_machine *(*running)(lua_State *L, int vm_index, const char *what);
    /* The VM's machine, running or not, or NULL; never raises (for __gc). */
    struct vm_machine *(*machine)(lua_State *L, int vm_index);
    /* Lets the VM run on if QEMU paused it on an error of a retry disk; called between waits. */
    void (*service)(lua_State *L, int vm_index);
};

/* Runs CMD in the guest of the VM at VM_INDEX and pushes its Result; raises on timeout or a lost
 * guest. */
int lproc_run(lua_State *L, int vm_index, const struct lproc_vm_ops *vm, const char *cmd,
              uint64_t timeout_ns);

/* Starts CMD and pushes a Proc, which keeps the VM at VM_INDEX alive. */
int lproc_start(lua_State *L, int vm_index, const struct lproc_vm_ops *vm, const char *cmd);

/* Registers the Proc and Result classes. */
void lproc_open(lua_State *L);

#endif
