/* I/O on a backing image: full transfers, bounds kept, 512-byte sectors. */
#ifndef FAULTFS_SECTOR_IO_H
#define FAULTFS_SECTOR_IO_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#define SECTOR_SIZE 512

/*
 * Reads up to LEN bytes at OFF, resuming after EINTR and short reads.
 * Returns the bytes read (fewer than LEN only at end of file) or -errno.
 */
ssize_t sector_io_pread_full(int fd, void *buf, size_t len, uint64_t off);

/* Writes all LEN bytes at OFF, resuming after EINTR and short writes; LEN or -errno. */
ssize_t sector_io_pwrite_full(int fd, const void *buf, size_t len, uint64_t off);

/*
 * A guest-style read of a disk of DISK_SIZE bytes: a read starting at or past
 * the end returns 0 bytes, one crossing it is cut at the end.
 */
ssize_t sector_io_read_at(int fd, uint64_t disk_size, void *buf, size_t len, uint64_t off);

/* A guest-style write: one that would cross the end fails with -ENOSPC and writes nothing. */
ssize_t sector_io_write_at(int fd, uint64_t disk_size, const void *buf, size_t len, uint64_t off);

/*
 * Whole-sector access for test scripts: reads COUNT sectors from SECTOR, or
 * writes LEN bytes at byte SECTOR * 512. A range not wholly inside DISK_SIZE
 * is refused with -ERANGE; a file that shrank under the read gives -ERANGE too.
 */
int sector_io_read_sectors(int fd, uint64_t disk_size, uint64_t sector, uint64_t count,
                           void *buf);
int sector_io_write_sectors(int fd, uint64_t disk_size, uint64_t sector, const void *data,
                            size_t len);

/* Whether [OFF, OFF + LEN) lies inside SIZE bytes, without overflow. */
static inline int sector_io_in_bounds(uint64_t off, uint64_t len, uint64_t size)
{
    return off <= size && len <= size - off;
}

#endif
