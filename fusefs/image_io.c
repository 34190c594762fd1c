/*
 * The guest data path of ID/image: reads, writes, discards and flushes.
 *
 * Every read and write follows the seed's order (fault_pipeline.h). A slow
 * fault does not sleep in a FUSE thread: the request is parked on the delay
 * queue and finished by one of its workers, so the threads, and the kernel's
 * queue of background requests, keep serving the other disks.
 */
#include "faultfs.h"

#include "fault_pipeline.h"
#include "sector_io.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/falloc.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <unistd.h>

/*
 * Reads from this size on are spliced: image pages go into a pipe by
 * reference and the kernel copies them once, straight into the reader's
 * buffer, instead of once into ours and once more out of it.
 */
#define IMAGE_SPLICE_MIN (32 * 1024)
#define IMAGE_PAGE 4096 /* a pipe holds pages: an unaligned read spans one more */

/* ---- the I/O step of each request ---- */

static struct fault_table *disk_fault_table(void *ctx, int *err)
{
    (void)err;
    return &((struct disk *)ctx)->faults;
}

struct image_io {
    struct disk *disk;
    char *buf;
    size_t size;
    off_t off;
    int mode;     /* fallocate */
    off_t length; /* fallocate */
    int flags;    /* write: O_DSYNC / O_SYNC ask for the bytes to be durable first */
    int pipe[2];  /* reads: the thread's pipe to splice into; -1 to read into buf */
    bool spliced; /* reads: the bytes are in pipe[0] */
};

/* Splices [off, off + len) into the pipe: bytes, or -errno with the pipe discarded. */
static ssize_t image_splice(struct image_io *io, size_t len)
{
    size_t done = 0;
    while (done < len) {
        loff_t at = io->off + (off_t)done;
        ssize_t n = splice(io->disk->fd, &at, io->pipe[1], NULL, len - done, SPLICE_F_NONBLOCK);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0) {
            int err = errno;
            reply_pipe_discard();
            return -err;
        }
        if (n == 0)
            break; /* the live end of the file */
        done += (size_t)n;
    }
    return (ssize_t)done;
}

static ssize_t image_do_read(void *ctx)
{
    struct image_io *io = ctx;
    int rc = disk_io_enter(io->disk);
    if (rc < 0)
        return rc;
    /* pread and splice stop at the live end of the file; only a size limit needs cutting here. */
    uint64_t limit = io->disk->size_limit ? io->disk->size_limit : UINT64_MAX;
    uint64_t off = (uint64_t)io->off;
    ssize_t n = -EINVAL;
    if (io->pipe[1] >= 0) {
        size_t len = io->size;
        if (off >= limit)
            len = 0;
        else if (limit - off < len)
            len = (size_t)(limit - off);
        n = image_splice(io, len);
        io->spliced = n >= 0;
    }
    /* EINVAL: no splice from this file; EAGAIN: more pages than the pipe holds. */
    if (n == -EINVAL || n == -EAGAIN) {
        io->buf = reply_buffer_get(io->size);
        n = io->buf ? sector_io_read_at(io->disk->fd, limit, io->buf, io->size, off) : -ENOMEM;
    }
    disk_io_leave(io->disk);
    return n;
}

static ssize_t image_do_write(void *ctx)
{
    struct image_io *io = ctx;
    uint64_t size;
    int rc = disk_io_enter(io->disk);
    if (rc < 0)
        return rc;
    ssize_t n = disk_size(io->disk, &size);
    if (n == 0)
        n = sector_io_write_at(io->disk->fd, size, io->buf, io->size, (uint64_t)io->off);
    /* A synchronous write is acknowledged only once it is durable in the image. */
    if (n >= 0 && (io->flags & O_DSYNC)) {
        atomic_fetch_add_explicit(&io->disk->stats.flushes, 1, memory_order_relaxed);
        if (((io->flags & O_SYNC) == O_SYNC ? fsync(io->disk->fd) : fdatasync(io->disk->fd)) < 0)
            n = -errno;
    }
    disk_io_leave(io->disk);
    return n;
}

static ssize_t image_do_fallocate(void *ctx)
{
    struct image_io *io = ctx;
    uint64_t size;
    int rc = disk_io_enter(io->disk);
    if (rc < 0)
        return rc;
    rc = disk_size(io->disk, &size);
    uint64_t off = (uint64_t)io->off, len = (uint64_t)io->length;
    if (rc == 0 && io->mode == 0 && !sector_io_in_bounds(off, len, size))
        rc = -ENOSPC; /* plain allocation past the end would grow the image */
    if (rc == 0 && off < size) {
        /* Discards and write-zeroes are cut at the end: the image never grows. */
        if (len > size - off)
            len = size - off;
        if (fallocate(io->disk->fd, io->mode, (off_t)off, (off_t)len) < 0)
            rc = -errno;
    }
    disk_io_leave(io->disk);
    return rc;
}

