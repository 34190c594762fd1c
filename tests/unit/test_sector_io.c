#include "sector_io.h"
#include "sector_io_test.h"

#include <criterion/criterion.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static int fd = -1;
static char path[] = "/tmp/faultfs-sector-XXXXXX";

#define DISK_SIZE (8 * SECTOR_SIZE)

static void setup(void)
{
    fd = mkstemp(path);
    cr_assert_geq(fd, 0);
    char data[DISK_SIZE];
    for (size_t i = 0; i < sizeof data; i++)
        data[i] = (char)(i / SECTOR_SIZE + 'A');
    cr_assert_eq(write(fd, data, sizeof data), (ssize_t)sizeof data);
}

static void teardown(void)
{
    sector_io_test_set_syscalls(NULL, NULL);
    close(fd);
    unlink(path);
    strcpy(path, "/tmp/faultfs-sector-XXXXXX");
}

TestSuite(sector_io, .init = setup, .fini = teardown);

static off_t file_size(void)
{
    return lseek(fd, 0, SEEK_END);
}

Test(sector_io, reads_whole_sectors)
{
    char buf[2 * SECTOR_SIZE];
    cr_assert_eq(sector_io_read_sectors(fd, DISK_SIZE, 3, 2, buf), 0);
    cr_assert_eq(buf[0], 'D');
    cr_assert_eq(buf[SECTOR_SIZE - 1], 'D');
    cr_assert_eq(buf[SECTOR_SIZE], 'E');
}

Test(sector_io, last_sector_is_readable_and_one_past_is_not)
{
    char buf[2 * SECTOR_SIZE];
    cr_assert_eq(sector_io_read_sectors(fd, DISK_SIZE, 7, 1, buf), 0);
    cr_assert_eq(buf[0], 'H');
    cr_assert_eq(sector_io_read_sectors(fd, DISK_SIZE, 7, 2, buf), -ERANGE);
    cr_assert_eq(sector_io_read_sectors(fd, DISK_SIZE, 8, 1, buf), -ERANGE);
    cr_assert_eq(sector_io_read_sectors(fd, DISK_SIZE, UINT64_MAX, 1, buf), -ERANGE);
    cr_assert_eq(sector_io_read_sectors(fd, DISK_SIZE, 0, UINT64_MAX, buf), -ERANGE);
}

Test(sector_io, writes_exact_bytes_at_the_sector)
{
    char buf[SECTOR_SIZE];
    cr_assert_eq(sector_io_write_sectors(fd, DISK_SIZE, 2, "hello", 5), 0);
    cr_assert_eq(pread(fd, buf, sizeof buf, 2 * SECTOR_SIZE), SECTOR_SIZE);
    cr_assert_eq(memcmp(buf, "hello", 5), 0);
    cr_assert_eq(buf[5], 'C', "bytes after the data are untouched");
}

Test(sector_io, write_past_the_end_changes_nothing)
{
    cr_assert_eq(sector_io_write_sectors(fd, DISK_SIZE, 7, "x", SECTOR_SIZE + 1), -ERANGE);
    cr_assert_eq(sector_io_write_sectors(fd, DISK_SIZE, 8, "x", 1), -ERANGE);
    cr_assert_eq(file_size(), DISK_SIZE);
    char c;
    cr_assert_eq(pread(fd, &c, 1, 7 * SECTOR_SIZE), 1);
    cr_assert_eq(c, 'H');
}

Test(sector_io, guest_reads_stop_at_the_end)
{
    char buf[SECTOR_SIZE * 2];
    cr_assert_eq(sector_io_read_at(fd, DISK_SIZE, buf, sizeof buf, DISK_SIZE - 100), 100);
    cr_assert_eq(sector_io_read_at(fd, DISK_SIZE, buf, sizeof buf, DISK_SIZE), 0);
    cr_assert_eq(sector_io_read_at(fd, DISK_SIZE, buf, sizeof buf, DISK_SIZE + 4096), 0);
    /* A size limit below the file's size is honoured. */
    cr_assert_eq(sector_io_read_at(fd, 1000, buf, sizeof buf, 0), 1000);
}

Test(sector_io, guest_writes_past_the_end_fail_whole)
{
    cr_assert_eq(sector_io_write_at(fd, DISK_SIZE, "abc", 3, DISK_SIZE - 2), -ENOSPC);
    cr_assert_eq(sector_io_write_at(fd, DISK_SIZE, "abc", 3, UINT64_MAX - 1), -ENOSPC);
    cr_assert_eq(file_size(), DISK_SIZE);
    cr_assert_eq(sector_io_write_at(fd, DISK_SIZE, "abc", 3, DISK_SIZE - 3), 3);
    cr_assert_eq(file_size(), DISK_SIZE);
}

/* ---- short transfers and EINTR, forced through the test hook ---- */

static int calls;

static ssize_t pread_in_dribs(int f, void *buf, size_t len, off_t off)
{
    calls++;
    if (calls % 2 == 1) {
        errno = EINTR;
        return -1;
    }
    return pread(f, buf, len < 100 ? len : 100, off);
}

static ssize_t pwrite_in_dribs(int f, const void *buf, size_t len, off_t off)
{
    calls++;
    if (calls % 3 == 0) {
        errno = EINTR;
        return -1;
    }
    return pwrite(f, buf, len < 7 ? len : 7, off);
}

Test(sector_io, short_reads_and_eintr_are_resumed)
{
    char buf[2 * SECTOR_SIZE];
    calls = 0;
    sector_io_test_set_syscalls(pread_in_dribs, NULL);
    cr_assert_eq(sector_io_read_sectors(fd, DISK_SIZE, 1, 2, buf), 0);
    cr_assert_eq(buf[0], 'B');
    cr_assert_eq(buf[2 * SECTOR_SIZE - 1], 'C');
    cr_assert_gt(calls, 20, "the hook really cut the transfer (%d calls)", calls);
}

Test(sector_io, short_writes_and_eintr_are_resumed)
{
    char data[300], back[300];
    for (size_t i = 0; i < sizeof data; i++)
        data[i] = (char)i;
    calls = 0;
    sector_io_test_set_syscalls(NULL, pwrite_in_dribs);
    cr_assert_eq(sector_io_write_sectors(fd, DISK_SIZE, 4, data, sizeof data), 0);
    cr_assert_gt(calls, 40);
    cr_assert_eq(pread(fd, back, sizeof back, 4 * SECTOR_SIZE), (ssize_t)sizeof back);
    cr_assert_eq(memcmp(data, back, sizeof data), 0);
}

Test(sector_io, a_file_that_shrank_under_the_read_is_out_of_range)
{
    char buf[SECTOR_SIZE];
    cr_assert_eq(ftruncate(fd, 3 * SECTOR_SIZE), 0);
    /* The caller's size is stale: the read comes up short and is refused. */
    cr_assert_eq(sector_io_read_sectors(fd, DISK_SIZE, 5, 1, buf), -ERANGE);
}

static ssize_t pread_fails(int f, void *buf, size_t len, off_t off)
{
    (void)f, (void)buf, (void)len, (void)off;
    errno = EIO;
    return -1;
}

Test(sector_io, errors_come_back_as_negative_errno)
{
    char buf[SECTOR_SIZE];
    sector_io_test_set_syscalls(pread_fails, NULL);
    cr_assert_eq(sector_io_read_sectors(fd, DISK_SIZE, 0, 1, buf), -EIO);
    cr_assert_eq(sector_io_read_at(fd, DISK_SIZE, buf, 10, 0), -EIO);
}
