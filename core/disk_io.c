/* The request pipeline: check, I/O within the size rules, re-check, and the counts. */
#include "disk_io.h"

#include "duration.h"
#include "sector_io.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/falloc.h>
#include <stdlib.h>
#include <string.h>
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
    return (struct fault_request){.dir = disk_request_dirs(rq),
                                  .offset = rq->offset,
                                  .length = rq->length,
                                  .errors_only = rq->stored};
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

static const char *op_name(enum disk_op op)
{
    static const char *const names[] = {
        [DISK_OP_READ] = "read",          [DISK_OP_WRITE] = "write",
        [DISK_OP_DISCARD] = "discard",    [DISK_OP_WRITE_ZEROES] = "write_zeroes",
        [DISK_OP_ALLOCATE] = "allocate",  [DISK_OP_FLUSH] = "flush",
    };
    return names[op];
}

/* The one place an outcome is counted (and traced). */
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
    const struct fault_verdict *v = &rq->verdict;
    io_trace_request(&rq->disk->trace,
                     &(struct io_trace_request){.op = op_name(rq->op),
                                                .offset = rq->offset,
                                                .length = rq->length,
                                                .result = n,
                                                .rule = v->mode ? v->mode->name : NULL,
                                                .rule_id = v->rule_id,
                                                .stored = rq->stored});
    return n;
}

void disk_request_abandon(struct disk_request *rq, int err)
{
    request_end(rq, -err);
}

/* ---- data faults ---- */

/* The effect step 3 applies to RQ's bytes, if any. */
static enum fault_effect data_effect(const struct disk_request *rq)
{
    if (rq->stored || !rq->verdict.mode)
        return FAULT_EFFECT_ERROR; /* none */
    return rq->verdict.mode->effect;
}

/* Byte window [*FROM, *TO) of verdict range I within [OFF, OFF + LEN); false if empty. */
static bool range_window(const struct fault_verdict *v, size_t i, uint64_t off, uint64_t len,
                         uint64_t *from, uint64_t *to)
{
    uint64_t lo = v->ranges[i].first * 512, hi = v->ranges[i].last * 512 + 512;
    *from = lo > off ? lo : off;
    *to = hi < off + len ? hi : off + len;
    return *from < *to;
}

static uint64_t gcd(uint64_t a, uint64_t b)
{
    while (b) {
        uint64_t t = a % b;
        a = b;
        b = t;
    }
    return a;
}

/*
 * Flips the verdict's bits in BYTES, which hold [OFF, OFF + LEN): only in
 * the rule's sectors, each bit at most once, at positions its draw decides.
 */
static void flip_bits(const struct fault_verdict *v, unsigned char *bytes, uint64_t off,
                      uint64_t len)
{
    uint64_t from[FAULT_RULE_MAX_RANGES + 1], to[FAULT_RULE_MAX_RANGES + 1], total = 0;
    size_t n = 0;
    if (v->nranges == 0) {
        from[0] = off;
        to[0] = off + len;
        n = len ? 1 : 0;
    }
    for (size_t i = 0; i < v->nranges; i++) {
        if (range_window(v, i, off, len, &from[n], &to[n]))
            n++;
    }
    for (size_t i = 0; i < n; i++)
        total += (to[i] - from[i]) * 8;
    if (total == 0)
        return;
    /* Start + k * stride, stride prime to total: distinct positions for k < total. */
    uint64_t start = fault_sequence(v->draw, 0) % total;
    uint64_t stride = fault_sequence(v->draw, 1) % total | 1;
    while (gcd(stride, total) != 1)
        stride++;
    uint64_t flips = v->bits < total ? v->bits : total;
    for (uint64_t k = 0; k < flips; k++) {
        uint64_t bit = (uint64_t)(((unsigned __int128)k * stride + start) % total);
        size_t w = 0;
        while (bit >= (to[w] - from[w]) * 8) {
            bit -= (to[w] - from[w]) * 8;
            w++;
        }
        bytes[from[w] - off + bit / 8] ^= (unsigned char)(1u << (bit % 8));
    }
}

