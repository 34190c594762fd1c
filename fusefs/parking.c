/* Parking requests held back by a slow fault: see parking.h. */
#include "parking.h"

#include "duration.h"

#include <errno.h>
#include <stdlib.h>

/* How often a write waiting for room looks whether its requester gave up. */
#define PARKING_ROOM_POLL_NS (50 * DURATION_NS_PER_MS)

int parking_start(struct parking *lot, uint64_t budget, size_t nworkers)
{
    pthread_condattr_t attr;
    lot->budget = budget;
    lot->used = 0;
    pthread_condattr_init(&attr);
    pthread_condattr_setclock(&attr, CLOCK_MONOTONIC);
    pthread_cond_init(&lot->room, &attr);
    pthread_condattr_destroy(&attr);
    pthread_mutex_init(&lot->lock, NULL);
    return delay_queue_start(&lot->queue, nworkers);
}

void parking_stop(struct parking *lot)
{
    delay_queue_stop(&lot->queue);
    pthread_cond_destroy(&lot->room);
    pthread_mutex_destroy(&lot->lock);
}

int parking_reserve(struct parking *p, struct request req, size_t bytes)
{
    int rc = 0;
    if (bytes == 0)
        return 0;
    pthread_mutex_lock(&p->lock);
    /* One request larger than the whole budget still goes when nothing else is parked. */
    while (p->used > 0 && p->used + bytes > p->budget) {
        if (request_interrupted(req)) {
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

void parking_unreserve(struct parking *p, size_t bytes)
{
    if (bytes == 0)
        return;
    pthread_mutex_lock(&p->lock);
    p->used -= bytes;
    pthread_cond_broadcast(&p->room);
    pthread_mutex_unlock(&p->lock);
}

void parking_discard(struct parked *held)
{
    parking_unreserve(held->lot, held->bytes);
    disk_unref(held->rq.disk);
    free(held);
}

/* A worker's turn: steps 2-4 and the one reply. */
static void parked_run(struct delay_job *job)
{
    struct parked *held = (struct parked *)job;
    /* From here on no interrupt callback may look at HELD: we answer and free it. */
    request_on_interrupt(held->req, NULL);
    held->finish(held);
    parking_discard(held);
}

/* The transport calls this (under the request's lock) when the requester gives up. */
static void parked_interrupted(void *data)
{
    struct parked *held = data;
    if (!delay_queue_cancel(&held->lot->queue, &held->job))
        return; /* a worker has it and answers; or it is not queued yet and the add fails */
    disk_request_abandon(&held->rq, EINTR);
    request_reply_err(held->req, EINTR);
    parking_discard(held);
}

int parking_hold(struct parked *held, uint64_t delay_ns)
{
    held->job.run = parked_run;
    held->job.owner = held->rq.disk;
    held->interrupt = (struct request_interrupt){.fn = parked_interrupted, .data = held};
    request_on_interrupt(held->req, &held->interrupt);
    int rc = delay_queue_add(&held->lot->queue, &held->job, delay_ns);
    if (rc < 0) {
        request_on_interrupt(held->req, NULL);
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

void parking_retime(struct parking *lot, struct disk *disk)
{
    delay_queue_reschedule(&lot->queue, disk, parked_delay_now, NULL);
}
