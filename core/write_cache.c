/* The volatile write cache: 4 KiB blocks in a hash by block number, written back on flush. */
#include "write_cache.h"

#include "fault_rule.h"
#include "sector_io.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define SECTORS_PER_BLOCK (WRITE_CACHE_BLOCK / 512)

struct write_cache_block {
    uint64_t number; /* byte offset / WRITE_CACHE_BLOCK */
    bool kept;       /* a power cut stored it */
    uint8_t mended;  /* its sectors that were bad until a write it holds */
    int mended_error;
    unsigned char data[WRITE_CACHE_BLOCK];
};

int write_cache_init(struct write_cache *wc)
{
    memset(wc, 0, sizeof *wc);
    atomic_init(&wc->engaged, false);
    int rc = pthread_mutex_init(&wc->lock, NULL);
    return rc ? -rc : 0;
}

static void cache_drop_all(struct write_cache *wc)
{
    for (size_t i = 0; i < wc->nslots; i++)
        free(wc->slots[i]);
    free(wc->slots);
    wc->slots = NULL;
    wc->nslots = wc->count = 0;
    wc->end = 0;
}

void write_cache_destroy(struct write_cache *wc)
{
    cache_drop_all(wc);
    pthread_mutex_destroy(&wc->lock);
}

static void cache_update_engaged(struct write_cache *wc)
{
    atomic_store_explicit(&wc->engaged, wc->limit > 0 || wc->count > 0, memory_order_release);
}

bool write_cache_busy(struct write_cache *wc)
{
    return atomic_load_explicit(&wc->engaged, memory_order_acquire);
}

/* ---- the hash: linear probing; blocks go only all at once, so no tombstones ---- */

static size_t slot_of(const struct write_cache *wc, uint64_t number)
{
    uint64_t h = number * 0x9e3779b97f4a7c15ull;
    return (size_t)(h >> 17) & (wc->nslots - 1);
}

static struct write_cache_block *cache_find(const struct write_cache *wc, uint64_t number)
{
    if (!wc->nslots)
        return NULL;
    for (size_t i = slot_of(wc, number);; i = (i + 1) & (wc->nslots - 1)) {
        if (!wc->slots[i] || wc->slots[i]->number == number)
            return wc->slots[i];
    }
}

static void cache_put(struct write_cache *wc, struct write_cache_block *b)
{
    size_t i = slot_of(wc, b->number);
    while (wc->slots[i])
        i = (i + 1) & (wc->nslots - 1);
    wc->slots[i] = b;
    wc->count++;
}

/* Room for N more blocks at a load of at most a half. */
static int cache_reserve(struct write_cache *wc, size_t n)
{
    if ((wc->count + n) * 2 <= wc->nslots)
        return 0;
    size_t want = wc->nslots ? wc->nslots : 64;
    while ((wc->count + n) * 2 > want)
        want *= 2;
    struct write_cache_block **old = wc->slots;
    size_t nold = wc->nslots;
    wc->slots = calloc(want, sizeof *wc->slots);
    if (!wc->slots) {
        wc->slots = old;
        return -ENOMEM;
    }
    wc->nslots = want;
    wc->count = 0;
    for (size_t i = 0; i < nold; i++) {
        if (old[i])
            cache_put(wc, old[i]);
    }
    free(old);
    return 0;
}

/* ---- switching ---- */

/* Writes block B to FD, cut at the cache's end. Caller holds the lock. */
static int block_store(const struct write_cache *wc, int fd, const struct write_cache_block *b)
{
    uint64_t at = b->number * WRITE_CACHE_BLOCK;
    size_t len = WRITE_CACHE_BLOCK;
    if (at >= wc->end)
        return 0;
    if (wc->end - at < len)
        len = (size_t)(wc->end - at);
    ssize_t n = sector_io_pwrite_full(fd, b->data, len, at);
    return n < 0 ? (int)n : 0;
}

