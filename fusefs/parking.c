/*
 * Requests held back by a slow fault: parked on the delay queue, not in a
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
#include "faultfs.h"

#include "duration.h"

#include <errno.h>
#include <stdlib.h>

/* How often a write waiting for room looks whether its requester gave up. */
#define PARKING_ROOM_POLL_NS (50 * DURATION_NS_PER_MS)

int parking_init(struct parking *p, uint64_t budget)
{
    pthread_condattr_t attr;
    p->budget = budget;
    p->used = 0;
    pthread_condattr_init(&attr);
    pthread_condattr_setclock(&attr, CLOCK_MONOTONIC);
    int rc = pthread_cond_init(&p->room, &attr);
    pthread_condattr_destroy(&attr);
    if (rc == 0)
        rc = pthread_mutex_init(&p->lock, NULL);
    return -rc;
}

void parking_destroy(struct parking *p)
{
    pthread_cond_destroy(&p->room);
    pthread_mutex_destroy(&p->lock);
}

int parking_reserve(struct faultfs *fs, fuse_req_t req, size_t bytes)
{
    struct parking *p = &fs->parked;
    int rc = 0;
    if (bytes == 0)
        return 0;
    pthread_mutex_lock(&p->lock);
    /* One request larger than the whole budget still goes when nothing else is parked. */
    while (p->used > 0 && p->used + bytes > p->budget) {
        if (fuse_req_interrupted(req)) {
            rc = -EINTR;
            break;
        }
        uint64_t until = duration_now_ns() + PARKING_ROOM_POLL_NS;
        struct timespec ts = {.tv_sec = (time_t)(until / DURATION_NS_PER_S),
                              .tv_nsec = (long)(until % DURATION_NS_PER_S)};
        pthread_cond_timedwait(&p->room, &p->lock, &ts);
    }
    if (rc == 0)
        p->used += bytes;
    pthread_mutex_unlock(&p->lock);
    return rc;
}

void parking_unreserve(struct faultfs *fs, size_t bytes)
{
    struct parking *p = &fs->parked;
    if (bytes == 0)
        return;
    pthread_mutex_lock(&p->lock);
    p->used -= bytes;
    pthread_cond_broadcast(&p->room);
    pthread_mutex_unlock(&p->lock);
}

void parking_discard(struct parked *held)
{
    parking_unreserve(held->fs, held->bytes);
    disk_unref(held->rq.disk);
    free(held);
}

/* A worker's turn: steps 2-4 and the one reply. */
static void parked_run(struct delay_job *job)
{
    struct parked *held = (struct parked *)job;
    /* From here on no interrupt callback may look at HELD: we answer and free it. */
    fuse_req_interrupt_func(held->req, NULL, NULL);
    held->finish(held);
    parking_discard(held);
}

/* libfuse calls this (under the request's lock) when the requester gives up. */
static void parked_interrupted(fuse_req_t req, void *data)
{
    struct parked *held = data;
    if (!delay_queue_cancel(&held->fs->delays, &held->job))
        return; /* a worker has it and answers; or it is not queued yet and the add fails */
    disk_request_abandon(&held->rq, EINTR);
    fuse_reply_err(req, EINTR);
    parking_discard(held);
}

int parking_hold(struct parked *held, uint64_t delay_ns)
{
    held->job.run = parked_run;
    held->job.owner = held->rq.disk;
    fuse_req_interrupt_func(held->req, parked_interrupted, held);
    int rc = delay_queue_add(&held->fs->delays, &held->job, delay_ns);
    if (rc < 0) {
        fuse_req_interrupt_func(held->req, NULL, NULL);
        return rc == -ECANCELED ? -EINTR : rc;
    }
    return 0;
}

/* How long a parked request should wait under its disk's rules as they are now. */
static uint64_t parked_delay_now(const struct delay_job *job, void *ctx)
{
    const struct parked *held = (const struct parked *)job;
    (void)ctx;
    if (atomic_load(&held->rq.disk->detached))
        return 0;
    return disk_request_delay_now_ns(&held->rq);
}

void parking_retime(struct faultfs *fs, struct disk *disk)
{
    delay_queue_reschedule(&fs->delays, disk, parked_delay_now, NULL);
}