/* ---- finishing a request: steps 2-4, the counters and the one reply ---- */

static ssize_t image_finish(struct disk *disk, enum fault_dir dir, fault_io_fn fn,
                            struct image_io *io)
{
    const struct fault_source src = {.table = disk_fault_table, .ctx = disk};
    const struct fault_request rq = {.dir = dir, .offset = (uint64_t)io->off, .length = io->size};
    return fault_pipeline_finish(&src, &rq, fn, io);
}

/* Replies with the N bytes spliced into the thread's pipe and leaves the pipe empty. */
static void reply_spliced(fuse_req_t req, const struct image_io *io, size_t n)
{
    struct fuse_bufvec data = FUSE_BUFVEC_INIT(n);
    int left = 0;
    data.buf[0].flags = FUSE_BUF_IS_FD;
    data.buf[0].fd = io->pipe[0];
    if (fuse_reply_data(req, &data, 0) != 0 || ioctl(io->pipe[0], FIONREAD, &left) < 0 || left != 0)
        reply_pipe_discard();
}

static void finish_read(fuse_req_t req, struct disk *disk, size_t size, off_t off)
{
    struct image_io io = {.disk = disk, .size = size, .off = off, .pipe = {-1, -1}};
    if (size >= IMAGE_SPLICE_MIN && size <= FAULTFS_MAX_READ && faultfs_of(req)->splice_replies &&
        reply_pipe_get(size + IMAGE_PAGE, io.pipe) < 0)
        io.pipe[0] = io.pipe[1] = -1;
    if (io.pipe[1] < 0 && !(io.buf = reply_buffer_get(size))) {
        atomic_fetch_add_explicit(&disk->stats.failed_reads, 1, memory_order_relaxed);
        fuse_reply_err(req, ENOMEM);
        return;
    }
    ssize_t n = image_finish(disk, FAULT_READ, image_do_read, &io);
    if (n < 0) {
        if (io.spliced)
            reply_pipe_discard(); /* a fault after the I/O: the bytes stay unsent */
        atomic_fetch_add_explicit(&disk->stats.failed_reads, 1, memory_order_relaxed);
        fuse_reply_err(req, (int)-n);
        return;
    }
    atomic_fetch_add_explicit(&disk->stats.read_bytes, (uint64_t)n, memory_order_relaxed);
    if (io.spliced)
        reply_spliced(req, &io, (size_t)n);
    else
        fuse_reply_buf(req, io.buf, (size_t)n);
}

static void finish_write(fuse_req_t req, struct disk *disk, const char *buf, size_t size,
                         off_t off, int flags)
{
    struct image_io io = {
        .disk = disk, .buf = (char *)buf, .size = size, .off = off, .flags = flags};
    ssize_t n = image_finish(disk, FAULT_WRITE, image_do_write, &io);
    if (n < 0) {
        atomic_fetch_add_explicit(&disk->stats.failed_writes, 1, memory_order_relaxed);
        fuse_reply_err(req, (int)-n);
        return;
    }
    atomic_fetch_add_explicit(&disk->stats.write_bytes, (uint64_t)n, memory_order_relaxed);
    fuse_reply_write(req, (size_t)n);
}

static void finish_fallocate(fuse_req_t req, struct disk *disk, int mode, off_t off, off_t length)
{
    struct image_io io = {
        .disk = disk, .off = off, .size = (size_t)length, .mode = mode, .length = length};
    ssize_t rc = image_finish(disk, FAULT_WRITE, image_do_fallocate, &io);
    if (rc < 0)
        atomic_fetch_add_explicit(&disk->stats.failed_writes, 1, memory_order_relaxed);
    fuse_reply_err(req, rc < 0 ? (int)-rc : 0);
}

/* ---- requests held back by a slow fault (parking.c) ---- */

enum held_op { HELD_READ, HELD_WRITE, HELD_FALLOCATE };

struct held_request {
    struct parked base; /* first */
    enum held_op op;
    int mode;  /* fallocate */
    int flags; /* write: O_DSYNC / O_SYNC */
    char data[]; /* HELD_WRITE: the bytes; libfuse reuses its buffer once we return */
};

