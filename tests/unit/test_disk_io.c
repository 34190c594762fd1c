#include "disk_io.h"
#include "duration.h"
#include "sector_io_test.h"

#include <criterion/criterion.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/falloc.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* A 64 KiB image whose byte I is I % 251, as disk "vda". */
static char image[] = "/tmp/faultfs-disk-io-XXXXXX";
static struct disk *disk;
#define IMAGE_SIZE 65536

static void setup(void)
{
    char bytes[IMAGE_SIZE];
    struct ff_error why;
    int fd = mkstemp(image);
    cr_assert_geq(fd, 0);
    for (int i = 0; i < IMAGE_SIZE; i++)
        bytes[i] = (char)(i % 251);
    cr_assert_eq(write(fd, bytes, sizeof bytes), IMAGE_SIZE);
    close(fd);
    cr_assert_eq(disk_open("vda", image, 0, NULL, &disk, &why), 0, "%s", why.msg);
}

static void teardown(void)
{
    sector_io_test_set_syscalls(NULL, NULL);
    disk_unref(disk);
    unlink(image);
    strcpy(image, "/tmp/faultfs-disk-io-XXXXXX");
}

TestSuite(disk_io, .init = setup, .fini = teardown);

static void set(const char *line)
{
    const char *space = strchr(line, ' ');
    size_t n = space ? (size_t)(space - line) : strlen(line);
    struct fault_edit e = {.op = FAULT_EDIT_SET, .rule = fault_rule_default(fault_mode_find(line, n))};
    if (space)
        cr_assert_eq(duration_parse(space + 1, strlen(space + 1), &e.rule.delay_a_ns, &(const char *){0}), 0);
    cr_assert_eq(fault_table_apply(&disk->faults, &e, 1), 0);
}

static uint64_t stat_of(_Atomic uint64_t *counter)
{
    return atomic_load(counter);
}

/* Runs a whole request (no parking: the delay is only asked for) and returns its result. */
static ssize_t run(struct disk_request rq)
{
    rq.disk = disk;
    disk_request_begin(&rq);
    return disk_request_run(&rq);
}

static ssize_t read_at(uint64_t off, uint64_t len, char *buf)
{
    return run((struct disk_request){.op = DISK_OP_READ, .offset = off, .length = len, .buf = buf});
}

static ssize_t write_at(uint64_t off, const char *data, uint64_t len)
{
    return run((struct disk_request){.op = DISK_OP_WRITE, .offset = off, .length = len, .data = data});
}

Test(disk_io, a_read_with_no_fault_returns_the_bytes_and_is_counted)
{
    char buf[512];
    cr_assert_eq(read_at(1000, 512, buf), 512);
    cr_assert_eq((unsigned char)buf[0], 1000 % 251);
    cr_assert_eq(stat_of(&disk->stats.reads), 1);
    cr_assert_eq(stat_of(&disk->stats.read_bytes), 512);
    cr_assert_eq(stat_of(&disk->stats.failed_reads), 0);
}

Test(disk_io, an_active_fault_fails_before_the_io)
{
    char buf[512] = {0};
    set("eio_read");
    cr_assert_eq(read_at(1000, 512, buf), -EIO);
    cr_assert_eq(buf[0], 0, "nothing may be read once the fault is active");
    cr_assert_eq(stat_of(&disk->stats.failed_reads), 1);
    cr_assert_eq(write_at(0, "x", 1), 1, "writes are not affected");
}

static ssize_t flip_then_pread(struct disk_request *rq, uint64_t len)
{
    (void)len;
    set("eio_read");
    rq->buf = rq->ctx;
    return -EAGAIN; /* decline: the pipeline reads into buf */
}

Test(disk_io, a_fault_switched_on_during_the_io_still_fails_it)
{
    char buf[512] = {0};
    struct disk_request rq = {
        .op = DISK_OP_READ, .offset = 251, .length = 512, .read = flip_then_pread, .ctx = buf};
    cr_assert_eq(run(rq), -EIO);
    cr_assert_eq(buf[1], 1, "the I/O ran; the re-check after it failed the request");
}

static ssize_t pwrite_flipping_eio_write(int fd, const void *buf, size_t len, off_t off)
{
    set("eio_write");
    return pwrite(fd, buf, len, off);
}

Test(disk_io, a_write_failed_by_the_recheck_may_have_landed)
{
    sector_io_test_set_syscalls(NULL, pwrite_flipping_eio_write);
    cr_assert_eq(write_at(0, "landed", 6), -EIO);
    sector_io_test_set_syscalls(NULL, NULL);
    char buf[6];
    int fd = open(image, O_RDONLY);
    cr_assert_eq(pread(fd, buf, 6, 0), 6);
    close(fd);
    cr_assert_eq(memcmp(buf, "landed", 6), 0, "as on a real disk");
    cr_assert_eq(stat_of(&disk->stats.failed_writes), 1);
}

