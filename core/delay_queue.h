/*
 * Jobs that run after a delay, on a few worker threads, so a request that a
 * slow fault holds back waits in a queue rather than tying up a thread.
 *
 * A queued job can be cancelled (its requester gave up) or brought forward
 * (the fault that delays it was cleared or shortened); each job runs at
 * most once, and a cancelled one never.
 *
 * Lock order: the queue's lock, then whatever a reschedule callback takes
 * (a fault table's lock, a leaf).
 */
#ifndef FAULTFS_DELAY_QUEUE_H
#define FAULTFS_DELAY_QUEUE_H

#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

enum delay_job_state {
    DELAY_JOB_NEW,       /* not added yet (a zeroed job is new) */
    DELAY_JOB_QUEUED,    /* waiting in the heap */
    DELAY_JOB_TAKEN,     /* a worker runs it, or has run it */
    DELAY_JOB_CANCELLED, /* will never run */
};

struct delay_job {
    void (*run)(struct delay_job *job); /* called once, on a worker thread */
    const void *owner;  /* groups jobs for delay_queue_reschedule; may be NULL */
    /* The rest belongs to the queue (guarded by its lock). */
    uint64_t parked_ns; /* CLOCK_MONOTONIC when added */
    uint64_t due_ns;    /* CLOCK_MONOTONIC when it runs */
    size_t slot;        /* its index in the heap while queued */
    enum delay_job_state state;
};

struct delay_queue {
    pthread_mutex_t lock; /* guards heap, count, capacity, stopping */
    pthread_cond_t wake;  /* a new earliest job, or stop */
    struct delay_job **heap; /* min-heap on due_ns */
    size_t count;
    size_t capacity;
    bool stopping;
    pthread_t *workers;
    size_t nworkers;
};

int delay_queue_start(struct delay_queue *q, size_t nworkers);

/* Runs every job still queued at once, then stops the workers. Safe to call twice. */
void delay_queue_stop(struct delay_queue *q);

/*
 * Queues JOB to run DELAY_NS from now. The caller keeps JOB alive until it
 * runs or is cancelled. -ESHUTDOWN once the queue is stopped, -ECANCELED if
 * JOB was cancelled before it was added, -ENOMEM: JOB will not run.
 */
int delay_queue_add(struct delay_queue *q, struct delay_job *job, uint64_t delay_ns);

/*
 * Cancels JOB: true if it was queued and is now removed (it will never run
 * and the caller owns it again). False if a worker has taken it (it runs as
 * usual), or if it was not added yet (the add will fail with -ECANCELED).
 */
bool delay_queue_cancel(struct delay_queue *q, struct delay_job *job);

/*
 * Brings forward the queued jobs of OWNER: each now runs no later than
 * DELAY(job, CTX) after it was added (never later than it was due).
 * DELAY is called under the queue's lock.
 */
void delay_queue_reschedule(struct delay_queue *q, const void *owner,
                            uint64_t (*delay)(const struct delay_job *job, void *ctx), void *ctx);

#endif
