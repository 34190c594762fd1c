/*
 * Requests held back by a slow fault: parked on a delay queue, not in a
 * thread, until their delay is up; then a delay worker finishes them.
 *
 * A parked request stays answerable at every moment:
 * - its requester gives up (a signal: the kernel sends FUSE_INTERRUPT): it is
 *   taken off the queue and answered EINTR at once;
 * - its disk's rules change: it waits only as long as the rules now in force
 *   say, counted from when it was parked (`clear` releases it at once);
 * - its disk is detached: it is released at once and fails with ENXIO.
 * Parked writes carry their data, so the bytes parked are bounded (-o
 * max_parked): over the bound, a write waits in its thread for room, and
 * once every thread waits, new requests wait in the kernel.
 */
#ifndef FAULTFS_PARKING_H
#define FAULTFS_PARKING_H

#include "delay_queue.h"
#include "disk_io.h"

#include "request.h"

#include <pthread.h>

/* Write data parked requests may hold unless -o max_parked= says otherwise. */
#define PARKING_DEFAULT_BUDGET (128ull << 20)

struct parking {
    struct delay_queue queue; /* the parked requests, by when they are due */
    pthread_mutex_t lock;     /* guards used */
    pthread_cond_t room;      /* used went down */
    uint64_t budget;          /* bytes of write data parked requests may hold */
    uint64_t used;
};

/* One parked request; the caller allocates it (with room for write data after it). */
struct parked {
    struct delay_job job; /* first: the queue hands back a pointer to it */
    struct parking *lot;
    struct request req;
    struct request_interrupt interrupt; /* answers it EINTR if its requester gives up */
    struct disk_request rq; /* holds a reference to its disk, dropped with the request */
    size_t bytes;           /* write data it holds, reserved with parking_reserve */
    void (*finish)(struct parked *held); /* steps 2-4 and the reply, on a delay worker */
};

/* Starts NWORKERS delay workers with room for BUDGET bytes of write data. 0 or -errno. */
int parking_start(struct parking *lot, uint64_t budget, size_t nworkers);

/* Finishes every request still parked (their replies go out now), then stops. */
void parking_stop(struct parking *lot);

/* Waits for room for BYTES of write data: 0, or -EINTR once REQ's requester gives up. */
int parking_reserve(struct parking *lot, struct request req, size_t bytes);
void parking_unreserve(struct parking *lot, size_t bytes);

/*
 * Parks HELD (malloc'ed, fields above filled) for DELAY_NS; from then on it is
 * answered and freed for the caller. -errno: the caller replies, then frees
 * it with parking_discard (which also returns its bytes and its disk reference).
 */
int parking_hold(struct parked *held, uint64_t delay_ns);
void parking_discard(struct parked *held);

/* Re-times DISK's parked requests after its rules changed or it was detached. */
void parking_retime(struct parking *lot, struct disk *disk);

#endif
