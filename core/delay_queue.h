/*
 * Jobs that run after a delay, on a few worker threads, so a request that a
 * slow fault holds back waits in a queue rather than tying up a thread.
 */
#ifndef FAULTFS_DELAY_QUEUE_H
#define FAULTFS_DELAY_QUEUE_H

#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct delay_job {
    uint64_t due_ns;                    /* CLOCK_MONOTONIC; set by delay_queue_add */
    void (*run)(struct delay_job *job); /* called once, on a worker thread */
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
 * runs. -ESHUTDOWN once the queue is stopped (JOB will not run), -ENOMEM.
 */
int delay_queue_add(struct delay_queue *q, struct delay_job *job, uint64_t delay_ns);

#endif
