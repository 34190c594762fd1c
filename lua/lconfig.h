/*
 * The module's configuration: the environment and where this code was
 * installed, read once by the module's entry (luaopen_faultfs) and passed
 * down as plain values. The only place in lua/ and vm/ that reads the
 * environment.
 */
#ifndef FAULTFS_LCONFIG_H
#define FAULTFS_LCONFIG_H

#include "lvm.h"

#include <limits.h>

struct lconfig {
    char daemon[PATH_MAX];     /* the faultfs binary faultfs.mount() starts */
    struct lvm_config vm;      /* how VMs boot */
    const char *guest_aliases; /* "peios=pebble,other=pebble", or NULL; the environment's */
};

/*
 * Fills CFG from the environment, with these defaults:
 *
 *   FAULTFS                the faultfs installed beside us (BINDIR), else "faultfs" from PATH
 *   FAULTFS_BUILD_GUEST    DATADIR/faultfs/build-guest beside us
 *   PROVIUM_GUEST_DIR      none: the guest builder builds (or finds in its cache) the guest
 *   PROVIUM_ACCEL          KVM where /dev/kvm can run a guest, else TCG; "kvm" forces KVM,
 *                          "tcg" TCG, any other value is an error at boot
 *   PROVIUM_BOOT_TIMEOUT   180s; a value that is no duration is kept as an error that
 *                          vm:boot() and vm:reset() raise
 *   PROVIUM_GUEST_ALIASES  none
 *
 * "Beside us" is relative to the module's own file when lua5.4 loaded it
 * (LIBDIR/lua/5.4/faultfs.so), else to the program it is built into
 * (BINDIR/provium): the same relative paths in an installed tree and in
 * the build tree, which mirrors it.
 */
void lconfig_read(struct lconfig *cfg);

#endif