/* ---- step 3, one function per kind of I/O ---- */

static ssize_t io_read(struct disk_request *rq)
{
    struct disk *disk = rq->disk;
    bool corrupt = data_effect(rq) == FAULT_EFFECT_CORRUPT;
    bool cached = !rq->stored && write_cache_busy(&disk->cache);
    /* pread and splice stop at the live end of the file; only a size limit needs cutting here. */
    uint64_t limit = disk->size_limit ? disk->size_limit : UINT64_MAX;
    if (rq->read && !corrupt && !cached) {
        uint64_t len = rq->offset >= limit               ? 0
                       : limit - rq->offset < rq->length ? limit - rq->offset
                                                         : rq->length;
        ssize_t n = rq->read(rq, len);
        if (n != -EAGAIN && n != -EINVAL)
            return n;
    }
    if (!rq->buf && rq->buffer)
        rq->buf = rq->buffer(rq);
    if (!rq->buf)
        return -ENOMEM;
    ssize_t n = cached ? write_cache_read(&disk->cache, disk->fd, limit, rq->buf, rq->length,
                                          rq->offset)
                       : sector_io_read_at(disk->fd, limit, rq->buf, rq->length, rq->offset);
    if (n > 0 && corrupt)
        flip_bits(&rq->verdict, rq->buf, rq->offset, (uint64_t)n);
    return n;
}

/* fault_mended_fn: sectors mended by a write the cache holds are bad again if a power cut loses it. */
static void mended_in_cache(void *ctx, uint64_t first, uint64_t last, int error)
{
    write_cache_note_mended(ctx, first, last, error);
}

/* Stores LEN bytes of DATA at OFF, in the volatile cache when it is on; mends bad sectors. */
static ssize_t store(struct disk_request *rq, const void *data, size_t len, uint64_t off)
{
    struct disk *disk = rq->disk;
    bool sync = rq->flags & O_DSYNC, cached = false;
    ssize_t n;
    if (!write_cache_busy(&disk->cache))
        n = sector_io_pwrite_full(disk->fd, data, len, off);
    else if (sync || rq->stored)
        n = write_cache_write_through(&disk->cache, disk->fd, data, len, off);
    else
        n = write_cache_write(&disk->cache, disk->fd, data, len, off, &cached);
    if (n > 0) {
        int64_t mended = fault_table_heal(&disk->faults, off, (uint64_t)n,
                                          cached ? mended_in_cache : NULL, &disk->cache);
        if (mended > 0)
            count(&disk->stats.healed_sectors, (uint64_t)mended);
    }
    return n;
}

/* Stores the parts of the write outside the verdict's sectors: a drop_write limited to some. */
static ssize_t store_outside(struct disk_request *rq)
{
    const struct fault_verdict *v = &rq->verdict;
    uint64_t at = rq->offset, end = rq->offset + rq->length;
    for (size_t i = 0; i <= v->nranges && v->nranges; i++) {
        uint64_t from = end, to = end;
        if (i < v->nranges)
            range_window(v, i, rq->offset, rq->length, &from, &to);
        if (from > at) {
            ssize_t n = store(rq, (const char *)rq->data + (at - rq->offset), from - at, at);
            if (n < 0)
                return n;
        }
        at = to > at ? to : at;
    }
    return 0;
}

