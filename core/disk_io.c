/* The request pipeline: check, I/O within the size rules, re-check, and the counts. */
#include "disk_io.h"

#include "duration.h"
#include "sector_io.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/falloc.h>
#include <unistd.h>

unsigned disk_request_dirs(const struct disk_request *rq)
{
    switch (rq->op) {
    case DISK_OP_READ:
        return FAULT_READ;
    case DISK_OP_FLUSH:
        return FAULT_FLUSH;
    case DISK_OP_WRITE:
        /* A synchronous write is a write and a flush: eio_flush fails its sync. */
        return FAULT_WRITE | (rq->flags & O_DSYNC ? FAULT_FLUSH : 0);
    case DISK_OP_DISCARD:
    case DISK_OP_WRITE_ZEROES:
        return FAULT_WRITE | FAULT_DISCARD;
    default:
        return FAULT_WRITE;
    }
}

static struct fault_request fault_view(const struct disk_request *rq)
{
    return (struct fault_request){
        .dir = disk_request_dirs(rq), .offset = rq->offset, .length = rq->length};
}

static void count(_Atomic uint64_t *counter, uint64_t n)
{
    atomic_fetch_add_explicit(counter, n, memory_order_relaxed);
}

void disk_request_begin(struct disk_request *rq)
{
    struct disk_stats *s = &rq->disk->stats;
    rq->began_ns = duration_now_ns();
    switch (rq->op) {
    case DISK_OP_READ:
        count(&s->reads, 1);
        break;
    case DISK_OP_WRITE:
        count(&s->writes, 1);
        if (rq->flags & O_DSYNC)
            count(&s->flushes, 1); /* a synchronous write is a write and a flush */
        break;
    case DISK_OP_DISCARD:
    case DISK_OP_WRITE_ZEROES:
        count(&s->discards, 1);
        count(&s->writes, 1);
        break;
    case DISK_OP_ALLOCATE:
        count(&s->writes, 1);
        break;
    case DISK_OP_FLUSH:
        count(&s->flushes, 1);
        break;
    }
}

uint64_t disk_request_delay_ns(struct disk_request *rq)
{
    const struct fault_request fr = fault_view(rq);
    return fault_table_delay_ns(&rq->disk->faults, &fr);
}

uint64_t disk_request_delay_now_ns(const struct disk_request *rq)
{
    const struct fault_request fr = fault_view(rq);
    return fault_table_current_delay_ns(&rq->disk->faults, &fr);
}

/* The one place an outcome is counted. */
static ssize_t request_end(struct disk_request *rq, ssize_t n)
{
    struct disk_stats *s = &rq->disk->stats;
    uint64_t took = duration_now_ns() - rq->began_ns;
    count(rq->op == DISK_OP_READ ? &s->read_ns : rq->op == DISK_OP_FLUSH ? &s->flush_ns : &s->write_ns,
          took);
    if (n < 0) {
        count(rq->op == DISK_OP_READ    ? &s->failed_reads
              : rq->op == DISK_OP_FLUSH ? &s->failed_flushes
                                        : &s->failed_writes,
              1);
    } else if (rq->op == DISK_OP_READ) {
        count(&s->read_bytes, (uint64_t)n);
    } else if (rq->op == DISK_OP_WRITE) {
        count(&s->write_bytes, (uint64_t)n);
    }
    return n;
}

void disk_request_abandon(struct disk_request *rq, int err)
{
    request_end(rq, -err);
}

/* ---- step 3, one function per kind of I/O ---- */

static ssize_t io_read(struct disk_request *rq)
{
    struct disk *disk = rq->disk;
    /* pread and splice stop at the live end of the file; only a size limit needs cutting here. */
    uint64_t limit = disk->size_limit ? disk->size_limit : UINT64_MAX;
    if (rq->read) {
        uint64_t len = rq->offset >= limit               ? 0
                       : limit - rq->offset < rq->length ? limit - rq->offset
                                                         : rq->length;
        ssize_t n = rq->read(rq, len);
        if (n != -EAGAIN && n != -EINVAL)
            return n;
    }
    if (!rq->buf)
        return -ENOMEM;
    return sector_io_read_at(disk->fd, limit, rq->buf, rq->length, rq->offset);
}

static ssize_t io_write(struct disk_request *rq)
{
    /* Past the end the image grows, as any file does (qcow2 allocates clusters so); only a size= cap refuses. */
    uint64_t cap = rq->disk->size_limit ? rq->disk->size_limit : UINT64_MAX;
    ssize_t n = sector_io_write_at(rq->disk->fd, cap, rq->data, rq->length, rq->offset);
    /* A synchronous write is acknowledged only once it is durable in the image. */
    if (n >= 0 && (rq->flags & O_DSYNC) &&
        ((rq->flags & O_SYNC) == O_SYNC ? fsync(rq->disk->fd) : fdatasync(rq->disk->fd)) < 0)
        n = -errno;
    return n;
}

static ssize_t io_fallocate(struct disk_request *rq)
{
    static const int modes[] = {
        [DISK_OP_DISCARD] = FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE,
        [DISK_OP_WRITE_ZEROES] = FALLOC_FL_ZERO_RANGE | FALLOC_FL_KEEP_SIZE,
        [DISK_OP_ALLOCATE] = 0,
    };
    uint64_t size, off = rq->offset, len = rq->length;
    int rc = disk_size(rq->disk, &size);
    if (rc == 0 && rq->op == DISK_OP_ALLOCATE && !sector_io_in_bounds(off, len, size))
        rc = -ENOSPC; /* plain allocation past the end would grow the image */
    if (rc == 0 && off < size) {
        /* Discards and write-zeroes are cut at the end: the image never grows. */
        if (len > size - off)
            len = size - off;
        if (fallocate(rq->disk->fd, modes[rq->op], (off_t)off, (off_t)len) < 0)
            rc = -errno;
    }
    return rc;
}

static ssize_t io_flush(struct disk_request *rq)
{
    return (rq->flags ? fdatasync(rq->disk->fd) : fsync(rq->disk->fd)) < 0 ? -errno : 0;
}

static ssize_t io_do(struct disk_request *rq)
{
    switch (rq->op) {
    case DISK_OP_READ:
        return io_read(rq);
    case DISK_OP_WRITE:
        return io_write(rq);
    case DISK_OP_FLUSH:
        return io_flush(rq);
    default:
        return io_fallocate(rq);
    }
}

ssize_t disk_request_run(struct disk_request *rq)
{
    const struct fault_request fr = fault_view(rq);
    uint64_t seen;
    ssize_t rc = fault_table_check(&rq->disk->faults, &fr, &seen);
    if (rc < 0)
        return request_end(rq, rc);
    rc = disk_io_enter(rq->disk);
    if (rc < 0)
        return request_end(rq, rc);
    ssize_t n = io_do(rq);
    disk_io_leave(rq->disk);
    if (n >= 0 && (rc = fault_table_recheck(&rq->disk->faults, &fr, seen)) < 0)
        n = rc; /* switched on during the I/O: fails it still, though the bytes moved */
    return request_end(rq, n);
}
