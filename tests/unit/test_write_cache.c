#include "write_cache.h"

#include <criterion/criterion.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* A 64 KiB image of 'i' bytes, and a cache over it. */
static char path[] = "/tmp/faultfs-write-cache-XXXXXX";
static int fd;
static struct write_cache wc;
static bool cached; /* where the last write went */

/* A power cut keeping KEEP blocks by SEED; the sectors it made bad again are dropped. */
static int64_t powercut(uint64_t keep, uint64_t seed)
{
    struct write_cache_unmended unmended;
    int64_t lost = write_cache_powercut(&wc, fd, keep, seed, &unmended);
    free(unmended.runs);
    return lost;
}
#define SIZE 65536

static void setup(void)
{
    char bytes[SIZE];
    memset(bytes, 'i', sizeof bytes);
    fd = mkstemp(path);
    cr_assert_geq(fd, 0);
    cr_assert_eq(write(fd, bytes, sizeof bytes), SIZE);
    cr_assert_eq(write_cache_init(&wc), 0);
}

static void teardown(void)
{
    write_cache_destroy(&wc);
    close(fd);
    unlink(path);
    strcpy(path, "/tmp/faultfs-write-cache-XXXXXX");
}

TestSuite(write_cache, .init = setup, .fini = teardown);

static char on_disk(uint64_t off)
{
    char c = 0;
    cr_assert_eq(pread(fd, &c, 1, (off_t)off), 1);
    return c;
}

static char seen(uint64_t off)
{
    char c = 0;
    cr_assert_eq(write_cache_read(&wc, fd, UINT64_MAX, &c, 1, off), 1);
    return c;
}

Test(write_cache, off_it_writes_straight_through)
{
    cr_assert_not(write_cache_busy(&wc));
    cr_assert_eq(write_cache_write(&wc, fd, "ab", 2, 100, &cached), 2);
    cr_assert_eq(on_disk(100), 'a');
}

Test(write_cache, an_unaligned_write_is_cached_over_the_image_bytes_and_flushed)
{
    cr_assert_eq(write_cache_set_limit(&wc, fd, 1 << 20), 0);
    cr_assert_eq(write_cache_write(&wc, fd, "xyz", 3, 4095, &cached), 3, "spans two blocks");
    cr_assert_eq(on_disk(4095), 'i', "the image has not got it");
    cr_assert_eq(seen(4094), 'i', "the block's other bytes are the image's");
    cr_assert_eq(seen(4095), 'x');
    cr_assert_eq(seen(4097), 'z');
    struct write_cache_stats st;
    write_cache_stats(&wc, &st);
    cr_assert_eq(st.bytes, 2 * WRITE_CACHE_BLOCK);
    cr_assert_eq(write_cache_flush(&wc, fd, true), 0);
    cr_assert_eq(on_disk(4096), 'y');
    cr_assert_eq(on_disk(4094), 'i', "the image's own bytes went back unchanged");
    write_cache_stats(&wc, &st);
    cr_assert_eq(st.bytes, 0, "a flush empties the cache");
}

Test(write_cache, powercut_loses_what_was_not_flushed)
{
    write_cache_set_limit(&wc, fd, 1 << 20);
    write_cache_write(&wc, fd, "a", 1, 0, &cached);
    write_cache_flush(&wc, fd, true);
    write_cache_write(&wc, fd, "b", 1, 0, &cached);
    cr_assert_eq(seen(0), 'b');
    cr_assert_eq(powercut(0, 0), WRITE_CACHE_BLOCK);
    cr_assert_eq(seen(0), 'a', "the flushed byte survives, the later one is gone");
    struct write_cache_stats st;
    write_cache_stats(&wc, &st);
    cr_assert_eq(st.powercuts, 1);
    cr_assert_eq(st.lost_bytes, WRITE_CACHE_BLOCK);
}

Test(write_cache, a_full_cache_refuses_the_write_whole)
{
    char big[3 * WRITE_CACHE_BLOCK];
    memset(big, 'f', sizeof big);
    write_cache_set_limit(&wc, fd, 2 * WRITE_CACHE_BLOCK);
    cr_assert_eq(write_cache_write(&wc, fd, big, sizeof big, 0, &cached), -ENOSPC);
    cr_assert_eq(seen(0), 'i', "nothing of it was cached");
    cr_assert_eq(write_cache_write(&wc, fd, big, 2 * WRITE_CACHE_BLOCK, 0, &cached), 2 * WRITE_CACHE_BLOCK);
    cr_assert_eq(write_cache_write(&wc, fd, "g", 1, 10, &cached), 1, "a held block takes more writes");
    struct write_cache_stats st;
    write_cache_stats(&wc, &st);
    cr_assert_eq(st.full, 1);
}

Test(write_cache, writes_past_the_end_grow_what_reads_see_and_the_image_at_flush)
{
    write_cache_set_limit(&wc, fd, 1 << 20);
    cr_assert_eq(write_cache_write(&wc, fd, "end", 3, SIZE + 10, &cached), 3);
    char buf[16];
    cr_assert_eq(write_cache_read(&wc, fd, UINT64_MAX, buf, sizeof buf, SIZE), 13);
    cr_assert_eq(buf[0], 0, "the gap reads as zeros");
    cr_assert_eq(memcmp(buf + 10, "end", 3), 0);
    cr_assert_eq(write_cache_end(&wc), SIZE + 13);
    cr_assert_eq(write_cache_read(&wc, fd, SIZE + 5, buf, sizeof buf, SIZE), 5, "cut at a cap");
    struct stat st;
    cr_assert_eq(fstat(fd, &st), 0);
    cr_assert_eq(st.st_size, SIZE);
    cr_assert_eq(write_cache_flush(&wc, fd, true), 0);
    cr_assert_eq(fstat(fd, &st), 0);
    cr_assert_eq(st.st_size, SIZE + 13, "the image grows to the last byte written, no further");
}

