/*
 * Why: a ring's thread on its requester's CPU (ring_loop.c) makes the
 * scheduler wake the requester on another CPU after each reply, since the
 * thread still runs there; on a virtual machine that wake-up costs an
 * inter-processor interrupt, more than the request. A SCHED_IDLE thread
 * counts as idle, so the requester is woken where it was, and it takes the
 * CPU back at once (measured on the 2-CPU VM, psync QD1 reads over the ring:
 * 24k IOPS as an ordinary thread, 72k at SCHED_IDLE).
 *
 * But a SCHED_IDLE thread gets nothing while ordinary ones keep the CPU busy
 * (QEMU's vCPU threads, a build): its requests would wait for good. So every
 * YIELD_WATCH_MS the watcher looks at each thread (/proc/self/task/TID/stat
 * and schedstat): one that was runnable at two looks in a row and ran for
 * under a quarter of the time between them is starving (a SCHED_IDLE thread
 * still gets a sliver of a busy CPU; and the kernel's own count of time spent
 * waiting, run_delay, only grows once the wait is over: no use here). It is
 * made an ordinary thread for a while, then yields again. A thread that starves again right after
 * is promoted for twice as long (up to YIELD_HOLD_MAX_MS): under lasting contention it costs one
 * short wait every 8 s or more. While no thread makes progress the watcher
 * looks only every YIELD_IDLE_MS.
 */
#include "cpu_yield.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

#define YIELD_WATCH_MS 4
#define YIELD_IDLE_MS 50 /* while no thread made progress for YIELD_IDLE_PERIODS */
#define YIELD_IDLE_PERIODS 250
#define YIELD_HOLD_MIN_MS 250  /* promoted this long at first */
#define YIELD_HOLD_MAX_MS 8000 /* and at most */
#define YIELD_AGAIN_MS 100     /* starving again this soon after: hold twice as long */

struct yield_thread {
    _Atomic pid_t tid; /* 0 until it joins */
    _Atomic uint64_t *progress;
    int stat_fd;      /* /proc/self/task/TID/stat: the state */
    int schedstat_fd; /* .../schedstat: the CPU time */
    bool was_runnable;
    uint64_t last_run;
    bool promoted;
    uint64_t hold_ms;  /* how long the last promotion lasts */
    uint64_t until_ms; /* promoted: when it yields again; else when it last did */
};

struct cpu_yield {
    struct yield_thread *threads;
    size_t nthreads;
    pthread_t watcher;
    pthread_mutex_t lock; /* with stop: the watcher's sleep */
    pthread_cond_t stop;
    bool stopping;
};

bool cpu_yield_allowed(void)
{
    struct rlimit nice;
    if (geteuid() == 0)
        return true;
    /* RLIMIT_NICE is 20 - the lowest nice allowed: 20 allows nice 0. */
    return getrlimit(RLIMIT_NICE, &nice) == 0 && nice.rlim_cur >= 20;
}

static int set_policy(pid_t tid, int policy)
{
    struct sched_param param = {0};
    return sched_setscheduler(tid, policy, &param) == 0 ? 0 : -errno;
}

/* Whether T is runnable (R), and its CPU time in ns; false if unknown. */
static bool thread_sample(struct yield_thread *t, bool *runnable, uint64_t *run_ns)
{
    char text[512];
    unsigned long long run;
    ssize_t n = pread(t->stat_fd, text, sizeof text - 1, 0);
    if (n <= 0)
        return false;
    text[n] = '\0';
    const char *state = strrchr(text, ')'); /* "TID (COMM) STATE ...": COMM may hold anything */
    if (!state || state[1] != ' ')
        return false;
    *runnable = state[2] == 'R';
    n = pread(t->schedstat_fd, text, sizeof text - 1, 0);
    if (n <= 0)
        return false;
    text[n] = '\0';
    if (sscanf(text, "%llu", &run) != 1)
        return false;
    *run_ns = run;
    return true;
}

static uint64_t now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

static void watch_thread(struct yield_thread *t)
{
    bool runnable;
    uint64_t run;
    if (!thread_sample(t, &runnable, &run))
        return;
    bool starving =
        runnable && t->was_runnable && run - t->last_run < YIELD_WATCH_MS * 1000000ull / 4;
    t->was_runnable = runnable;
    t->last_run = run;
    pid_t tid = atomic_load(&t->tid);
    uint64_t now = now_ms();
    if (!t->promoted && starving) {
        bool again = t->hold_ms && now - t->until_ms < YIELD_AGAIN_MS;
        t->hold_ms = again ? t->hold_ms * 2 : YIELD_HOLD_MIN_MS;
        if (t->hold_ms > YIELD_HOLD_MAX_MS)
            t->hold_ms = YIELD_HOLD_MAX_MS;
        t->promoted = set_policy(tid, SCHED_OTHER) == 0;
        t->until_ms = now + t->hold_ms;
    } else if (t->promoted && now >= t->until_ms && set_policy(tid, SCHED_IDLE) == 0) {
        t->promoted = false;
        t->until_ms = now;
    }
}