Test(disk_io, the_delay_comes_from_the_rules_and_only_the_first_ask_counts)
{
    struct disk_request rq = {.disk = disk, .op = DISK_OP_WRITE, .length = 512};
    cr_assert_eq(disk_request_delay_ns(&rq), 0);
    set("slow 30ms");
    cr_assert_eq(disk_request_delay_ns(&rq), 30 * DURATION_NS_PER_MS);
    cr_assert_eq(disk_request_delay_now_ns(&rq), 30 * DURATION_NS_PER_MS);
    uint64_t fired[FAULT_MODE_COUNT];
    fault_table_fired(&disk->faults, fired);
    cr_assert_eq(fired[FAULT_MODE_SLOW], 1, "a re-timing look is no fire");
    struct disk_request flush = {.disk = disk, .op = DISK_OP_FLUSH};
    cr_assert_eq(disk_request_delay_ns(&flush), 0, "the seed's slow does not delay flushes");
}

Test(disk_io, size_rules_a_read_is_cut_at_the_end_a_write_past_it_grows_the_image)
{
    char buf[1024];
    cr_assert_eq(read_at(IMAGE_SIZE - 100, 1024, buf), 100);
    cr_assert_eq(read_at(IMAGE_SIZE, 512, buf), 0);
    cr_assert_eq(write_at(IMAGE_SIZE - 1, "ab", 2), 2);
    struct stat st;
    cr_assert_eq(stat(image, &st), 0);
    cr_assert_eq(st.st_size, IMAGE_SIZE + 1, "a write past the end grows the image");
    cr_assert_eq(read_at(IMAGE_SIZE - 1, 512, buf), 2);
    cr_assert_eq(memcmp(buf, "ab", 2), 0);
    disk->size_limit = 4096;
    cr_assert_eq(read_at(4000, 512, buf), 96, "a size limit cuts like the end");
    cr_assert_eq(write_at(4095, "ab", 2), -ENOSPC);
}

Test(disk_io, discards_are_cut_at_the_end_and_count_as_writes)
{
    struct disk_request rq = {.op = DISK_OP_DISCARD, .offset = IMAGE_SIZE - 4096, .length = 65536};
    cr_assert_eq(run(rq), 0);
    struct stat st;
    cr_assert_eq(stat(image, &st), 0);
    cr_assert_eq(st.st_size, IMAGE_SIZE);
    cr_assert_eq(stat_of(&disk->stats.discards), 1);
    cr_assert_eq(stat_of(&disk->stats.writes), 1);
    set("eio_write");
    rq.op = DISK_OP_WRITE_ZEROES;
    cr_assert_eq(run(rq), -EIO, "write faults cover write-zeroes");
    rq.op = DISK_OP_ALLOCATE;
    set("eio_write");
    struct fault_edit clear = {.op = FAULT_EDIT_CLEAR_ALL};
    fault_table_apply(&disk->faults, &clear, 1);
    cr_assert_eq(run(rq), 0, "preallocation past the end grows the image, as for any file");
    struct stat grown;
    cr_assert_eq(stat(image, &grown), 0);
    cr_assert_eq(grown.st_size, IMAGE_SIZE - 4096 + 65536);
    disk->size_limit = IMAGE_SIZE;
    cr_assert_eq(run(rq), -ENOSPC, "but not past a size= cap");
}

Test(disk_io, flushes_and_synchronous_writes_are_counted_as_flushes)
{
    cr_assert_eq(run((struct disk_request){.op = DISK_OP_FLUSH, .flags = 1}), 0);
    cr_assert_eq(run((struct disk_request){.op = DISK_OP_WRITE, .length = 1, .data = "s", .flags = O_DSYNC}), 1);
    cr_assert_eq(write_at(0, "p", 1), 1);
    cr_assert_eq(stat_of(&disk->stats.flushes), 2);
    cr_assert_eq(stat_of(&disk->stats.writes), 2);
}

Test(disk_io, a_detached_disk_is_never_touched)
{
    disk_mark_detached(disk);
    char buf[16];
    cr_assert_eq(read_at(0, 16, buf), -ENXIO);
    cr_assert_eq(write_at(0, "x", 1), -ENXIO);
    cr_assert_eq(stat_of(&disk->stats.failed_reads), 1);
    cr_assert_eq(stat_of(&disk->stats.failed_writes), 1);
}

Test(disk_io, an_abandoned_request_counts_as_failed)
{
    struct disk_request rq = {.disk = disk, .op = DISK_OP_READ, .length = 512};
    disk_request_begin(&rq);
    disk_request_abandon(&rq, EINTR);
    cr_assert_eq(stat_of(&disk->stats.reads), 1);
    cr_assert_eq(stat_of(&disk->stats.failed_reads), 1);
}