static int cache_write_back(struct write_cache *wc, int fd, bool datasync)
{
    for (size_t i = 0; i < wc->nslots; i++) {
        int rc = wc->slots[i] ? block_store(wc, fd, wc->slots[i]) : 0;
        if (rc < 0)
            return rc;
    }
    if ((datasync ? fdatasync(fd) : fsync(fd)) < 0)
        return -errno;
    cache_drop_all(wc);
    return 0;
}

int write_cache_set_limit(struct write_cache *wc, int fd, uint64_t limit)
{
    int rc = 0;
    pthread_mutex_lock(&wc->lock);
    wc->limit = limit;
    if (!limit && wc->count)
        rc = cache_write_back(wc, fd, true);
    cache_update_engaged(wc);
    pthread_mutex_unlock(&wc->lock);
    return rc;
}

int write_cache_flush(struct write_cache *wc, int fd, bool datasync)
{
    pthread_mutex_lock(&wc->lock);
    int rc = cache_write_back(wc, fd, datasync);
    cache_update_engaged(wc);
    pthread_mutex_unlock(&wc->lock);
    return rc;
}

static int block_cmp(const void *a, const void *b)
{
    const struct write_cache_block *x = *(struct write_cache_block *const *)a;
    const struct write_cache_block *y = *(struct write_cache_block *const *)b;
    return x->number < y->number ? -1 : x->number > y->number;
}

/* Writes KEEP of the blocks held, a seeded choice among them sorted by number. */
static int cache_keep_some(struct write_cache *wc, int fd, uint64_t keep, uint64_t seed)
{
    struct write_cache_block **blocks = malloc((wc->count ? wc->count : 1) * sizeof *blocks);
    size_t n = 0;
    if (!blocks)
        return -ENOMEM;
    for (size_t i = 0; i < wc->nslots; i++) {
        if (wc->slots[i])
            blocks[n++] = wc->slots[i];
    }
    /* Sorted first, so the choice depends on the seed and the blocks, not on the hash. */
    qsort(blocks, n, sizeof *blocks, block_cmp);
    int rc = 0;
    for (size_t i = 0; i < keep && i < n && rc == 0; i++) {
        size_t pick = i + (size_t)(fault_sequence(seed, i) % (n - i));
        struct write_cache_block *t = blocks[i];
        blocks[i] = blocks[pick];
        blocks[pick] = t;
        rc = block_store(wc, fd, blocks[i]);
        blocks[i]->kept = true;
    }
    if (rc == 0 && keep && n && fdatasync(fd) < 0)
        rc = -errno;
    free(blocks);
    return rc;
}

static int run_cmp(const void *a, const void *b)
{
    const struct write_cache_run *x = a, *y = b;
    if (x->error != y->error)
        return x->error < y->error ? -1 : 1;
    return x->first < y->first ? -1 : x->first > y->first;
}

/* The mended sectors of the blocks a power cut drops, as runs. Caller holds the lock. */
static void cache_unmended(const struct write_cache *wc, struct write_cache_unmended *out)
{
    size_t cap = 0;
    *out = (struct write_cache_unmended){0};
    for (size_t i = 0; i < wc->nslots; i++) {
        const struct write_cache_block *b = wc->slots[i];
        if (!b || b->kept || !b->mended)
            continue;
        for (unsigned s = 0; s < SECTORS_PER_BLOCK; s++) {
            if (!(b->mended & (1u << s)))
                continue;
            uint64_t sector = b->number * SECTORS_PER_BLOCK + s;
            struct write_cache_run *last = out->count ? &out->runs[out->count - 1] : NULL;
            if (last && last->last + 1 == sector && last->error == b->mended_error) {
                last->last = sector;
                continue;
            }
            if (out->count == cap) {
                cap = cap ? cap * 2 : 16;
                struct write_cache_run *grown = realloc(out->runs, cap * sizeof *grown);
                if (!grown)
                    return; /* out of memory: those sectors stay mended */
                out->runs = grown;
            }
            out->runs[out->count++] =
                (struct write_cache_run){.first = sector, .last = sector, .error = b->mended_error};
        }
    }
    if (out->count)
        qsort(out->runs, out->count, sizeof *out->runs, run_cmp);
}

