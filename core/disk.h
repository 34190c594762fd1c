/*
 * A disk: one backing image under an id, with its fault table and counters.
 *
 * Disks are reference counted: the registry holds one reference while the
 * disk is attached, every open file and every request in flight holds one.
 * A detached disk lives on until its last reference goes, but no request
 * reaches its image after disk_mark_detached() returns.
 */
#ifndef FAULTFS_DISK_H
#define FAULTFS_DISK_H

#include "disk_id.h"
#include "fault_table.h"
#include "ff_error.h"
#include "image_open.h"
#include "io_trace.h"
#include "write_cache.h"

#include <jansson.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

/* Counters of one disk; every field counts requests unless it says bytes. */
struct disk_stats {
    _Atomic uint64_t reads;         /* read requests received */
    _Atomic uint64_t writes;        /* write requests received (discards included) */
    _Atomic uint64_t read_bytes;    /* bytes returned by successful reads */
    _Atomic uint64_t write_bytes;   /* bytes stored by successful writes */
    _Atomic uint64_t flushes;       /* fsync / fdatasync requests, and synchronous writes */
    _Atomic uint64_t discards;      /* punch-hole and zero-range requests */
    _Atomic uint64_t failed_reads;  /* reads that returned an error, injected or not */
    _Atomic uint64_t failed_writes; /* writes that returned an error, injected or not */
    _Atomic uint64_t failed_flushes; /* flushes that returned an error */
    _Atomic uint64_t healed_sectors; /* bad sectors mended by a write */
    /* Nanoseconds requests spent from arrival to answer (delays included), by kind. */
    _Atomic uint64_t read_ns, write_ns, flush_ns;
};

struct disk {
    uint64_t serial; /* unique within a registry, never reused: names the disk's inodes */
    char id[DISK_ID_MAX + 1];
    char *image_path;
    int fd;              /* the backing image, read-write */
    uint64_t size_limit; /* bytes visible; 0 = the whole image */
    struct fault_table faults;
    struct write_cache cache; /* on while a volatile rule is in the table */
    struct io_trace trace;
    struct disk_stats stats;
    _Atomic unsigned refs;
    _Atomic bool detached;
    _Atomic unsigned in_flight; /* requests touching the image right now */
    pthread_mutex_t drain_lock; /* with drained: a detach waits for in_flight to reach 0 */
    pthread_cond_t drained;
};

/*
 * Opens IMAGE for disk ID: it must be an absolute path to an existing
 * regular file, not inside the mount GUARD watches (may be NULL); see
 * image_open(). Nothing is ever created. Returns 0, or -errno with ERR
 * naming the path and the reason.
 */
int disk_open(const char *id, const char *image, uint64_t size_limit,
              const struct image_guard *guard, struct disk **out, struct ff_error *err);

void disk_ref(struct disk *disk);
void disk_unref(struct disk *disk);

/*
 * Visible size now: the image's live size (or the end of what its volatile
 * cache holds, if further), cut at size_limit. -errno if fstat fails.
 */
int disk_size(struct disk *disk, uint64_t *out);

/*
 * Brackets every touch of the image. disk_io_enter() fails with -ENXIO once
 * the disk is detached; a successful enter must be paired with a leave.
 */
int disk_io_enter(struct disk *disk);
void disk_io_leave(struct disk *disk);

/* Marks DISK detached and waits until no request is inside its image. */
void disk_mark_detached(struct disk *disk);

/* {"id":..., "reads":..., ..., "faults_fired":..., "fired":{"eio_read":...}} (new reference) */
json_t *disk_stats_json(struct disk *disk);

/* {"id":..., "image":..., "size":..., "size_limit":..., "faults":["eio_read", ...]} */
json_t *disk_info_json(struct disk *disk);

#endif
