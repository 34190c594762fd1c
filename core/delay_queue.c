/* A min-heap of delayed jobs served by a small pool of worker threads. */
#include "delay_queue.h"

#include "duration.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static void heap_swap(struct delay_job **heap, size_t a, size_t b)
{
    struct delay_job *t = heap[a];
    heap[a] = heap[b];
    heap[b] = t;
}

static void heap_push(struct delay_queue *q, struct delay_job *job)
{
    size_t i = q->count++;
    q->heap[i] = job;
    while (i > 0 && q->heap[(i - 1) / 2]->due_ns > q->heap[i]->due_ns) {
        heap_swap(q->heap, i, (i - 1) / 2);
        i = (i - 1) / 2;
    }
}

static struct delay_job *heap_pop(struct delay_queue *q)
{
    struct delay_job *top = q->heap[0];
    q->heap[0] = q->heap[--q->count];
    size_t i = 0;
    for (;;) {
        size_t l = 2 * i + 1, r = l + 1, least = i;
        if (l < q->count && q->heap[l]->due_ns < q->heap[least]->due_ns)
            least = l;
        if (r < q->count && q->heap[r]->due_ns < q->heap[least]->due_ns)
            least = r;
        if (least == i)
            break;
        heap_swap(q->heap, i, least);
        i = least;
    }
    return top;
}

static void *delay_worker(void *arg)
{
    struct delay_queue *q = arg;
    pthread_mutex_lock(&q->lock);
    for (;;) {
        if (q->count == 0) {
            if (q->stopping)
                break;
            pthread_cond_wait(&q->wake, &q->lock);
            continue;
        }
        uint64_t due = q->heap[0]->due_ns;
        if (!q->stopping && due > duration_now_ns()) {
            struct timespec until = {.tv_sec = (time_t)(due / DURATION_NS_PER_S),
                                     .tv_nsec = (long)(due % DURATION_NS_PER_S)};
            pthread_cond_timedwait(&q->wake, &q->lock, &until);
            continue;
        }
        struct delay_job *job = heap_pop(q);
        pthread_mutex_unlock(&q->lock);
        job->run(job);
        pthread_mutex_lock(&q->lock);
    }
    pthread_mutex_unlock(&q->lock);
    return NULL;
}

int delay_queue_start(struct delay_queue *q, size_t nworkers)
{
    pthread_condattr_t attr;
    memset(q, 0, sizeof *q);
    pthread_mutex_init(&q->lock, NULL);
    pthread_condattr_init(&attr);
    pthread_condattr_setclock(&attr, CLOCK_MONOTONIC);
    pthread_cond_init(&q->wake, &attr);
    pthread_condattr_destroy(&attr);

    q->workers = calloc(nworkers, sizeof *q->workers);
    if (!q->workers)
        return -ENOMEM;
    for (; q->nworkers < nworkers; q->nworkers++) {
        int rc = pthread_create(&q->workers[q->nworkers], NULL, delay_worker, q);
        if (rc) {
            delay_queue_stop(q);
            return -rc;
        }
    }
    return 0;
}

void delay_queue_stop(struct delay_queue *q)
{
    if (!q->workers)
        return; /* never started, or already stopped */
    pthread_mutex_lock(&q->lock);
    q->stopping = true;
    pthread_cond_broadcast(&q->wake);
    pthread_mutex_unlock(&q->lock);
    for (size_t i = 0; i < q->nworkers; i++)
        pthread_join(q->workers[i], NULL);
    free(q->workers);
    free(q->heap);
    pthread_cond_destroy(&q->wake);
    pthread_mutex_destroy(&q->lock);
    memset(q, 0, sizeof *q);
}

int delay_queue_add(struct delay_queue *q, struct delay_job *job, uint64_t delay_ns)
{
    int rc = 0;
    if (!q->workers)
        return -ESHUTDOWN; /* never started, or stopped: nobody would run JOB */
    job->due_ns = duration_now_ns() + delay_ns;
    pthread_mutex_lock(&q->lock);
    if (q->stopping) {
        rc = -ESHUTDOWN;
    } else if (q->count == q->capacity) {
        size_t cap = q->capacity ? q->capacity * 2 : 64;
        struct delay_job **grown = realloc(q->heap, cap * sizeof *grown);
        if (!grown)
            rc = -ENOMEM;
        else {
            q->heap = grown;
            q->capacity = cap;
        }
    }
    if (rc == 0) {
        heap_push(q, job);
        if (q->heap[0] == job)
            pthread_cond_broadcast(&q->wake);
    }
    pthread_mutex_unlock(&q->lock);
    return rc;
}
