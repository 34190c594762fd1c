/* Full-length, bounds-checked reads and writes of a backing image. */
#include "sector_io.h"

#include "sector_io_test.h"

#include <errno.h>
#include <unistd.h>

static sector_io_pread_fn io_pread = pread;
static sector_io_pwrite_fn io_pwrite = pwrite;

void sector_io_test_set_syscalls(sector_io_pread_fn pread_fn, sector_io_pwrite_fn pwrite_fn)
{
    io_pread = pread_fn ? pread_fn : pread;
    io_pwrite = pwrite_fn ? pwrite_fn : pwrite;
}

ssize_t sector_io_pread_full(int fd, void *buf, size_t len, uint64_t off)
{
    size_t done = 0;
    while (done < len) {
        ssize_t n = io_pread(fd, (char *)buf + done, len - done, (off_t)(off + done));
        if (n < 0) {
            if (errno == EINTR)
                continue;
            return -errno;
        }
        if (n == 0)
            break;
        done += (size_t)n;
    }
    return (ssize_t)done;
}

ssize_t sector_io_pwrite_full(int fd, const void *buf, size_t len, uint64_t off)
{
    size_t done = 0;
    while (done < len) {
        ssize_t n = io_pwrite(fd, (const char *)buf + done, len - done, (off_t)(off + done));
        if (n < 0) {
            if (errno == EINTR)
                continue;
            return -errno;
        }
        /* A regular file never takes 0 bytes of a non-empty write without an error. */
        if (n == 0)
            return -EIO;
        done += (size_t)n;
    }
    return (ssize_t)done;
}

ssize_t sector_io_read_at(int fd, uint64_t disk_size, void *buf, size_t len, uint64_t off)
{
    if (off >= disk_size)
        return 0;
    if (len > disk_size - off)
        len = (size_t)(disk_size - off);
    return sector_io_pread_full(fd, buf, len, off);
}

ssize_t sector_io_write_at(int fd, uint64_t disk_size, const void *buf, size_t len, uint64_t off)
{
    if (!sector_io_in_bounds(off, len, disk_size))
        return -ENOSPC;
    return sector_io_pwrite_full(fd, buf, len, off);
}

static int sector_io_byte_range(uint64_t sector, uint64_t len, uint64_t disk_size,
                                uint64_t *off)
{
    if (sector > UINT64_MAX / SECTOR_SIZE)
        return -ERANGE;
    *off = sector * SECTOR_SIZE;
    return sector_io_in_bounds(*off, len, disk_size) ? 0 : -ERANGE;
}

int sector_io_read_sectors(int fd, uint64_t disk_size, uint64_t sector, uint64_t count,
                           void *buf)
{
    uint64_t off;
    if (count > UINT64_MAX / SECTOR_SIZE)
        return -ERANGE;
    uint64_t len = count * SECTOR_SIZE;
    int rc = sector_io_byte_range(sector, len, disk_size, &off);
    if (rc < 0)
        return rc;
    ssize_t n = sector_io_pread_full(fd, buf, (size_t)len, off);
    if (n < 0)
        return (int)n;
    return (uint64_t)n == len ? 0 : -ERANGE;
}

int sector_io_write_sectors(int fd, uint64_t disk_size, uint64_t sector, const void *data,
                            size_t len)
{
    uint64_t off;
    int rc = sector_io_byte_range(sector, len, disk_size, &off);
    if (rc < 0)
        return rc;
    ssize_t n = sector_io_pwrite_full(fd, data, len, off);
    return n < 0 ? (int)n : 0;
}
