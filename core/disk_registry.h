/*
 * The disks of one mount, by id and by serial; attach and detach batches.
 *
 * Lock order: registry lock, then disks' fault table locks (several at once
 * for a batch of "ID: COMMAND" lines; only this file takes more than one).
 */
#ifndef FAULTFS_DISK_REGISTRY_H
#define FAULTFS_DISK_REGISTRY_H

#include "ctl_parse.h"
#include "disk.h"

#include <jansson.h>
#include <pthread.h>

struct disk_registry {
    pthread_mutex_t lock; /* guards disks, count, capacity, next_serial */
    struct disk **disks;  /* attached disks, sorted by serial (ascending) */
    size_t count;
    size_t capacity;
    uint64_t next_serial;
    char *mount_root;          /* images inside it are refused; NULL = no such check */
    struct image_guard guard;  /* set before any attach, then read-only */
};

/* MOUNT_ROOT (may be NULL) is the mountpoint, not mounted over yet. */
int disk_registry_init(struct disk_registry *reg, const char *mount_root);

/* Call once the mount is up: from then on images on it are refused too. 0 or -errno. */
int disk_registry_guard_mounted(struct disk_registry *reg);

/* Detaches every disk. */
void disk_registry_destroy(struct disk_registry *reg);

/*
 * Applies the attach, detach and "ID: COMMAND" lines of BATCH, all or
 * nothing (a disk's commands may follow its attach in the batch). Returns
 * 0, or -errno with ERR naming the line and the reason: -EEXIST for an id in
 * use, -ENOENT for detaching an unknown id or a missing image, -EINVAL for an
 * image that is not a regular file or lies inside the mount.
 */
int disk_registry_apply(struct disk_registry *reg, const struct ctl_batch *batch,
                        struct ff_error *err);

/*
 * Checks commands [FROM, count) of BATCH as apply would, against the disks
 * attached now, without changing anything: ids in use or missing, images
 * that cannot be opened. Returns 0 or -errno with ERR, as apply. Lets a
 * batch written in pieces report a mistake at the piece that makes it.
 */
int disk_registry_check(struct disk_registry *reg, const struct ctl_batch *batch, size_t from,
                        struct ff_error *err);

/* The attached disk with this id or serial, with a reference the caller drops; NULL if none. */
struct disk *disk_registry_find_id(struct disk_registry *reg, const char *id, size_t len);
struct disk *disk_registry_find_serial(struct disk_registry *reg, uint64_t serial);

/*
 * The attached disks, sorted by serial, each with a reference: free with
 * disk_registry_list_free. Returns the count, or -ENOMEM.
 */
ssize_t disk_registry_list(struct disk_registry *reg, struct disk ***out);
void disk_registry_list_free(struct disk **disks, size_t count);

/* {"disks":[disk_info_json, ...]} (new reference) */
json_t *disk_registry_json(struct disk_registry *reg);

#endif
