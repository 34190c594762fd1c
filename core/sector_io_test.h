/* Test hook: lets unit tests stand in for pread/pwrite to force EINTR and short transfers. */
#ifndef FAULTFS_SECTOR_IO_TEST_H
#define FAULTFS_SECTOR_IO_TEST_H

#include <sys/types.h>

typedef ssize_t (*sector_io_pread_fn)(int fd, void *buf, size_t len, off_t off);
typedef ssize_t (*sector_io_pwrite_fn)(int fd, const void *buf, size_t len, off_t off);

/* NULL restores the system calls. */
void sector_io_test_set_syscalls(sector_io_pread_fn pread_fn, sector_io_pwrite_fn pwrite_fn);

#endif
