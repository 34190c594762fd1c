/*
 * A watcher that unmounts the mount if the daemon dies without unmounting,
 * for the io_uring transport, where fusermount3's auto_unmount cannot tell.
 */
#ifndef FAULTFS_MOUNT_GUARD_H
#define FAULTFS_MOUNT_GUARD_H

/*
 * Forks the watcher for the FUSE mount at MOUNT_ROOT (mounted now; call before
 * any thread starts). It holds no descriptor of the daemon's and waits for
 * the daemon to end; then, if the same mount is still there and dead, it
 * unmounts it lazily. 0 or -errno.
 */
int mount_guard_start(const char *mount_root);

#endif
