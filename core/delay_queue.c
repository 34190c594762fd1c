/* A min-heap of delayed jobs served by a small pool of worker threads. */
#include "delay_queue.h"

#include "duration.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static void heap_set(struct delay_queue *q, size_t i, struct delay_job *job)
{
    q->heap[i] = job;
    job->slot = i;
}

static void heap_up(struct delay_queue *q, size_t i)
{
    struct delay_job *job = q->heap[i];
    while (i > 0 && q->heap[(i - 1) / 2]->due_ns > job->due_ns) {
        heap_set(q, i, q->heap[(i - 1) / 2]);
        i = (i - 1) / 2;
    }
    heap_set(q, i, job);
}

static void heap_down(struct delay_queue *q, size_t i)
{
    struct delay_job *job = q->heap[i];
    for (;;) {
        size_t l = 2 * i + 1, r = l + 1, least = l;
        if (l >= q->count)
            break;
        if (r < q->count && q->heap[r]->due_ns < q->heap[l]->due_ns)
            least = r;
        if (q->heap[least]->due_ns >= job->due_ns)
            break;
        heap_set(q, i, q->heap[least]);
        i = least;
    }
    heap_set(q, i, job);
}

static void heap_push(struct delay_queue *q, struct delay_job *job)
{
    heap_set(q, q->count++, job);
    heap_up(q, job->slot);
}

/* Takes the job at slot I out of the heap. */
static struct delay_job *heap_remove(struct delay_queue *q, size_t i)
{
    struct delay_job *job = q->heap[i];
    struct delay_job *last = q->heap[--q->count];
    if (i < q->count) {
        heap_set(q, i, last);
        heap_up(q, i);
        heap_down(q, last->slot);
    }
    return job;
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
        struct delay_job *job = heap_remove(q, 0);
        job->state = DELAY_JOB_TAKEN;
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
    pthread_mutex_lock(&q->lock);
    job->parked_ns = duration_now_ns();
    job->due_ns = job->parked_ns + delay_ns;
    if (job->state == DELAY_JOB_CANCELLED) {
        rc = -ECANCELED;
    } else if (q->stopping) {
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
        job->state = DELAY_JOB_QUEUED;
        heap_push(q, job);
        if (q->heap[0] == job)
            pthread_cond_broadcast(&q->wake);
    }
    pthread_mutex_unlock(&q->lock);
    return rc;
}

bool delay_queue_cancel(struct delay_queue *q, struct delay_job *job)
{
    bool removed = false;
    pthread_mutex_lock(&q->lock);
    if (job->state == DELAY_JOB_QUEUED) {
        heap_remove(q, job->slot);
        removed = true;
    }
    if (job->state != DELAY_JOB_TAKEN)
        job->state = DELAY_JOB_CANCELLED;
    pthread_mutex_unlock(&q->lock);
    return removed;
}

void delay_queue_reschedule(struct delay_queue *q, const void *owner,
                            uint64_t (*delay)(const struct delay_job *job, void *ctx), void *ctx)
{
    bool earlier = false;
    pthread_mutex_lock(&q->lock);
    for (size_t i = 0; i < q->count; i++) {
        struct delay_job *job = q->heap[i];
        if (job->owner != owner)
            continue;
        uint64_t due = job->parked_ns + delay(job, ctx);
        if (due < job->due_ns) {
            job->due_ns = due;
            heap_up(q, i); /* only moves toward the root: slots past I keep their jobs */
            earlier = true;
        }
    }
    if (earlier)
        pthread_cond_broadcast(&q->wake);
    pthread_mutex_unlock(&q->lock);
}
