/*
 * VM: a machine of the harness, its guest and the disks attached to it.
 * Above lmount, ldisk and lproc (it owns its disks and starts commands);
 * below the module entry (lfaultfs.c), which creates VMs.
 */
#ifndef FAULTFS_LVM_H
#define FAULTFS_LVM_H

#include "duration.h"
#include "machine.h"

#include <limits.h>
#include <lua.h>
#include <stdint.h>

#define FAULTFS_VM "faultfs.VM"

/* How the VMs of this Lua state boot: read once at the module's entry (lconfig.c). */
struct lvm_config {
    char guest_dir[PATH_MAX];     /* a prebuilt guest's directory; "" = run guest_builder */
    char guest_builder[PATH_MAX]; /* build-guest: builds the guest on first use, then caches it */
    enum vm_accel accel;
    uint64_t boot_timeout_ns;                  /* how long boot() and reset() wait */
    char boot_timeout_text[DURATION_TEXT_MAX]; /* the same, as the user wrote it */
    char config_error[192]; /* not "": a setting was bad (PROVIUM_BOOT_TIMEOUT no duration,
                               PROVIUM_ACCEL neither kvm nor tcg); boot and reset raise this */
};

/* Pushes a new VM named NAME running GUEST on the Mount at MOUNT_INDEX. */
int lvm_new(lua_State *L, int mount_index, const char *name, const char *guest);

/*
 * faultfs.on_vm_boot(fn | nil): fn(vm, console_path) is called after each
 * successful vm:boot() of this Lua state; provium -v prints the console path.
 */
int lvm_on_boot(lua_State *L);

/* Registers the VM class and its views (Console, Clock, Worker); every VM boots as CFG says. */
void lvm_open(lua_State *L, const struct lvm_config *cfg);

#endif