int64_t write_cache_powercut(struct write_cache *wc, int fd, uint64_t keep, uint64_t seed,
                             struct write_cache_unmended *unmended)
{
    pthread_mutex_lock(&wc->lock);
    uint64_t kept = keep < wc->count ? keep : wc->count;
    int rc = kept ? cache_keep_some(wc, fd, kept, seed) : 0;
    cache_unmended(wc, unmended);
    uint64_t lost = (uint64_t)(wc->count - kept) * WRITE_CACHE_BLOCK;
    cache_drop_all(wc);
    wc->powercuts++;
    wc->lost_bytes += lost;
    cache_update_engaged(wc);
    pthread_mutex_unlock(&wc->lock);
    return rc < 0 ? rc : (int64_t)lost;
}

/* ---- data ---- */

enum cache_copy {
    COPY_INTO_CACHE, /* the bytes over the blocks held */
    COPY_ZEROES,     /* zeros over the blocks held */
    COPY_OUT,        /* the blocks held over the bytes */
};

/* Block B's part of [OFF, OFF + LEN), whose bytes are BYTES, copied as HOW says. */
static void block_copy(struct write_cache_block *b, enum cache_copy how, unsigned char *bytes,
                       uint64_t len, uint64_t off)
{
    uint64_t at = b->number * WRITE_CACHE_BLOCK;
    uint64_t lo = at > off ? at : off;
    uint64_t hi = at + WRITE_CACHE_BLOCK < off + len ? at + WRITE_CACHE_BLOCK : off + len;
    if (how == COPY_INTO_CACHE)
        memcpy(b->data + (lo - at), bytes + (lo - off), hi - lo);
    else if (how == COPY_ZEROES)
        memset(b->data + (lo - at), 0, hi - lo);
    else
        memcpy(bytes + (lo - off), b->data + (lo - at), hi - lo);
}

/* Copies between [OFF, OFF + LEN) and the blocks held that it touches. */
static void cache_copy(struct write_cache *wc, enum cache_copy how, unsigned char *bytes,
                       uint64_t len, uint64_t off)
{
    if (!wc->count || !len)
        return;
    uint64_t first = off / WRITE_CACHE_BLOCK, last = (off + len - 1) / WRITE_CACHE_BLOCK;
    if (last - first >= wc->nslots) {
        /* A long range and few blocks: walk the blocks instead of the range. */
        for (size_t i = 0; i < wc->nslots; i++) {
            struct write_cache_block *b = wc->slots[i];
            if (b && b->number >= first && b->number <= last)
                block_copy(b, how, bytes, len, off);
        }
        return;
    }
    for (uint64_t n = first; n <= last; n++) {
        struct write_cache_block *b = cache_find(wc, n);
        if (b)
            block_copy(b, how, bytes, len, off);
    }
}

/* Stores into the cache; the caller holds the lock and the cache is on. */
static ssize_t cache_store(struct write_cache *wc, int fd, const void *data, size_t len,
                           uint64_t off)
{
    uint64_t first = off / WRITE_CACHE_BLOCK, last = (off + len - 1) / WRITE_CACHE_BLOCK;
    size_t missing = 0;
    for (uint64_t n = first; n <= last; n++)
        missing += cache_find(wc, n) == NULL;
    if ((wc->count + missing) * (uint64_t)WRITE_CACHE_BLOCK > wc->limit) {
        wc->full++;
        return -ENOSPC;
    }
    if (cache_reserve(wc, missing) < 0)
        return -ENOMEM;
    for (uint64_t n = first; n <= last; n++) {
        if (cache_find(wc, n))
            continue;
        struct write_cache_block *b = malloc(sizeof *b);
        if (!b)
            return -ENOMEM; /* the blocks added so far hold the image's bytes: harmless */
        b->number = n;
        b->kept = false;
        b->mended = 0;
        b->mended_error = 0;
        uint64_t at = n * WRITE_CACHE_BLOCK;
        /* A block the write covers whole needs nothing from the image. */
        if (at < off || at + WRITE_CACHE_BLOCK > off + len) {
            ssize_t got = sector_io_pread_full(fd, b->data, WRITE_CACHE_BLOCK, at);
            if (got < 0) {
                free(b);
                return got;
            }
            memset(b->data + got, 0, WRITE_CACHE_BLOCK - (size_t)got);
        }
        cache_put(wc, b);
    }
    cache_copy(wc, COPY_INTO_CACHE, (unsigned char *)data, len, off);
    if (off + len > wc->end)
        wc->end = off + len;
    return (ssize_t)len;
}

