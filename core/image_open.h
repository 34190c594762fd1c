/*
 * Opening a disk image without ever touching a forbidden filesystem.
 *
 * The daemon must refuse images on its own mount: I/O through itself would
 * deadlock with one thread (-s) and pin the mount (fusermount3 -u: EBUSY).
 * Checking a path as text and then opening it is racy (a directory swapped
 * for a symlink in between) and blind to bind mounts, and even a stat() of a
 * file on our mount sends a request to ourselves. So the path is walked one
 * component at a time with O_PATH|O_NOFOLLOW descriptors; each time the walk
 * enters another mount, that mount's device is looked up in
 * /proc/self/mountinfo (no request to any filesystem) before anything inside
 * it is touched. Symlinks are followed by hand, magic links never; the file
 * finally opened is the very inode that was checked.
 */
#ifndef FAULTFS_IMAGE_OPEN_H
#define FAULTFS_IMAGE_OPEN_H

#include "ff_error.h"

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

/* What an image must never lie in: the faultfs mount. */
struct image_guard {
    const char *root;  /* the mountpoint's path, for messages; NULL = no guard */
    dev_t root_dev;    /* the mountpoint directory itself (before or under the mount) */
    ino_t root_ino;
    bool mounted;      /* mount_dev is known */
    dev_t mount_dev;   /* the device of the mount on top of it */
};

/*
 * Fills GUARD for the directory ROOT, which is not mounted over yet (it is
 * stat()ed). 0 or -errno.
 */
int image_guard_init(struct image_guard *guard, const char *root);

/* Records the device of the mount now on top of GUARD's root. 0 or -errno. */
int image_guard_mounted(struct image_guard *guard);

/*
 * Opens the absolute PATH read-write: it must name an existing regular
 * file, not under GUARD's root directory nor on its mount (GUARD may be
 * NULL). Returns the descriptor, or -errno with ERR naming PATH and the
 * reason: -EXDEV (inside the mount), -EISDIR, -EINVAL (not a regular file
 * or not absolute), -ENOENT, -ELOOP, -ENAMETOOLONG, -EACCES and the like.
 */
int image_open(const char *path, const struct image_guard *guard, struct ff_error *err);

#endif
