/*
 * A disk's volatile write cache (SPEC §2b "volatile"): while it is on,
 * writes land in memory, in 4 KiB blocks, and reads see them, as a disk's
 * own cache would; a flush writes the blocks to the image and syncs it;
 * a power cut throws them away. The bytes held are bounded: a write that
 * needs more fails with -ENOSPC (never silently dropped).
 *
 * Switched off while it still holds blocks, it writes them back; if that
 * fails, the blocks stay and keep being read and updated until a flush
 * stores them, so no read ever sees older bytes than the last write.
 *
 * Every call takes the cache's lock; the image's fd is the caller's.
 */
#ifndef FAULTFS_WRITE_CACHE_H
#define FAULTFS_WRITE_CACHE_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#define WRITE_CACHE_BLOCK 4096

struct write_cache_block;

struct write_cache {
    _Atomic bool engaged; /* on, or holding blocks: read without the lock */
    pthread_mutex_t lock;
    uint64_t limit;      /* bytes of blocks held at most; 0 = off */
    uint64_t end;        /* one past the last byte written into the cache */
    struct write_cache_block **slots; /* open addressing by block number */
    size_t nslots, count;
    /* Counters, for stats. */
    uint64_t full;       /* writes refused: no room */
    uint64_t powercuts;
    uint64_t lost_bytes; /* bytes of blocks power cuts threw away */
};

int write_cache_init(struct write_cache *wc);
void write_cache_destroy(struct write_cache *wc);

/* Whether the cache holds blocks (reads and writes must go through it). Lock-free hint. */
bool write_cache_busy(struct write_cache *wc);

/*
 * Turns the cache on with LIMIT bytes, or off (0): off, the blocks it
 * holds are written to FD and synced first. 0, or the write-back's -errno
 * (the blocks stay).
 */
int write_cache_set_limit(struct write_cache *wc, int fd, uint64_t limit);

/*
 * Stores LEN bytes of DATA at OFF: in the cache while it is on (blocks not
 * held yet are read from FD first; *CACHED is set), else in FD, updating any
 * block held. Returns LEN, or -ENOSPC (the cache is full; nothing stored),
 * -errno.
 */
ssize_t write_cache_write(struct write_cache *wc, int fd, const void *data, size_t len,
                          uint64_t off, bool *cached);

/*
 * Sectors FIRST..LAST, bad until a write the cache holds covered them, were
 * mended by it (bad_sectors; ERROR: their rule's errno): if that write is
 * lost to a power cut, they are bad again.
 */
void write_cache_note_mended(struct write_cache *wc, uint64_t first, uint64_t last, int error);

/* Sectors a power cut made bad again: the mended ones whose write it lost. */
struct write_cache_unmended {
    struct write_cache_run {
        uint64_t first, last; /* sectors */
        int error;
    } *runs; /* malloc'd, sorted by error then first; the caller frees */
    size_t count;
};

/* As write_cache_write, but to FD whatever the cache's state (a synchronous write). */
ssize_t write_cache_write_through(struct write_cache *wc, int fd, const void *data, size_t len,
                                  uint64_t off);

/*
 * Reads up to LEN bytes at OFF as the disk shows them: FD's bytes with the
 * cache's over them, to the end of whichever is longer, cut at CAP.
 */
ssize_t write_cache_read(struct write_cache *wc, int fd, uint64_t cap, void *buf, size_t len,
                         uint64_t off);

/* Zeroes [OFF, OFF + LEN) in the blocks held: a discard or write-zeroes went to the image. */
void write_cache_zero(struct write_cache *wc, uint64_t off, uint64_t len);

/* Writes every block to FD and syncs it (fdatasync if DATASYNC); 0 or -errno (blocks kept). */
int write_cache_flush(struct write_cache *wc, int fd, bool datasync);

/*
 * A power cut: KEEP of the blocks held (chosen by SEED; 0: none) are written
 * to FD and synced, as if the disk had got that far destaging its cache; the
 * rest are thrown away, and *UNMENDED gets the bad sectors their writes had
 * mended. Returns the bytes lost, or -errno if writing the kept blocks
 * failed (all are thrown away even then).
 */
int64_t write_cache_powercut(struct write_cache *wc, int fd, uint64_t keep, uint64_t seed,
                             struct write_cache_unmended *unmended);

/* One past the last byte written into the cache (0 when it holds none). */
uint64_t write_cache_end(struct write_cache *wc);

/* A snapshot of the figures stats shows. */
struct write_cache_stats {
    uint64_t limit, bytes, full, powercuts, lost_bytes;
};
void write_cache_stats(struct write_cache *wc, struct write_cache_stats *out);

#endif
