/*
 * The FUSE-over-io_uring transport: one queue per possible CPU, as the kernel
 * wants, each with its own thread, io_uring and registered entries (slots).
 * INIT, FORGET and INTERRUPT still come through /dev/fuse: the session loop
 * keeps serving it and hands interrupts of ring requests here.
 */
#ifndef FAULTFS_RING_LOOP_H
#define FAULTFS_RING_LOOP_H

#include "request.h"

#include <linux/fuse.h>
#include <stdbool.h>

struct ring_loop;

struct ring_loop_config {
    const struct request_ops *ops; /* the handlers */
    void *userdata;                /* what request_userdata() gives them */
    /* Called once every queue is registered (0: the kernel sends every
     * request to the ring from then on), or once the kernel refused one
     * (-errno: requests stay on /dev/fuse). */
    void (*on_ready)(void *userdata, int error);
    /* A request held (parked) keeps its slot, so queues grow while few are
     * left; they stop growing while the held requests' write data passes
     * this many bytes (0: no bound), and new requests then wait in the kernel. */
    uint64_t max_held_bytes;
};

/*
 * Starts the queues' threads for SE (mounted, its /dev/fuse open). They
 * register once the kernel has taken FUSE_INIT, which the session loop must
 * serve meanwhile. 0 or -errno.
 */
int ring_loop_start(struct fuse_session *se, const struct ring_loop_config *config,
                    struct ring_loop **out);

/* Stops the threads and frees RING (the kernel ends what it still queued at unmount). */
void ring_loop_stop(struct ring_loop *ring);

/*
 * A request read from /dev/fuse, before libfuse sees it: true if RING took it
 * (an interrupt of one of its requests, or of one already answered).
 */
bool ring_loop_intercept(struct ring_loop *ring, const void *buf, size_t len);

/* Whether the kernel accepts FUSE over io_uring registrations (its module parameter is on). */
bool ring_loop_kernel_enabled(void);

/* ---- for request.c ---- */

void *ring_slot_userdata(struct ring_slot *slot);
const struct fuse_in_header *ring_slot_in_header(struct ring_slot *slot);
/* The reply: -ERR, or ARG (SIZE bytes) as its arguments. */
int ring_slot_reply(struct ring_slot *slot, int err, const void *arg, size_t size);
void *ring_slot_payload(struct ring_slot *slot, size_t size);
void ring_slot_on_interrupt(struct ring_slot *slot, struct request_interrupt *hook);
bool ring_slot_interrupted(struct ring_slot *slot);

#endif
