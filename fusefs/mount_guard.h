/*
 * A watcher that unmounts the mount if the daemon dies without unmounting,
 * for the io_uring transport, where fusermount3's auto_unmount cannot tell.
 */
#ifndef FAULTFS_MOUNT_GUARD_H
#define FAULTFS_MOUNT_GUARD_H

#include <sys/types.h>

/*
 * Forks the watcher for the FUSE mount at MOUNT_ROOT (mounted now; call before
 * any thread starts). It holds no descriptor of the daemon's and waits for
 * the daemon to end; then, if the same mount is still there and dead, it
 * unmounts it lazily. Its pid, or -errno.
 */
pid_t mount_guard_start(const char *mount_root);

/* Ends the watcher GUARD (if > 0): the daemon unmounted cleanly. */
void mount_guard_stop(pid_t guard);

#endif
