/*
 * odio: read or write a block device with O_DIRECT.
 *
 * busybox dd ignores iflag=direct and goes through the page cache, which
 * hides exactly the I/O errors fault-injection tests want to see.  This
 * helper always bypasses the cache and reports the first error verbatim.
 *
 *   odio read DEVICE OFFSET LENGTH   copy LENGTH bytes at OFFSET to stdout
 *   odio write DEVICE OFFSET         write stdin (zero-padded to 512) at OFFSET
 *   odio --time ...                  also report how long the I/O took, on stderr
 *                                    (busybox date has no sub-second clock)
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE /* O_DIRECT */
#endif
#include <errno.h>
#include <fcntl.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define SECTOR 512u
#define ALIGN 4096u
#define READ_CHUNK (8u << 20) /* bounded buffer for big reads */

static const char *op;
static const char *device;
static const char *offset_arg;
static bool report_time;
static struct timespec started;

static void time_start(void)
{
    clock_gettime(CLOCK_MONOTONIC, &started);
}

/* With --time: "odio: read took 51234 us" on stderr, once the I/O is done. */
static void time_report(void)
{
    struct timespec now;
    if (!report_time)
        return;
    clock_gettime(CLOCK_MONOTONIC, &now);
    long long us = (long long)(now.tv_sec - started.tv_sec) * 1000000 +
                   (now.tv_nsec - started.tv_nsec) / 1000;
    fprintf(stderr, "odio: %s took %lld us\n", op, us);
}

static void usage(FILE *to)
{
    fprintf(to,
            "usage: odio [--time] read DEVICE OFFSET LENGTH\n"
            "       odio [--time] write DEVICE OFFSET   (data on stdin)\n"
            "O_DIRECT I/O; OFFSET and LENGTH are bytes, multiples of %u.\n"
            "write pads stdin with zeros to a multiple of %u and fdatasyncs.\n",
            SECTOR, SECTOR);
}

static void bad_usage(const char *why)
{
    fprintf(stderr, "odio: %s\n", why);
    usage(stderr);
    exit(2);
}

/* The one failure format tests grep for. */
static void fail(const char *why)
{
    fprintf(stderr, "odio: %s %s at %s: %s\n", op, device, offset_arg, why);
    exit(1);
}

static uint64_t parse_size(const char *s, const char *what)
{
    char *end;
    unsigned long long v;
    char msg[128];

    errno = 0;
    v = strtoull(s, &end, 10);
    if (errno || *s < '0' || *s > '9' || *end) {
        snprintf(msg, sizeof(msg), "%s must be a decimal byte count: %s", what, s);
        bad_usage(msg);
    }
    if (v % SECTOR) {
        snprintf(msg, sizeof(msg), "%s must be a multiple of %u: %s", what, SECTOR, s);
        bad_usage(msg);
    }
    return v;
}

static void *sector_buffer(size_t len)
{
    void *p;
    int err = posix_memalign(&p, ALIGN, len ? len : SECTOR);

    if (err) {
        errno = err;
        fail(strerror(errno));
    }
    return p;
}

static void write_all(int fd, const char *p, size_t len)
{
    while (len > 0) {
        ssize_t n = write(fd, p, len);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0) {
            fprintf(stderr, "odio: write to stdout: %s\n", strerror(errno));
            exit(1);
        }
        p += n;
        len -= (size_t)n;
    }
}

static int do_read(uint64_t offset, uint64_t length)
{
    size_t bufsize = length < READ_CHUNK ? (size_t)length : READ_CHUNK;
    char *buf = sector_buffer(bufsize);
    time_start();
    int fd = open(device, O_RDONLY | O_DIRECT | O_CLOEXEC);
    uint64_t done = 0;

    if (fd < 0)
        fail(strerror(errno));
    while (done < length) {
        size_t want = length - done < bufsize ? (size_t)(length - done) : bufsize;
        size_t got = 0;

        while (got < want) {
            ssize_t n = pread(fd, buf + got, want - got, (off_t)(offset + done + got));
            if (n < 0 && errno == EINTR)
                continue;
            if (n < 0)
                fail(strerror(errno));
            if (n == 0)
                fail("unexpected end of device");
            got += (size_t)n;
        }
        write_all(STDOUT_FILENO, buf, got);
        done += got;
    }
    close(fd);
    time_report();
    free(buf);
    return 0;
}

static int do_write(uint64_t offset)
{
    size_t len = 0, cap = 1u << 16, padded;
    char *data = malloc(cap), *buf;
    int fd;

    if (!data)
        fail(strerror(errno));
    for (;;) {
        ssize_t n;
        if (len == cap) {
            char *p = realloc(data, cap *= 2);
            if (!p)
                fail(strerror(errno));
            data = p;
        }
        n = read(STDIN_FILENO, data + len, cap - len);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0) {
            fprintf(stderr, "odio: read stdin: %s\n", strerror(errno));
            exit(1);
        }
        if (n == 0)
            break;
        len += (size_t)n;
    }

    /* O_DIRECT wants an aligned buffer and a whole number of sectors. */
    padded = (len + SECTOR - 1) / SECTOR * SECTOR;
    buf = sector_buffer(padded);
    memcpy(buf, data, len);
    memset(buf + len, 0, padded - len);
    free(data);

    time_start();
    fd = open(device, O_WRONLY | O_DIRECT | O_CLOEXEC);
    if (fd < 0)
        fail(strerror(errno));
    for (size_t done = 0; done < padded;) {
        ssize_t n = pwrite(fd, buf + done, padded - done, (off_t)(offset + done));
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0)
            fail(strerror(errno));
        if (n == 0)
            fail("unexpected end of device");
        done += (size_t)n;
    }
    while (fdatasync(fd) < 0)
        if (errno != EINTR)
            fail(strerror(errno));
    if (close(fd) < 0 && errno != EINTR)
        fail(strerror(errno));
    time_report();
    free(buf);
    return 0;
}

int main(int argc, char **argv)
{
    if (argc == 2 && strcmp(argv[1], "--help") == 0) {
        usage(stdout);
        return 0;
    }
    if (argc >= 2 && strcmp(argv[1], "--time") == 0) {
        report_time = true;
        argv++;
        argc--;
    }
    if (argc < 2)
        bad_usage("missing operation");
    op = argv[1];
    if (strcmp(op, "read") == 0) {
        if (argc != 5)
            bad_usage("read takes DEVICE OFFSET LENGTH");
        device = argv[2];
        offset_arg = argv[3];
        uint64_t offset = parse_size(argv[3], "OFFSET");
        uint64_t length = parse_size(argv[4], "LENGTH");
        if (offset > INT64_MAX - length)
            bad_usage("OFFSET + LENGTH is too large");
        return do_read(offset, length);
    }
    if (strcmp(op, "write") == 0) {
        if (argc != 4)
            bad_usage("write takes DEVICE OFFSET");
        device = argv[2];
        offset_arg = argv[3];
        uint64_t offset = parse_size(argv[3], "OFFSET");
        if (offset > INT64_MAX / 2)
            bad_usage("OFFSET is too large");
        return do_write(offset);
    }
    bad_usage("unknown operation");
    return 2;
}
