/*
 * Mount: a faultfs daemon this Lua state started, or an existing mount.
 * Above lutil; below the Disk, which reaches its disk's files through it.
 */
#ifndef FAULTFS_LMOUNT_H
#define FAULTFS_LMOUNT_H

#include "ff_error.h"

#include <lua.h>
#include <sys/types.h>

#define FAULTFS_MOUNT "faultfs.Mount"

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

/*
 * Registers the Mount class and pushes faultfs.mount([path]), which starts
 * the faultfs binary DAEMON (a path, or a name looked up in PATH).
 */
void lmount_open(lua_State *L, const char *daemon);

#endif