ssize_t write_cache_write(struct write_cache *wc, int fd, const void *data, size_t len,
                          uint64_t off, bool *cached)
{
    ssize_t n;
    *cached = false;
    if (!len)
        return 0;
    pthread_mutex_lock(&wc->lock);
    if (wc->limit) {
        n = cache_store(wc, fd, data, len, off);
        *cached = n >= 0;
    } else {
        n = sector_io_pwrite_full(fd, data, len, off);
        if (n >= 0)
            cache_copy(wc, COPY_INTO_CACHE, (unsigned char *)data, len, off);
    }
    cache_update_engaged(wc);
    pthread_mutex_unlock(&wc->lock);
    return n;
}

ssize_t write_cache_write_through(struct write_cache *wc, int fd, const void *data, size_t len,
                                  uint64_t off)
{
    pthread_mutex_lock(&wc->lock);
    ssize_t n = sector_io_pwrite_full(fd, data, len, off);
    if (n >= 0)
        cache_copy(wc, COPY_INTO_CACHE, (unsigned char *)data, len, off);
    pthread_mutex_unlock(&wc->lock);
    return n;
}

ssize_t write_cache_read(struct write_cache *wc, int fd, uint64_t cap, void *buf, size_t len,
                         uint64_t off)
{
    struct stat st;
    pthread_mutex_lock(&wc->lock);
    ssize_t n = fstat(fd, &st) < 0 ? -errno : 0;
    uint64_t end = (uint64_t)st.st_size > wc->end ? (uint64_t)st.st_size : wc->end;
    if (end > cap)
        end = cap;
    if (n == 0 && off < end) {
        if (len > end - off)
            len = (size_t)(end - off);
        n = sector_io_pread_full(fd, buf, len, off);
        if (n >= 0) {
            memset((char *)buf + n, 0, len - (size_t)n); /* written past the image's end */
            cache_copy(wc, COPY_OUT, buf, len, off);
            n = (ssize_t)len;
        }
    }
    pthread_mutex_unlock(&wc->lock);
    return n;
}

void write_cache_note_mended(struct write_cache *wc, uint64_t first, uint64_t last, int error)
{
    pthread_mutex_lock(&wc->lock);
    for (uint64_t s = first; wc->count && s <= last && s >= first; s++) {
        struct write_cache_block *b = cache_find(wc, s / SECTORS_PER_BLOCK);
        if (b) {
            b->mended |= (uint8_t)(1u << (s % SECTORS_PER_BLOCK));
            b->mended_error = error;
        }
    }
    pthread_mutex_unlock(&wc->lock);
}

void write_cache_zero(struct write_cache *wc, uint64_t off, uint64_t len)
{
    pthread_mutex_lock(&wc->lock);
    cache_copy(wc, COPY_ZEROES, NULL, len, off);
    pthread_mutex_unlock(&wc->lock);
}

uint64_t write_cache_end(struct write_cache *wc)
{
    pthread_mutex_lock(&wc->lock);
    uint64_t end = wc->count ? wc->end : 0;
    pthread_mutex_unlock(&wc->lock);
    return end;
}

void write_cache_stats(struct write_cache *wc, struct write_cache_stats *out)
{
    pthread_mutex_lock(&wc->lock);
    *out = (struct write_cache_stats){.limit = wc->limit,
                                      .bytes = (uint64_t)wc->count * WRITE_CACHE_BLOCK,
                                      .full = wc->full,
                                      .powercuts = wc->powercuts,
                                      .lost_bytes = wc->lost_bytes};
    pthread_mutex_unlock(&wc->lock);
}