Test(write_cache, a_discard_or_sync_write_updates_the_blocks_held)
{
    write_cache_set_limit(&wc, fd, 1 << 20);
    write_cache_write(&wc, fd, "cc", 2, 0, &cached);
    write_cache_zero(&wc, 1, 100);
    cr_assert_eq(seen(0), 'c');
    cr_assert_eq(seen(1), 0, "zeroed in the cache as in the image");
    cr_assert_eq(write_cache_write_through(&wc, fd, "s", 1, 0), 1);
    cr_assert_eq(on_disk(0), 's', "through to the image");
    cr_assert_eq(seen(0), 's', "and the cached block agrees");
}

Test(write_cache, switched_off_it_writes_back)
{
    write_cache_set_limit(&wc, fd, 1 << 20);
    write_cache_write(&wc, fd, "w", 1, 5000, &cached);
    cr_assert_eq(write_cache_set_limit(&wc, fd, 0), 0);
    cr_assert_eq(on_disk(5000), 'w');
    cr_assert_not(write_cache_busy(&wc));
}

Test(write_cache, many_blocks_rehash_and_all_come_back)
{
    write_cache_set_limit(&wc, fd, 64 << 20);
    for (uint64_t b = 0; b < 2000; b++) {
        char c = (char)('A' + b % 26);
        cr_assert_eq(write_cache_write(&wc, fd, &c, 1, b * WRITE_CACHE_BLOCK * 3, &cached), 1);
    }
    for (uint64_t b = 0; b < 2000; b++)
        cr_assert_eq(seen(b * WRITE_CACHE_BLOCK * 3), (char)('A' + b % 26), "block %lu", (unsigned long)b);
}

/* Which of blocks 0-7, each written 'k', reached the image after a powercut keeping KEEP by SEED. */
static unsigned powercut_keeping(uint64_t keep, uint64_t seed)
{
    char fill[SIZE];
    memset(fill, 'i', sizeof fill);
    cr_assert_eq(pwrite(fd, fill, sizeof fill, 0), SIZE);
    write_cache_set_limit(&wc, fd, 1 << 20);
    for (uint64_t b = 0; b < 8; b++)
        write_cache_write(&wc, fd, "k", 1, b * WRITE_CACHE_BLOCK, &cached);
    cr_assert_eq(powercut(keep, seed), (int64_t)(8 - (keep < 8 ? keep : 8)) * WRITE_CACHE_BLOCK);
    unsigned made_it = 0;
    for (unsigned b = 0; b < 8; b++)
        made_it |= (unsigned)(on_disk(b * WRITE_CACHE_BLOCK) == 'k') << b;
    return made_it;
}

Test(write_cache, a_powercut_can_keep_a_seeded_few_blocks)
{
    unsigned a = powercut_keeping(3, 7);
    cr_assert_eq(__builtin_popcount(a), 3, "3 of the 8 blocks made it: %#x", a);
    cr_assert_eq(powercut_keeping(3, 7), a, "the same seed keeps the same blocks");
    unsigned others = 0;
    for (uint64_t seed = 1; seed < 20; seed++)
        others |= powercut_keeping(3, seed) != a;
    cr_assert(others, "other seeds keep other blocks");
    cr_assert_eq(powercut_keeping(100, 0), 0xff, "keep past the count keeps them all");
}

Test(write_cache, a_power_cut_unmends_the_sectors_its_lost_writes_had_mended)
{
    write_cache_set_limit(&wc, fd, 1 << 20);
    char block[WRITE_CACHE_BLOCK] = {0};
    cr_assert_eq(write_cache_write(&wc, fd, block, sizeof block, 0, &cached), WRITE_CACHE_BLOCK);
    cr_assert(cached);
    cr_assert_eq(write_cache_write(&wc, fd, block, sizeof block, 8 * WRITE_CACHE_BLOCK, &cached), WRITE_CACHE_BLOCK);
    write_cache_note_mended(&wc, 2, 5, EIO);
    write_cache_note_mended(&wc, 64, 64, ENODEV);
    write_cache_note_mended(&wc, 500, 507, EIO); /* no block held there: nothing to undo */
    struct write_cache_unmended u;
    cr_assert_eq(write_cache_powercut(&wc, fd, 0, 0, &u), 2 * WRITE_CACHE_BLOCK);
    cr_assert_eq(u.count, 2);
    cr_assert_eq(u.runs[0].first, 2);
    cr_assert_eq(u.runs[0].last, 5);
    cr_assert_eq(u.runs[0].error, EIO);
    cr_assert_eq(u.runs[1].first, 64);
    cr_assert_eq(u.runs[1].error, ENODEV);
    free(u.runs);
    /* Flushed, the mends are for good. */
    write_cache_write(&wc, fd, block, sizeof block, 0, &cached);
    write_cache_note_mended(&wc, 0, 7, EIO);
    write_cache_flush(&wc, fd, true);
    cr_assert_eq(write_cache_powercut(&wc, fd, 0, 0, &u), 0);
    cr_assert_eq(u.count, 0);
    free(u.runs);
}
