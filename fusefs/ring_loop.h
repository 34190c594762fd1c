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

/*
 * Starts the queues' threads for SE (mounted, its /dev/fuse open) serving OPS
 * with USERDATA. They register once the kernel has taken FUSE_INIT, which
 * the session loop must serve meanwhile; then ON_READY(USERDATA, 0) is
 * called once every queue is registered (the kernel sends every request to
 * the ring from then on), or ON_READY(USERDATA, -errno) once the kernel
 * refused one (requests stay on /dev/fuse). 0 or -errno.
 */
int ring_loop_start(struct fuse_session *se, const struct request_ops *ops, void *userdata,
                    void (*on_ready)(void *userdata, int error), struct ring_loop **out);

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