static void held_finish(struct parked *base)
{
    struct held_request *h = (struct held_request *)base;
    off_t off = (off_t)base->rq.offset;
    switch (h->op) {
    case HELD_READ:
        finish_read(base->req, base->disk, base->rq.length, off);
        break;
    case HELD_WRITE:
        finish_write(base->req, base->disk, h->data, base->rq.length, off, h->flags);
        break;
    case HELD_FALLOCATE:
        finish_fallocate(base->req, base->disk, h->mode, off, (off_t)base->rq.length);
        break;
    }
}

/* Parks RQ for DELAY_NS; 0, or -errno and the caller replies. */
static int hold(fuse_req_t req, struct disk *disk, uint64_t delay_ns, enum held_op op,
                const struct fault_request *rq, const char *data, int mode, int flags)
{
    struct faultfs *fs = faultfs_of(req);
    size_t bytes = op == HELD_WRITE ? rq->length : 0;
    int rc = parking_reserve(fs, req, bytes);
    if (rc < 0)
        return rc;
    struct held_request *h = malloc(sizeof *h + bytes);
    if (!h) {
        parking_unreserve(fs, bytes);
        return -ENOMEM;
    }
    *h = (struct held_request){
        .base = {.fs = fs, .req = req, .disk = disk, .rq = *rq, .bytes = bytes,
                 .finish = held_finish},
        .op = op,
        .mode = mode,
        .flags = flags,
    };
    if (bytes)
        memcpy(h->data, data, bytes);
    disk_ref(disk);
    rc = parking_hold(&h->base, delay_ns);
    if (rc < 0)
        parking_discard(&h->base);
    return rc;
}

/* ---- entry points ---- */

/* Runs RQ now, or parks it when a slow fault delays it; the one reply comes either way. */
static bool parked(fuse_req_t req, struct disk *disk, enum held_op op,
                   const struct fault_request *rq, const char *data, int mode, int flags)
{
    uint64_t delay = fault_table_delay_ns(&disk->faults, rq);
    if (!delay)
        return false;
    int rc = hold(req, disk, delay, op, rq, data, mode, flags);
    if (rc < 0) {
        atomic_fetch_add_explicit(op == HELD_READ ? &disk->stats.failed_reads
                                                  : &disk->stats.failed_writes,
                                  1, memory_order_relaxed);
        fuse_reply_err(req, -rc);
    }
    return true;
}

void image_io_read(fuse_req_t req, struct disk *disk, size_t size, off_t off)
{
    const struct fault_request rq = {.dir = FAULT_READ, .offset = (uint64_t)off, .length = size};
    atomic_fetch_add_explicit(&disk->stats.reads, 1, memory_order_relaxed);
    if (!parked(req, disk, HELD_READ, &rq, NULL, 0, 0))
        finish_read(req, disk, size, off);
}

void image_io_write(fuse_req_t req, struct disk *disk, const char *buf, size_t size, off_t off,
                    int flags)
{
    const struct fault_request rq = {.dir = FAULT_WRITE, .offset = (uint64_t)off, .length = size};
    atomic_fetch_add_explicit(&disk->stats.writes, 1, memory_order_relaxed);
    if (!parked(req, disk, HELD_WRITE, &rq, buf, 0, flags))
        finish_write(req, disk, buf, size, off, flags);
}

void image_io_fallocate(fuse_req_t req, struct disk *disk, int mode, off_t off, off_t length)
{
    /* What QEMU sends for discard and write-zeroes, plus plain preallocation inside the image. */
    const int punch = FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE;
    if (mode != 0 && mode != punch && (mode & ~FALLOC_FL_KEEP_SIZE) != FALLOC_FL_ZERO_RANGE) {
        fuse_reply_err(req, EOPNOTSUPP);
        return;
    }
    if (off < 0 || length <= 0) {
        fuse_reply_err(req, EINVAL);
        return;
    }
    const struct fault_request rq = {
        .dir = FAULT_WRITE, .offset = (uint64_t)off, .length = (uint64_t)length};
    atomic_fetch_add_explicit(&disk->stats.writes, 1, memory_order_relaxed);
    if (mode != 0)
        atomic_fetch_add_explicit(&disk->stats.discards, 1, memory_order_relaxed);
    if (!parked(req, disk, HELD_FALLOCATE, &rq, NULL, mode, 0))
        finish_fallocate(req, disk, mode, off, length);
}

void image_io_fsync(fuse_req_t req, struct disk *disk, int datasync)
{
    atomic_fetch_add_explicit(&disk->stats.flushes, 1, memory_order_relaxed);
    int rc = disk_io_enter(disk);
    if (rc == 0) {
        if ((datasync ? fdatasync(disk->fd) : fsync(disk->fd)) < 0)
            rc = -errno;
        disk_io_leave(disk);
    }
    fuse_reply_err(req, -rc);
}