static void *yield_watcher(void *arg)
{
    struct cpu_yield *y = arg;
    uint64_t last_progress = 0;
    unsigned still = 0;
    struct timespec until;
    clock_gettime(CLOCK_MONOTONIC, &until);
    pthread_mutex_lock(&y->lock);
    while (!y->stopping) {
        long ms = still >= YIELD_IDLE_PERIODS ? YIELD_IDLE_MS : YIELD_WATCH_MS;
        until.tv_nsec += ms * 1000000L;
        until.tv_sec += until.tv_nsec / 1000000000L;
        until.tv_nsec %= 1000000000L;
        if (pthread_cond_timedwait(&y->stop, &y->lock, &until) != ETIMEDOUT)
            continue;
        uint64_t progress = 0;
        for (size_t i = 0; i < y->nthreads; i++) {
            struct yield_thread *t = &y->threads[i];
            if (atomic_load(&t->tid) == 0)
                continue;
            progress += atomic_load_explicit(t->progress, memory_order_relaxed);
            watch_thread(t);
        }
        still = progress == last_progress ? still + 1 : 0;
        last_progress = progress;
        clock_gettime(CLOCK_MONOTONIC, &until); /* no catching up after a late wake-up */
    }
    pthread_mutex_unlock(&y->lock);
    return NULL;
}

int cpu_yield_start(size_t nthreads, struct cpu_yield **out)
{
    struct cpu_yield *y = calloc(1, sizeof *y);
    if (!y)
        return -ENOMEM;
    y->threads = calloc(nthreads, sizeof *y->threads);
    y->nthreads = nthreads;
    pthread_condattr_t attr;
    pthread_condattr_init(&attr);
    pthread_condattr_setclock(&attr, CLOCK_MONOTONIC);
    pthread_cond_init(&y->stop, &attr);
    pthread_condattr_destroy(&attr);
    pthread_mutex_init(&y->lock, NULL);
    for (size_t i = 0; y->threads && i < nthreads; i++)
        y->threads[i].stat_fd = y->threads[i].schedstat_fd = -1;
    int rc = y->threads ? -pthread_create(&y->watcher, NULL, yield_watcher, y) : -ENOMEM;
    if (rc < 0) {
        pthread_cond_destroy(&y->stop);
        pthread_mutex_destroy(&y->lock);
        free(y->threads);
        free(y);
        return rc;
    }
    *out = y;
    return 0;
}

int cpu_yield_join(struct cpu_yield *y, size_t i, _Atomic uint64_t *progress)
{
    char path[64];
    pid_t tid = gettid();
    struct yield_thread *t = &y->threads[i];
    snprintf(path, sizeof path, "/proc/self/task/%d/stat", (int)tid);
    int stat_fd = open(path, O_RDONLY | O_CLOEXEC);
    snprintf(path, sizeof path, "/proc/self/task/%d/schedstat", (int)tid);
    int schedstat_fd = open(path, O_RDONLY | O_CLOEXEC);
    /* No way to see it starve: it stays an ordinary thread. */
    int rc = stat_fd < 0 || schedstat_fd < 0 ? -errno : set_policy(0, SCHED_IDLE);
    if (rc < 0) {
        if (stat_fd >= 0)
            close(stat_fd);
        if (schedstat_fd >= 0)
            close(schedstat_fd);
        return rc;
    }
    pthread_mutex_lock(&y->lock);
    t->stat_fd = stat_fd;
    t->schedstat_fd = schedstat_fd;
    t->progress = progress;
    atomic_store(&t->tid, tid);
    pthread_mutex_unlock(&y->lock);
    return 0;
}

void cpu_yield_stop(struct cpu_yield *y)
{
    pthread_mutex_lock(&y->lock);
    y->stopping = true;
    pthread_cond_signal(&y->stop);
    pthread_mutex_unlock(&y->lock);
    pthread_join(y->watcher, NULL);
    for (size_t i = 0; i < y->nthreads; i++) {
        if (y->threads[i].stat_fd >= 0)
            close(y->threads[i].stat_fd);
        if (y->threads[i].schedstat_fd >= 0)
            close(y->threads[i].schedstat_fd);
    }
    pthread_cond_destroy(&y->stop);
    pthread_mutex_destroy(&y->lock);
    free(y->threads);
    free(y);
}
