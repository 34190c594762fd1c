/*
 * soak_check: the integrity checker of tests/integration/test-soak.sh.
 *
 * fio's verifier assumes every write it issued landed, so it cannot judge a
 * disk whose writes fail. This one keeps the books itself:
 *
 *   init BACKING       stamps every 4 KiB block of BACKING with generation 0
 *   write IMAGE BACKING STATE
 *                      O_DIRECT pwrite()s of stamped blocks through the mount
 *                      from several threads; STATE records, per block, the
 *                      last acknowledged generation and every generation that
 *                      failed after it, with its errno. After each write the
 *                      block is read back from BACKING: that is how a failed
 *                      write that landed anyway is seen (and counted) before
 *                      a later write covers it.
 *   verify BACKING STATE
 *                      reads BACKING itself (not the mount) and judges each
 *                      block against STATE
 *   read IMAGE BACKING O_DIRECT reads through the mount; every read that
 *                      succeeds must return exactly BACKING's bytes
 *
 * A stamp is (magic, block number, generation, checksum of the whole block);
 * generations are unique per write, 0 is the initial content. Each block has
 * one owning thread, so its writes are strictly one after another and its
 * history is a simple sequence.
 *
 * What a block may hold, per the fault model (sleep, check, I/O, re-check):
 * its last acknowledged generation (0 if none), or a generation whose write
 * failed after that acknowledgement, since the re-check fails a write whose
 * bytes have landed. Never an older one, never one not written to it, never
 * a torn mix. Every failure must be EIO. Guard blocks are never written and
 * must keep what they held. `write` starts from whatever stamped blocks the
 * backing file holds, with generations above all of theirs.
 *
 * Each command prints one line of key=value counts on stdout, the first
 * violations on stderr, and exits 1 if there was any (2 on a usage or setup
 * error).
 */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#define SOAK_BLOCK 4096
#define SOAK_MAGIC UINT64_C(0x314b414f53544c46) /* "FLTSOAK1" little-endian */
#define SOAK_GUARD_EVERY 16                     /* block 15, 31, ...: never written */
#define SOAK_MAX_THREADS 64
#define SOAK_REPORT_MAX 20 /* violations printed in full; the rest are only counted */
#define SOAK_READ_MAX (128 * 1024)

/* The head of every block; the rest is a pseudo-random payload seeded by (block, gen). */
struct soak_stamp {
    uint64_t magic;
    uint64_t block;
    uint64_t gen; /* 0 = the initial content written by `init` */
    uint64_t sum; /* of the whole block with this field zero */
};
_Static_assert(sizeof(struct soak_stamp) == 32, "the stamp is four words, no padding");
_Static_assert(SOAK_BLOCK % sizeof(uint64_t) == 0, "the checksum runs over whole words");

static atomic_ulong violations;

