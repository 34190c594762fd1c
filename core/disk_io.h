/*
 * One request to a disk, from start to end: the pipeline every read, write,
 * discard, write-zeroes and flush follows, whoever sends it (the guest
 * through the mount, or a test script through the same mount).
 *
 * The life of a request:
 *   struct disk_request rq = {.disk, .op, .offset, .length, ...};
 *   disk_request_begin(&rq);            counted as received
 *   delay = disk_request_delay_ns(&rq); 1. the rules' delay: the caller parks
 *                                          the request (the daemon) for so long
 *   n = disk_request_run(&rq);          2. check the rules: a fault fails it here,
 *                                          before any byte moves;
 *                                       3. the I/O, within the disk's size rules;
 *                                          a data fault (corrupt, drop, torn)
 *                                          changes the bytes in step 3;
 *                                       4. check again: a fault switched on
 *                                          meanwhile still fails it;
 *                                       and the outcome is counted
 *   or disk_request_abandon(&rq, err);  a request that never ran (its requester
 *                                       gave up while parked): counted as failed
 *
 * Every outcome is counted here and only here, in the disk's stats.
 */
#ifndef FAULTFS_DISK_IO_H
#define FAULTFS_DISK_IO_H

#include "disk.h"

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

enum disk_op {
    DISK_OP_READ,
    DISK_OP_WRITE,
    DISK_OP_DISCARD,      /* fallocate PUNCH_HOLE|KEEP_SIZE */
    DISK_OP_WRITE_ZEROES, /* fallocate ZERO_RANGE [|KEEP_SIZE] */
    DISK_OP_ALLOCATE,     /* fallocate 0 [|KEEP_SIZE]: preallocation */
    DISK_OP_FLUSH,        /* fsync / fdatasync */
};

struct disk_request;

/* Reads: the buffer to read into when buf is NULL (the daemon's, of the replying thread). */
typedef void *(*disk_buffer_fn)(struct disk_request *rq);

/*
 * Moves LEN bytes at the request's offset from the image somewhere of the
 * caller's choosing (the daemon splices them into a pipe): bytes moved, or
 * -errno. -EAGAIN or -EINVAL: not this time, read into buf instead.
 */
typedef ssize_t (*disk_read_fn)(struct disk_request *rq, uint64_t len);

struct disk_request {
    struct disk *disk; /* the caller holds a reference throughout */
    enum disk_op op;
    uint64_t offset;   /* bytes */
    uint64_t length;   /* bytes; 0 for a flush */
    int flags;         /* writes: O_DSYNC / O_SYNC ask for durability; flushes: 1 = fdatasync;
                          write-zeroes and allocations: FALLOC_FL_KEEP_SIZE keeps the size */
    const void *data;  /* writes: the bytes */
    void *buf;         /* reads: where the bytes go, at least length long, unless read moves them */
    disk_read_fn read; /* reads: optional, tried before buf */
    disk_buffer_fn buffer; /* reads: gives buf when it is NULL and read cannot serve */
    void *ctx;         /* the caller's, for read and buffer */
    bool stored;       /* the bytes as stored in the image: errors and delays apply, data
                          faults and the volatile cache do not (MOUNT/ID/stored) */
    uint64_t began_ns; /* set by disk_request_begin: its time in the disk is counted */
    struct fault_verdict verdict; /* set by disk_request_run: the rule that fired */
};

/* Counts RQ as received. */
void disk_request_begin(struct disk_request *rq);

/* Step 1: how long the disk's rules delay RQ now (0 = not at all); counted as a fire. */
uint64_t disk_request_delay_ns(struct disk_request *rq);

/* How long RQ's delay would be under the rules now in force, counted as nothing. */
uint64_t disk_request_delay_now_ns(const struct disk_request *rq);

/*
 * Steps 2-4 and the count of the outcome. Returns the bytes read or written
 * (a read at or past the end returns 0 bytes, one crossing it is cut there),
 * 0 for the other ops, or -errno: an injected fault's, -ENXIO once the disk
 * is detached, -ENOSPC for a write crossing a size= cap (past the
 * image's end a write grows it), the image's own error.
 */
ssize_t disk_request_run(struct disk_request *rq);

/* Counts RQ, which will never run, as failed with -ERR. */
void disk_request_abandon(struct disk_request *rq, int err);

/* The enum fault_dir bits RQ is seen under: a discard is also a write, an O_DSYNC write also a flush. */
unsigned disk_request_dirs(const struct disk_request *rq);

#endif
