/*
 * The faultfs Lua module's entry, the top layer of lua/: the one file that
 * knows every class. Each file below has its own header and includes only
 * the layers beneath it (see lutil.h for the order).
 *
 *   lutil.c     classes, durations, the stop flag
 *   lmount.c    Mount: a faultfs daemon this process started (or an existing mount)
 *   ldisk.c     Disk: the seed's Disk API over a mount's disk (ldisk_io.c: its I/O and faults)
 *   lproc.c     Result and Proc: commands in the guest
 *   lvm.c       VM: a machine of the harness and its disks (lvm_views.c: events, Console,
 *               Clock, Worker)
 *   lconfig.c   the configuration (environment, install location), read once here
 *   lfaultfs.c  luaopen_faultfs: the module table
 */
#ifndef FAULTFS_LFAULTFS_H
#define FAULTFS_LFAULTFS_H

#include <lua.h>

/* require "faultfs": registers the classes and pushes the module table. */
int luaopen_faultfs(lua_State *L);

#endif