static ssize_t io_write(struct disk_request *rq)
{
    /* Past the end the image grows, as any file does (qcow2 allocates clusters so); only a size= cap refuses. */
    uint64_t cap = rq->disk->size_limit ? rq->disk->size_limit : UINT64_MAX;
    if (!sector_io_in_bounds(rq->offset, rq->length, cap))
        return -ENOSPC;
    const struct fault_verdict *v = &rq->verdict;
    ssize_t n = 0;
    switch (data_effect(rq)) {
    case FAULT_EFFECT_DROP:
        n = store_outside(rq); /* acknowledged whole, stored nowhere in the rule's sectors */
        break;
    case FAULT_EFFECT_TEAR: {
        uint64_t sectors = (rq->length + 511) / 512;
        uint64_t keep = (v->keep ? v->keep : sectors / 2) * 512;
        if (keep > rq->length)
            keep = rq->length;
        n = keep ? store(rq, rq->data, keep, rq->offset) : 0;
        if (n >= 0 && v->error)
            return v->error; /* torn, then failed, as errno= says */
        break;
    }
    case FAULT_EFFECT_CORRUPT: {
        unsigned char *bytes = malloc(rq->length ? rq->length : 1);
        if (!bytes)
            return -ENOMEM;
        memcpy(bytes, rq->data, rq->length);
        flip_bits(v, bytes, rq->offset, rq->length);
        n = store(rq, bytes, rq->length, rq->offset);
        free(bytes);
        break;
    }
    default:
        n = store(rq, rq->data, rq->length, rq->offset);
        break;
    }
    if (n < 0)
        return n;
    n = (ssize_t)rq->length;
    /* A synchronous write is acknowledged only once it is durable in the image. */
    if ((rq->flags & O_DSYNC) &&
        ((rq->flags & O_SYNC) == O_SYNC ? fsync(rq->disk->fd) : fdatasync(rq->disk->fd)) < 0)
        n = -errno;
    return n;
}

static ssize_t io_fallocate(struct disk_request *rq)
{
    /* A discard never changes the size; the others do past the end unless KEEP_SIZE says not. */
    bool keep = rq->op == DISK_OP_DISCARD || (rq->flags & FALLOC_FL_KEEP_SIZE);
    int mode = rq->op == DISK_OP_DISCARD        ? FALLOC_FL_PUNCH_HOLE
               : rq->op == DISK_OP_WRITE_ZEROES ? FALLOC_FL_ZERO_RANGE
                                                : 0;
    uint64_t size, off = rq->offset, len = rq->length;
    int rc = disk_size(rq->disk, &size);
    if (rc == 0 && !keep) {
        /* As for any file, the image grows, up to a size= cap. */
        uint64_t cap = rq->disk->size_limit ? rq->disk->size_limit : UINT64_MAX;
        if (!sector_io_in_bounds(off, len, cap))
            rc = -ENOSPC;
    } else if (rc == 0) {
        /* KEEP_SIZE: what lies past the end is left alone. */
        len = off >= size ? 0 : len > size - off ? size - off : len;
        mode |= FALLOC_FL_KEEP_SIZE;
    }
    if (rc == 0 && len && fallocate(rq->disk->fd, mode, (off_t)off, (off_t)len) < 0)
        rc = -errno;
    /* They go straight to the image: what the cache holds there is zeroed too. */
    if (rc == 0 && len && rq->op != DISK_OP_ALLOCATE)
        write_cache_zero(&rq->disk->cache, off, len);
    if (rc == 0 && len && rq->op == DISK_OP_WRITE_ZEROES) {
        int64_t mended = fault_table_heal(&rq->disk->faults, off, len, NULL, NULL);
        if (mended > 0)
            count(&rq->disk->stats.healed_sectors, (uint64_t)mended);
    }
    return rc;
}

static ssize_t io_flush(struct disk_request *rq)
{
    struct disk *disk = rq->disk;
    if (!rq->stored && write_cache_busy(&disk->cache))
        return write_cache_flush(&disk->cache, disk->fd, rq->flags != 0);
    return (rq->flags ? fdatasync(disk->fd) : fsync(disk->fd)) < 0 ? -errno : 0;
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
    ssize_t rc = fault_table_decide(&rq->disk->faults, &fr, &seen, &rq->verdict);
    /* An error rule fails the request here; a torn write fails only once it is torn. */
    if (rc < 0 && rq->verdict.mode->effect != FAULT_EFFECT_TEAR)
        return request_end(rq, rc);
    rc = disk_io_enter(rq->disk);
    if (rc < 0)
        return request_end(rq, rc);
    ssize_t n = io_do(rq);
    disk_io_leave(rq->disk);
    if (n >= 0 && (rc = fault_table_recheck(&rq->disk->faults, &fr, seen, &rq->verdict)) < 0)
        n = rc; /* switched on during the I/O: fails it still, though the bytes moved */
    return request_end(rq, n);
}
