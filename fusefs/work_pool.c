/* The work pool: see work_pool.h. Its threads are ordinary ones, unpinned. */
#include "work_pool.h"

#include <sched.h>

void work_pool_push(struct work_pool *pool, struct work_item *item)
{
    item->next = NULL;
    pthread_mutex_lock(&pool->lock);
    if (pool->tail)
        pool->tail->next = item;
    else
        pool->head = item;
    pool->tail = item;
    pthread_cond_signal(&pool->work);
    pthread_mutex_unlock(&pool->lock);
}

static void *work_pool_main(void *arg)
{
    struct work_pool *pool = arg;
    for (;;) {
        pthread_mutex_lock(&pool->lock);
        while (!pool->head && !pool->stopping)
            pthread_cond_wait(&pool->work, &pool->lock);
        struct work_item *item = pool->head;
        if (item) {
            pool->head = item->next;
            if (!pool->head)
                pool->tail = NULL;
        }
        pthread_mutex_unlock(&pool->lock);
        if (!item)
            return NULL; /* stopping, and everything handed over has run */
        pool->run(item);
    }
}

void work_pool_start(struct work_pool *pool, void (*run)(struct work_item *item))
{
    cpu_set_t set;
    unsigned n = 1;
    pool->run = run;
    pthread_mutex_init(&pool->lock, NULL);
    pthread_cond_init(&pool->work, NULL);
    if (sched_getaffinity(0, sizeof set, &set) == 0)
        n = (unsigned)CPU_COUNT(&set);
    if (n > WORK_POOL_MAX_THREADS)
        n = WORK_POOL_MAX_THREADS;
    while (pool->nthreads < n &&
           pthread_create(&pool->threads[pool->nthreads], NULL, work_pool_main, pool) == 0)
        pool->nthreads++;
}

void work_pool_stop(struct work_pool *pool)
{
    pthread_mutex_lock(&pool->lock);
    pool->stopping = true;
    pthread_cond_broadcast(&pool->work);
    pthread_mutex_unlock(&pool->lock);
    for (unsigned i = 0; i < pool->nthreads; i++)
        pthread_join(pool->threads[i], NULL);
    pthread_cond_destroy(&pool->work);
    pthread_mutex_destroy(&pool->lock);
}
