/* One disk: its backing image, life cycle and JSON views. */
#include "disk.h"

#include "image_open.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

int disk_open(const char *id, const char *image, uint64_t size_limit,
              const struct image_guard *guard, struct disk **out, struct ff_error *err)
{
    int fd = image_open(image, guard, err);
    if (fd < 0)
        return fd;

    struct disk *disk = calloc(1, sizeof *disk);
    if (!disk || !(disk->image_path = strdup(image)) || fault_table_init(&disk->faults) < 0) {
        if (disk)
            free(disk->image_path);
        free(disk);
        close(fd);
        return ff_error_set(err, -ENOMEM, "out of memory");
    }
    write_cache_init(&disk->cache);
    io_trace_init(&disk->trace);
    snprintf(disk->id, sizeof disk->id, "%s", id);
    disk->fd = fd;
    disk->size_limit = size_limit;
    atomic_init(&disk->refs, 1);
    atomic_init(&disk->detached, false);
    atomic_init(&disk->in_flight, 0);
    pthread_mutex_init(&disk->drain_lock, NULL);
    pthread_cond_init(&disk->drained, NULL);
    *out = disk;
    return 0;
}

void disk_ref(struct disk *disk)
{
    atomic_fetch_add_explicit(&disk->refs, 1, memory_order_relaxed);
}

void disk_unref(struct disk *disk)
{
    if (atomic_fetch_sub_explicit(&disk->refs, 1, memory_order_acq_rel) != 1)
        return;
    close(disk->fd);
    fault_table_destroy(&disk->faults);
    write_cache_destroy(&disk->cache); /* what it held was never flushed: lost, as on a pulled disk */
    io_trace_destroy(&disk->trace);
    pthread_cond_destroy(&disk->drained);
    pthread_mutex_destroy(&disk->drain_lock);
    free(disk->image_path);
    free(disk);
}

int disk_size(struct disk *disk, uint64_t *out)
{
    struct stat st;
    if (fstat(disk->fd, &st) < 0)
        return -errno;
    uint64_t size = (uint64_t)st.st_size;
    if (write_cache_busy(&disk->cache)) {
        uint64_t cached = write_cache_end(&disk->cache);
        size = cached > size ? cached : size;
    }
    if (disk->size_limit && disk->size_limit < size)
        size = disk->size_limit;
    *out = size;
    return 0;
}

int disk_io_enter(struct disk *disk)
{
    /* Sequentially consistent on both sides: either detach sees us in flight or we see it. */
    atomic_fetch_add(&disk->in_flight, 1);
    if (atomic_load(&disk->detached)) {
        disk_io_leave(disk);
        return -ENXIO;
    }
    return 0;
}

void disk_io_leave(struct disk *disk)
{
    /* The last request out of a detached disk wakes the detach waiting for it. */
    if (atomic_fetch_sub(&disk->in_flight, 1) == 1 && atomic_load(&disk->detached)) {
        pthread_mutex_lock(&disk->drain_lock);
        pthread_cond_broadcast(&disk->drained);
        pthread_mutex_unlock(&disk->drain_lock);
    }
}

void disk_mark_detached(struct disk *disk)
{
    atomic_store(&disk->detached, true);
    pthread_mutex_lock(&disk->drain_lock);
    while (atomic_load(&disk->in_flight) != 0)
        pthread_cond_wait(&disk->drained, &disk->drain_lock);
    pthread_mutex_unlock(&disk->drain_lock);
}

/* [{"rule": "eio_read sectors=0-7", "matched": N, "fired": N}, ...] */
static json_t *rules_json(struct disk *disk, bool counts)
{
    size_t n;
    struct fault_rule *rules = fault_table_copy(&disk->faults, &n);
    json_t *array = json_array();
    for (size_t i = 0; rules && i < n; i++) {
        char line[FAULT_RULE_TEXT_MAX];
        fault_rule_format(&rules[i], false, line);
        json_array_append_new(array, counts ? json_pack("{s:s, s:I, s:I}", "rule", line,
                                                        "matched", (json_int_t)rules[i].matched,
                                                        "fired", (json_int_t)rules[i].fired)
                                            : json_string(line));
    }
    free(rules);
    return array;
}

json_t *disk_stats_json(struct disk *disk)
{
    uint64_t fired[FAULT_MODE_COUNT];
    uint64_t total = 0;
    struct disk_stats *s = &disk->stats;
    json_t *by_mode = json_object();

    fault_table_fired(&disk->faults, fired);
    for (size_t i = 0; i < FAULT_MODE_COUNT; i++) {
        json_object_set_new(by_mode, fault_modes[i].name, json_integer((json_int_t)fired[i]));
        total += fired[i];
    }
    struct write_cache_stats cache;
    write_cache_stats(&disk->cache, &cache);
    json_t *cache_json = json_pack("{s:I, s:I, s:I, s:I, s:I}", "limit", (json_int_t)cache.limit,
                                   "bytes", (json_int_t)cache.bytes, "full",
                                   (json_int_t)cache.full, "powercuts",
                                   (json_int_t)cache.powercuts, "lost_bytes",
                                   (json_int_t)cache.lost_bytes);
    return json_pack("{s:s, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:o, "
                     "s:o, s:o, s:I}",
                     "id",
                     disk->id, "reads", (json_int_t)atomic_load(&s->reads), "writes",
                     (json_int_t)atomic_load(&s->writes), "read_bytes",
                     (json_int_t)atomic_load(&s->read_bytes), "write_bytes",
                     (json_int_t)atomic_load(&s->write_bytes), "flushes",
                     (json_int_t)atomic_load(&s->flushes), "discards",
                     (json_int_t)atomic_load(&s->discards), "failed_reads",
                     (json_int_t)atomic_load(&s->failed_reads), "failed_writes",
                     (json_int_t)atomic_load(&s->failed_writes), "failed_flushes",
                     (json_int_t)atomic_load(&s->failed_flushes), "read_ns",
                     (json_int_t)atomic_load(&s->read_ns), "write_ns",
                     (json_int_t)atomic_load(&s->write_ns), "flush_ns",
                     (json_int_t)atomic_load(&s->flush_ns), "faults_fired",
                     (json_int_t)total, "fired", by_mode, "rules", rules_json(disk, true), "cache", cache_json,
                     "healed_sectors", (json_int_t)atomic_load(&s->healed_sectors));
}

json_t *disk_info_json(struct disk *disk)
{
    uint64_t size = 0;
    disk_size(disk, &size);
    return json_pack("{s:s, s:s, s:I, s:I, s:o}", "id", disk->id, "image", disk->image_path,
                     "size", (json_int_t)size, "size_limit", (json_int_t)disk->size_limit,
                     "faults", rules_json(disk, false));
}
