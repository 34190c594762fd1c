/* A few threads that run handed-over work items in order, one thread each. */
#ifndef FAULTFS_WORK_POOL_H
#define FAULTFS_WORK_POOL_H

#include <pthread.h>
#include <stdbool.h>

#define WORK_POOL_MAX_THREADS 8

/* Embedded in what is handed over. */
struct work_item {
    struct work_item *next;
};

struct work_pool {
    void (*run)(struct work_item *item);
    pthread_mutex_t lock; /* guards head, tail and stopping */
    pthread_cond_t work;
    struct work_item *head, *tail;
    bool stopping;
    pthread_t threads[WORK_POOL_MAX_THREADS];
    unsigned nthreads; /* 0: none could start; the caller runs the work itself */
};

/* Starts one thread per CPU this process may run on (at most WORK_POOL_MAX_THREADS). */
void work_pool_start(struct work_pool *pool, void (*run)(struct work_item *item));

/* Hands ITEM to the next free thread. */
void work_pool_push(struct work_pool *pool, struct work_item *item);

/* Runs every item handed over, then ends the threads. */
void work_pool_stop(struct work_pool *pool);

#endif