static void violation(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static void violation(const char *fmt, ...)
{
    if (atomic_fetch_add(&violations, 1) >= SOAK_REPORT_MAX)
        return;
    va_list ap;
    fputs("soak_check: VIOLATION: ", stderr);
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fputc('\n', stderr);
}

static int die(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static int die(const char *fmt, ...)
{
    va_list ap;
    fputs("soak_check: ", stderr);
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fputc('\n', stderr);
    exit(2);
}

/* ---- blocks: stamping and checking ---- */

static uint64_t splitmix64(uint64_t *state)
{
    uint64_t z = (*state += UINT64_C(0x9e3779b97f4a7c15));
    z = (z ^ (z >> 30)) * UINT64_C(0xbf58476d1ce4e5b9);
    z = (z ^ (z >> 27)) * UINT64_C(0x94d049bb133111eb);
    return z ^ (z >> 31);
}

static uint64_t block_sum(const unsigned char *blk)
{
    uint64_t h = UINT64_C(0xcbf29ce484222325);
    for (size_t i = 0; i < SOAK_BLOCK / sizeof(uint64_t); i++) {
        uint64_t w = 0;
        if (i != offsetof(struct soak_stamp, sum) / sizeof(uint64_t))
            memcpy(&w, blk + i * sizeof w, sizeof w);
        h = (h ^ w) * UINT64_C(0x100000001b3);
        h ^= h >> 29;
    }
    return h;
}

static void block_stamp(unsigned char *blk, uint64_t block, uint64_t gen)
{
    uint64_t seed = block * UINT64_C(0x9e3779b97f4a7c15) ^ gen;
    for (size_t i = sizeof(struct soak_stamp); i < SOAK_BLOCK; i += sizeof(uint64_t)) {
        uint64_t w = splitmix64(&seed);
        memcpy(blk + i, &w, sizeof w);
    }
    struct soak_stamp st = {.magic = SOAK_MAGIC, .block = block, .gen = gen, .sum = 0};
    memcpy(blk, &st, sizeof st);
    st.sum = block_sum(blk);
    memcpy(blk, &st, sizeof st);
}

/* The stamp of BLK, or false if the block is torn or not a stamped block at all. */
static bool block_read_stamp(const unsigned char *blk, struct soak_stamp *st)
{
    memcpy(st, blk, sizeof *st);
    return st->magic == SOAK_MAGIC && st->sum == block_sum(blk);
}

static bool block_is_guard(uint64_t block)
{
    return block % SOAK_GUARD_EVERY == SOAK_GUARD_EVERY - 1;
}

/* ---- small helpers ---- */

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static uint64_t xorshift(uint64_t *s)
{
    *s ^= *s << 13;
    *s ^= *s >> 7;
    *s ^= *s << 17;
    return *s;
}

static void *aligned_block(size_t size)
{
    void *p = NULL;
    if (posix_memalign(&p, SOAK_BLOCK, size) != 0)
        die("out of memory");
    return p;
}

static uint64_t file_blocks(int fd, const char *path)
{
    struct stat st;
    if (fstat(fd, &st) < 0)
        die("%s: %s", path, strerror(errno));
    if (st.st_size <= 0 || st.st_size % SOAK_BLOCK != 0)
        die("%s: size %lld is not a positive multiple of %d", path, (long long)st.st_size,
            SOAK_BLOCK);
    return (uint64_t)st.st_size / SOAK_BLOCK;
}

static void read_exact(int fd, const char *path, void *buf, size_t len, off_t off)
{
    size_t done = 0;
    while (done < len) {
        ssize_t n = pread(fd, (char *)buf + done, len - done, off + (off_t)done);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            die("%s: read at %lld: %s", path, (long long)(off + (off_t)done),
                n < 0 ? strerror(errno) : "unexpected end of file");
        done += (size_t)n;
    }
}

static const char *errno_name(int err)
{
    const char *name = err ? strerrorname_np(err) : "a short write";
    return name ? name : "?";
}

/* ---- init ---- */

static int cmd_init(const char *backing)
{
    int fd = open(backing, O_WRONLY | O_CLOEXEC);
    if (fd < 0)
        die("%s: %s", backing, strerror(errno));
    uint64_t blocks = file_blocks(fd, backing);
    unsigned char *blk = aligned_block(SOAK_BLOCK);
    for (uint64_t b = 0; b < blocks; b++) {
        block_stamp(blk, b, 0);
        if (pwrite(fd, blk, SOAK_BLOCK, (off_t)(b * SOAK_BLOCK)) != SOAK_BLOCK)
            die("%s: write of block %" PRIu64 " failed", backing, b);
    }
    if (fsync(fd) < 0 || close(fd) < 0)
        die("%s: %s", backing, strerror(errno));
    free(blk);
    printf("soak_check init: blocks=%" PRIu64 "\n", blocks);
    return 0;
}

/* ---- write ---- */

struct failure {
    uint64_t gen;
    int err; /* errno; 0 = a short write */
};

/* One block's history since its last acknowledgement; touched only by its owning thread. */
struct block_book {
    uint64_t acked;  /* the last acknowledged generation; until one, what the block held */
    uint64_t writes; /* attempts, acknowledged or not */
    uint64_t holds;  /* write: the generation last seen in the backing file */
    size_t nfailed;  /* failures since ACKED, oldest first */
    size_t capfailed;
    struct failure *failed;
};

struct writer {
    int fd;              /* IMAGE, through the mount */
    int backing_fd;      /* BACKING, read back after every write */
    uint64_t first, end; /* the blocks this thread owns: [first, end) */
    double deadline;
    pthread_t thread;
    struct block_book *books;
    /* the thread's own counters, summed after the join */
    uint64_t acked, failed_eio, failed_other, short_writes, failed_landed;
};

static atomic_uint_fast64_t next_gen = 1;

static void book_fail(struct block_book *bk, uint64_t gen, int err)
{
    if (bk->nfailed == bk->capfailed) {
        bk->capfailed = bk->capfailed ? 2 * bk->capfailed : 4;
        bk->failed = realloc(bk->failed, bk->capfailed * sizeof *bk->failed);
        if (!bk->failed)
            die("out of memory");
    }
    bk->failed[bk->nfailed++] = (struct failure){.gen = gen, .err = err};
}

/*
 * Reads block B back from the backing file right after a write of GEN and
 * checks it at once: an acknowledged write is there; a failed one is there
 * (it landed before the re-check failed it) or the block is unchanged.
 * Returns whether GEN landed.
 */
static bool writer_read_back(struct writer *w, unsigned char *blk, uint64_t b, uint64_t gen,
                             bool acked)
{
    struct block_book *bk = &w->books[b];
    struct soak_stamp st;
    ssize_t n = pread(w->backing_fd, blk, SOAK_BLOCK, (off_t)(b * SOAK_BLOCK));
    if (n != SOAK_BLOCK)
        die("backing file: read of block %" PRIu64 " failed", b);
    if (!block_read_stamp(blk, &st) || st.block != b) {
        violation("block %" PRIu64 ": torn or misplaced right after the %s write of "
                  "generation %" PRIu64,
                  b, acked ? "acknowledged" : "failed", gen);
        return false;
    }
    uint64_t before = bk->holds;
    bk->holds = st.gen;
    if (acked && st.gen != gen)
        violation("block %" PRIu64 ": acknowledged generation %" PRIu64
                  " is not in the backing file, which holds %" PRIu64,
                  b, gen, st.gen);
    else if (!acked && st.gen != gen && st.gen != before)
        violation("block %" PRIu64 ": after the failed write of generation %" PRIu64
                  " it holds %" PRIu64 ", neither that nor what it held before (%" PRIu64 ")",
                  b, gen, st.gen, before);
    return st.gen == gen;
}

static void *writer_run(void *arg)
{
    struct writer *w = arg;
    unsigned char *blk = aligned_block(SOAK_BLOCK);
    unsigned char *back = aligned_block(SOAK_BLOCK);
    uint64_t rng = (uint64_t)time(NULL) ^ (w->first + 1) * UINT64_C(0x2545f4914f6cdd1d);
    uint64_t span = w->end - w->first;
    while (now_s() < w->deadline) {
        uint64_t b = w->first + xorshift(&rng) % span;
        if (block_is_guard(b))
            continue;
        struct block_book *bk = &w->books[b];
        uint64_t gen = atomic_fetch_add(&next_gen, 1);
        block_stamp(blk, b, gen);
        bk->writes++;
        ssize_t n = pwrite(w->fd, blk, SOAK_BLOCK, (off_t)(b * SOAK_BLOCK));
        int err = n < 0 ? errno : 0;
        bool landed = writer_read_back(w, back, b, gen, n == SOAK_BLOCK);
        if (n == SOAK_BLOCK) {
            w->acked++;
            bk->acked = gen;
            bk->nfailed = 0;
            continue;
        }
        book_fail(bk, gen, err);
        w->failed_landed += landed;
        if (n >= 0) {
            w->short_writes++;
            violation("block %" PRIu64 " generation %" PRIu64 ": short write of %zd bytes", b, gen,
                      n);
        } else if (err == EIO) {
            w->failed_eio++;
        } else {
            w->failed_other++;
            violation("block %" PRIu64 " generation %" PRIu64 ": write failed with %s, not EIO", b,
                      gen, errno_name(err));
        }
    }
    free(back);
    free(blk);
    return NULL;
}

/*
 * STATE, one line per block that was written or held something other than
 * generation 0 at the start:
 *   BLOCK ACKED WRITES [FAILED_GEN:ERRNO]...
 * after a header "soak-state 2 BLOCKS". ACKED is what the block held at the
 * start until a write is acknowledged. Only what verify needs: the past
 * before the last acknowledgement can never be on the disk.
 */
static void state_save(const char *path, const struct block_book *books, uint64_t blocks)
{
    FILE *f = fopen(path, "we");
    if (!f)
        die("%s: %s", path, strerror(errno));
    fprintf(f, "soak-state 2 %" PRIu64 "\n", blocks);
    for (uint64_t b = 0; b < blocks; b++) {
        if (!books[b].writes && !books[b].acked)
            continue;
        fprintf(f, "%" PRIu64 " %" PRIu64 " %" PRIu64, b, books[b].acked, books[b].writes);
        for (size_t i = 0; i < books[b].nfailed; i++)
            fprintf(f, " %" PRIu64 ":%d", books[b].failed[i].gen, books[b].failed[i].err);
        fputc('\n', f);
    }
    if (fclose(f) != 0)
        die("%s: %s", path, strerror(errno));
}

static int cmd_write(const char *image, const char *backing, const char *state, unsigned threads,
                     double seconds)
{
    int fd = open(image, O_WRONLY | O_DIRECT | O_CLOEXEC);
    if (fd < 0)
        die("%s: %s", image, strerror(errno));
    int bfd = open(backing, O_RDONLY | O_CLOEXEC);
    if (bfd < 0)
        die("%s: %s", backing, strerror(errno));
    uint64_t blocks = file_blocks(fd, image);
    if (file_blocks(bfd, backing) != blocks)
        die("%s and %s differ in size", image, backing);
    if (blocks < threads * (uint64_t)SOAK_GUARD_EVERY)
        die("%s: %" PRIu64 " blocks are too few for %u threads", image, blocks, threads);
    struct block_book *books = calloc(blocks, sizeof *books);
    struct writer *ws = calloc(threads, sizeof *ws);
    if (!books || !ws)
        die("out of memory");
    /* Where each block starts, and generations that follow every one already on the disk. */
    unsigned char *blk = aligned_block(SOAK_BLOCK);
    uint64_t newest = 0;
    for (uint64_t b = 0; b < blocks; b++) {
        struct soak_stamp st;
        read_exact(bfd, backing, blk, SOAK_BLOCK, (off_t)(b * SOAK_BLOCK));
        if (!block_read_stamp(blk, &st) || st.block != b)
            die("%s: block %" PRIu64 " is not stamped (run init first)", backing, b);
        books[b].acked = books[b].holds = st.gen;
        newest = st.gen > newest ? st.gen : newest;
    }
    free(blk);
    atomic_store(&next_gen, newest + 1);
    double start = now_s();
    for (unsigned t = 0; t < threads; t++) {
        ws[t] = (struct writer){.fd = fd,
                                .backing_fd = bfd,
                                .first = blocks * t / threads,
                                .end = blocks * (t + 1) / threads,
                                .deadline = start + seconds,
                                .books = books};
        if (pthread_create(&ws[t].thread, NULL, writer_run, &ws[t]) != 0)
            die("cannot start a writer thread");
    }
    uint64_t acked = 0, failed_eio = 0, failed_other = 0, short_writes = 0, failed_landed = 0;
    for (unsigned t = 0; t < threads; t++) {
        pthread_join(ws[t].thread, NULL);
        acked += ws[t].acked;
        failed_eio += ws[t].failed_eio;
        failed_other += ws[t].failed_other;
        short_writes += ws[t].short_writes;
        failed_landed += ws[t].failed_landed;
    }
    double took = now_s() - start;
    close(fd);
    close(bfd);
    state_save(state, books, blocks);
    printf("soak_check write: writes=%" PRIu64 " acknowledged=%" PRIu64 " failed=%" PRIu64
           " failed_eio=%" PRIu64 " failed_other=%" PRIu64 " short=%" PRIu64
           " failed_landed=%" PRIu64 " threads=%u seconds=%.1f\n",
           acked + failed_eio + failed_other + short_writes, acked,
           failed_eio + failed_other + short_writes, failed_eio, failed_other, short_writes,
           failed_landed, threads, took);
    for (uint64_t b = 0; b < blocks; b++)
        free(books[b].failed);
    free(books);
    free(ws);
    return atomic_load(&violations) ? 1 : 0;
}

/* ---- verify ---- */

/* Reads one STATE line into BK (whose FAILED array it allocates); false at the end. */
static bool state_next(FILE *f, const char *path, uint64_t blocks, uint64_t *block,
                       struct block_book *bk)
{
    char *line = NULL;
    size_t cap = 0;
    if (getline(&line, &cap, f) < 0) {
        free(line);
        return false;
    }
    char *p = line, *end;
    *bk = (struct block_book){0};
    *block = strtoull(p, &end, 10);
    if (end == p || *block >= blocks)
        die("%s: bad line '%s'", path, line);
    bk->acked = strtoull(p = end, &end, 10);
    if (end == p)
        die("%s: bad line '%s'", path, line);
    bk->writes = strtoull(p = end, &end, 10);
    if (end == p)
        die("%s: bad line '%s'", path, line);
    for (p = end; *p == ' ';) {
        uint64_t gen = strtoull(p, &end, 10);
        if (end == p || *end != ':')
            die("%s: bad line '%s'", path, line);
        long err = strtol(end + 1, &p, 10);
        book_fail(bk, gen, (int)err);
    }
    free(line);
    return true;
}

/* Judges block B against its book: counts what it holds, or reports a violation. */
static void verify_block(uint64_t b, const unsigned char *blk, const struct block_book *bk,
                         uint64_t *untouched, uint64_t *held_acked, uint64_t *held_failed)
{
    struct soak_stamp st;
    if (!block_read_stamp(blk, &st)) {
        violation("block %" PRIu64 ": torn or garbage (magic %016" PRIx64 ", checksum %s)", b,
                  st.magic, st.magic == SOAK_MAGIC ? "wrong" : "-");
        return;
    }
    if (st.block != b) {
        violation("block %" PRIu64 ": holds block %" PRIu64 "'s data (generation %" PRIu64
                  "): a misdirected write",
                  b, st.block, st.gen);
        return;
    }
    if (!bk->writes) {
        if (st.gen == bk->acked)
            (*untouched)++;
        else
            violation("block %" PRIu64 " was never written, but holds generation %" PRIu64
                      ", not %" PRIu64,
                      b, st.gen, bk->acked);
        return;
    }
    if (st.gen == bk->acked) {
        (*held_acked)++;
        return;
    }
    for (size_t i = 0; i < bk->nfailed; i++) {
        if (st.gen == bk->failed[i].gen) {
            (*held_failed)++;
            return;
        }
    }
    if (st.gen < bk->acked)
        violation("block %" PRIu64 ": holds generation %" PRIu64
                  ", older than its last acknowledged write %" PRIu64 " (stale data)",
                  b, st.gen, bk->acked);
    else
        violation("block %" PRIu64 ": holds generation %" PRIu64
                  ", never written to it (last acknowledged %" PRIu64 ", %zu failed since)",
                  b, st.gen, bk->acked, bk->nfailed);
}

static int cmd_verify(const char *backing, const char *state)
{
    int fd = open(backing, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        die("%s: %s", backing, strerror(errno));
    FILE *f = fopen(state, "re");
    if (!f)
        die("%s: %s", state, strerror(errno));
    uint64_t blocks = 0;
    if (fscanf(f, "soak-state 2 %" SCNu64 "\n", &blocks) != 1)
        die("%s: not a soak_check state file", state);
    uint64_t have = file_blocks(fd, backing);
    if (have != blocks)
        violation("%s has %" PRIu64 " blocks, the writes saw %" PRIu64, backing, have, blocks);

    struct block_book *books = calloc(blocks, sizeof *books);
    if (!books)
        die("out of memory");
    uint64_t b;
    struct block_book bk;
    while (state_next(f, state, blocks, &b, &bk)) {
        for (size_t i = 0; i < bk.nfailed; i++)
            if (bk.failed[i].err != EIO)
                violation("block %" PRIu64 " generation %" PRIu64 ": failed with %s, not EIO", b,
                          bk.failed[i].gen, errno_name(bk.failed[i].err));
        free(books[b].failed);
        books[b] = bk;
    }
    fclose(f);

    unsigned char *blk = aligned_block(SOAK_BLOCK);
    uint64_t untouched = 0, held_acked = 0, held_failed = 0;
    for (b = 0; b < blocks && b < have; b++) {
        read_exact(fd, backing, blk, SOAK_BLOCK, (off_t)(b * SOAK_BLOCK));
        verify_block(b, blk, &books[b], &untouched, &held_acked, &held_failed);
        if (block_is_guard(b) && books[b].writes)
            violation("guard block %" PRIu64 " is in the write log", b);
    }
    close(fd);
    unsigned long bad = atomic_load(&violations);
    printf("soak_check verify: blocks=%" PRIu64 " verified=%" PRIu64 " acknowledged=%" PRIu64
           " failed_landed=%" PRIu64 " untouched=%" PRIu64 " violations=%lu\n",
           blocks, untouched + held_acked + held_failed, held_acked, held_failed, untouched, bad);
    for (b = 0; b < blocks; b++)
        free(books[b].failed);
    free(books);
    free(blk);
    return bad ? 1 : 0;
}

/* ---- read ---- */

struct reader {
    int fd;
    const unsigned char *expect; /* the whole backing file */
    uint64_t blocks;
    double deadline;
    pthread_t thread;
    uint64_t ok, failed, bytes;
};

/* Sizes on both sides of the daemon's splice threshold (32 KiB). */
static const size_t read_sizes[] = {4096, 8192, 65536, SOAK_READ_MAX};

static void *reader_run(void *arg)
{
    struct reader *r = arg;
    unsigned char *buf = aligned_block(SOAK_READ_MAX);
    uint64_t rng = (uint64_t)time(NULL) ^ (uint64_t)(uintptr_t)r;
    while (now_s() < r->deadline) {
        size_t len = read_sizes[xorshift(&rng) % (sizeof read_sizes / sizeof *read_sizes)];
        uint64_t span = len / SOAK_BLOCK;
        if (span > r->blocks)
            continue;
        uint64_t b = xorshift(&rng) % (r->blocks - span + 1);
        off_t off = (off_t)(b * SOAK_BLOCK);
        memset(buf, 0xa5, len); /* so stale bytes from a previous read cannot pass */
        ssize_t n = pread(r->fd, buf, len, off);
        if (n < 0) {
            r->failed++;
            if (errno != EIO)
                violation("read of %zu bytes at block %" PRIu64 " failed with %s, not EIO", len, b,
                          errno_name(errno));
            continue;
        }
        if ((size_t)n != len) {
            violation("read of %zu bytes at block %" PRIu64 " returned %zd", len, b, n);
            continue;
        }
        r->ok++;
        r->bytes += len;
        if (memcmp(buf, r->expect + off, len) == 0)
            continue;
        size_t at = 0;
        while (buf[at] == r->expect[off + (off_t)at])
            at++;
        struct soak_stamp got;
        bool stamped = block_read_stamp(buf + at / SOAK_BLOCK * SOAK_BLOCK, &got);
        violation("read of %zu bytes at block %" PRIu64 " differs from the backing file at "
                  "byte %zu (block %" PRIu64 "); it holds %s block %" PRIu64 " generation %" PRIu64,
                  len, b, at, b + at / SOAK_BLOCK, stamped ? "a stamped" : "an unstamped",
                  got.block, got.gen);
    }
    free(buf);
    return NULL;
}

static int cmd_read(const char *image, const char *backing, unsigned threads, double seconds)
{
    int bfd = open(backing, O_RDONLY | O_CLOEXEC);
    if (bfd < 0)
        die("%s: %s", backing, strerror(errno));
    uint64_t blocks = file_blocks(bfd, backing);
    unsigned char *expect = aligned_block(blocks * SOAK_BLOCK);
    read_exact(bfd, backing, expect, blocks * SOAK_BLOCK, 0);
    close(bfd);
    int fd = open(image, O_RDONLY | O_DIRECT | O_CLOEXEC);
    if (fd < 0)
        die("%s: %s", image, strerror(errno));
    if (file_blocks(fd, image) != blocks)
        die("%s and %s differ in size", image, backing);

    struct reader *rs = calloc(threads, sizeof *rs);
    if (!rs)
        die("out of memory");
    double start = now_s();
    for (unsigned t = 0; t < threads; t++) {
        rs[t] = (struct reader){
            .fd = fd, .expect = expect, .blocks = blocks, .deadline = start + seconds};
        if (pthread_create(&rs[t].thread, NULL, reader_run, &rs[t]) != 0)
            die("cannot start a reader thread");
    }
    uint64_t ok = 0, failed = 0, bytes = 0;
    for (unsigned t = 0; t < threads; t++) {
        pthread_join(rs[t].thread, NULL);
        ok += rs[t].ok;
        failed += rs[t].failed;
        bytes += rs[t].bytes;
    }
    double took = now_s() - start;
    close(fd);
    unsigned long bad = atomic_load(&violations);
    printf("soak_check read: reads=%" PRIu64 " ok=%" PRIu64 " failed=%" PRIu64 " bytes=%" PRIu64
           " violations=%lu threads=%u seconds=%.1f\n",
           ok + failed, ok, failed, bytes, bad, threads, took);
    free(rs);
    free(expect);
    return bad ? 1 : 0;
}

/* ---- main ---- */

static void usage(FILE *out)
{
    fprintf(out,
            "usage: soak_check init BACKING\n"
            "       soak_check write IMAGE BACKING STATE [--threads N] [--seconds S]\n"
            "       soak_check verify BACKING STATE\n"
            "       soak_check read IMAGE BACKING [--threads N] [--seconds S]\n"
            "\n"
            "init stamps every 4 KiB block of BACKING as generation 0. write does\n"
            "O_DIRECT writes of stamped blocks through IMAGE (MOUNT/ID/image), reads\n"
            "each block back from BACKING, and records in STATE what was acknowledged\n"
            "and what failed. verify judges\n"
            "BACKING against STATE: each block holds its last acknowledged generation\n"
            "or one that failed after it, intact; every failure was EIO; guard blocks\n"
            "(every %dth) are untouched. read does O_DIRECT reads through IMAGE: each\n"
            "one that succeeds returns BACKING's bytes, each failure is EIO.\n"
            "Prints key=value counts; exits 1 on a violation, 2 on a usage error.\n"
            "  --threads N   threads (default 4, at most %d)\n"
            "  --seconds S   how long to write or read (default 5)\n",
            SOAK_GUARD_EVERY, SOAK_MAX_THREADS);
}

int main(int argc, char **argv)
{
    static const struct option options[] = {{"threads", required_argument, NULL, 't'},
                                            {"seconds", required_argument, NULL, 's'},
                                            {"help", no_argument, NULL, 'h'},
                                            {NULL, 0, NULL, 0}};
    unsigned long threads = 4;
    double seconds = 5;
    char *end;
    int c;
    while ((c = getopt_long(argc, argv, "h", options, NULL)) != -1) {
        switch (c) {
        case 't':
            threads = strtoul(optarg, &end, 10);
            if (*end || threads < 1 || threads > SOAK_MAX_THREADS)
                die("--threads: bad value '%s' (1 to %d)", optarg, SOAK_MAX_THREADS);
            break;
        case 's':
            seconds = strtod(optarg, &end);
            if (*end || !(seconds > 0 && seconds < 3600))
                die("--seconds: bad value '%s'", optarg);
            break;
        case 'h':
            usage(stdout);
            return 0;
        default:
            usage(stderr);
            return 2;
        }
    }
    int n = argc - optind;
    const char *cmd = n > 0 ? argv[optind] : "";
    char **arg = argv + optind + 1;
    if (strcmp(cmd, "init") == 0 && n == 2)
        return cmd_init(arg[0]);
    if (strcmp(cmd, "write") == 0 && n == 4)
        return cmd_write(arg[0], arg[1], arg[2], (unsigned)threads, seconds);
    if (strcmp(cmd, "verify") == 0 && n == 3)
        return cmd_verify(arg[0], arg[1]);
    if (strcmp(cmd, "read") == 0 && n == 3)
        return cmd_read(arg[0], arg[1], (unsigned)threads, seconds);
    usage(stderr);
    return 2;
}
