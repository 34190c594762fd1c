/*
 * The request loop: one reader thread per CPU blocking in read() on
 * /dev/fuse, a monitor, and spare threads started only when every other
 * thread is stuck.
 *
 * Why blocking readers: the kernel wakes exactly one of the threads blocked
 * in read() for each request, and the scheduler runs it where it sees fit.
 * Our previous loop had one leader pinned to each CPU waiting in poll(),
 * meant to let the leader on the requester's CPU take the request; but poll()
 * wakes every waiter, the one on the idle CPU usually won, and a request cost
 * poll + read + reply (+ a read finding nothing) with an interrupt to the
 * other CPU. Measured on the 2-CPU VM, Linux 6.18 (fio direct=1 on bench-null,
 * 3 rounds, 2026-11-30): psync QD1 reads 40-69k IOPS with poll leaders, 54-76k
 * with one blocking reader, 87-95k with two; see the README's benchmark
 * section for the whole table. Each request now costs read + reply.
 *
 * No request may wait for a thread stuck in a long one (an fsync, a slow
 * backing file): every tick, if requests are queued and no thread is free to
 * take them, the monitor starts a spare thread, up to -o max_threads of them.
 * A spare takes requests while some are queued, then ends.
 *
 * Stopping: a thread blocked in read() wakes for a request, an unmount, or a
 * signal; loop_stop() sends LOOP_WAKE_SIGNAL (an empty handler installed
 * without SA_RESTART, so read() fails with EINTR) until each has ended.
 */
#include "session_loop.h"

#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdlib.h>
#include <sys/eventfd.h>
#include <time.h>
#include <unistd.h>

#define LOOP_TICK_MS 2        /* the monitor's period while requests come in */
#define LOOP_IDLE_TICKS 50    /* ticks without a request before the monitor sleeps */
#define LOOP_WAKE_SIGNAL (SIGRTMIN + 3) /* ends a thread's blocking read() at stop */
#define LOOP_JOIN_RETRY_MS 5  /* a wake signal can land just before read(): sent again so often */

enum loop_state { LOOP_WAITING, LOOP_BUSY };

struct loop_thread {
    struct session_loop *loop;
    pthread_t thread;
    bool live;               /* spares: running (guarded by loop->lock) */
    bool joinable;           /* started and not joined yet (spares: the monitor's) */
    _Atomic int state;       /* enum loop_state */
    _Atomic uint64_t served; /* requests finished: a busy thread that did not move is stuck */
    uint64_t served_seen;    /* the monitor's copy from its last tick */
};

struct session_loop {
    struct fuse_session *se;
    int fd;      /* /dev/fuse, blocking */
    int stop_fd; /* eventfd, readable once the loop must stop */
    _Atomic bool stopping;
    _Atomic uint64_t received; /* requests taken, to tell the monitor the mount is idle */
    struct loop_thread *readers;
    size_t nreaders;
    pthread_t monitor;
    bool monitor_started;
    pthread_mutex_t lock; /* guards the spares' live and joinable flags, and error */
    struct loop_thread *spares;
    size_t max_spares;
    int error; /* the first -errno that ended the loop */
};

/* ---- helpers ---- */

static void loop_signal_stop(struct session_loop *l)
{
    uint64_t one = 1;
    /* An eventfd write only fails once the counter is near overflow: it is readable then. */
    (void)!write(l->stop_fd, &one, sizeof one);
}

/* A worker saw the session end (unmount, or an error RC < 0): the loop stops. */
static void loop_session_ended(struct session_loop *l, int rc)
{
    if (rc < 0) {
        pthread_mutex_lock(&l->lock);
        if (!l->error)
            l->error = rc;
        pthread_mutex_unlock(&l->lock);
    }
    fuse_session_exit(l->se);
    loop_signal_stop(l);
}

/* Only interrupts a blocking read(): see the top of the file. */
static void loop_wake_handler(int sig)
{
    (void)sig;
}

/* Whether a request is queued now. */
static bool loop_queued(struct session_loop *l)
{
    struct pollfd queued = {.fd = l->fd, .events = POLLIN};
    return poll(&queued, 1, 0) > 0 && (queued.revents & POLLIN);
}

/* Waits for, takes and serves one request: 1, 0 (none: interrupted), or -1 once the loop must end. */
static int loop_take(struct session_loop *l, struct loop_thread *t, struct fuse_buf *buf)
{
    int rc = fuse_session_receive_buf(l->se, buf);
    if (rc == -EAGAIN || rc == -EINTR || rc == -ENOENT) /* ENOENT: the request was interrupted */
        return 0;
    if (rc <= 0) {
        loop_session_ended(l, rc);
        return -1;
    }
    atomic_store_explicit(&t->state, LOOP_BUSY, memory_order_relaxed);
    atomic_fetch_add_explicit(&l->received, 1, memory_order_relaxed);
    fuse_session_process_buf(l->se, buf);
    atomic_fetch_add_explicit(&t->served, 1, memory_order_relaxed);
    atomic_store_explicit(&t->state, LOOP_WAITING, memory_order_relaxed);
    return 1;
}

/* ---- readers ---- */

static void *loop_reader_main(void *arg)
{
    struct loop_thread *t = arg;
    struct session_loop *l = t->loop;
    struct fuse_buf buf = {0};

    while (!atomic_load(&l->stopping) && loop_take(l, t, &buf) >= 0)
        ;
    free(buf.mem);
    return NULL;
}

/* ---- spares: take queued requests while every other thread is stuck, then end ---- */

static void *loop_spare_main(void *arg)
{
    struct loop_thread *t = arg;
    struct session_loop *l = t->loop;
    struct fuse_buf buf = {0};

    /* A reader may take the request first: then this read waits for the next one. */
    while (!atomic_load(&l->stopping) && loop_queued(l) && loop_take(l, t, &buf) >= 0)
        ;
    free(buf.mem);
    pthread_mutex_lock(&l->lock);
    t->live = false;
    pthread_mutex_unlock(&l->lock);
    return NULL;
}

static void loop_start_spare(struct session_loop *l)
{
    pthread_mutex_lock(&l->lock);
    for (size_t i = 0; i < l->max_spares; i++) {
        struct loop_thread *t = &l->spares[i];
        if (t->live)
            continue;
        if (t->joinable)
            pthread_join(t->thread, NULL); /* it has ended, or is about to */
        atomic_store(&t->state, LOOP_WAITING);
        t->served_seen = atomic_load(&t->served);
        t->joinable = pthread_create(&t->thread, NULL, loop_spare_main, t) == 0;
        t->live = t->joinable;
        break;
    }
    pthread_mutex_unlock(&l->lock);
}

/* ---- the monitor ---- */

/* Whether T can take a queued request soon: waiting, or busy but moving since the last tick. */
static bool loop_thread_free(struct loop_thread *t)
{
    uint64_t served = atomic_load_explicit(&t->served, memory_order_relaxed);
    bool moved = served != t->served_seen;
    t->served_seen = served;
    int state = atomic_load_explicit(&t->state, memory_order_relaxed);
    return state == LOOP_WAITING || moved;
}

static void loop_tick(struct session_loop *l)
{
    bool free_thread = false;
    for (size_t i = 0; i < l->nreaders; i++)
        free_thread |= loop_thread_free(&l->readers[i]);
    pthread_mutex_lock(&l->lock);
    for (size_t i = 0; i < l->max_spares; i++) {
        if (l->spares[i].live)
            free_thread |= loop_thread_free(&l->spares[i]);
    }
    pthread_mutex_unlock(&l->lock);

    if (!free_thread && loop_queued(l))
        loop_start_spare(l);
}

static void *loop_monitor_main(void *arg)
{
    struct session_loop *l = arg;
    uint64_t last = 0;
    unsigned idle = 0;

    while (!atomic_load(&l->stopping)) {
        struct pollfd fds[2] = {{.fd = l->stop_fd, .events = POLLIN},
                                {.fd = l->fd, .events = POLLIN}};
        if (idle >= LOOP_IDLE_TICKS) {
            /* Nothing came for a while: sleep until a request does. */
            if (poll(fds, 2, -1) < 0 && errno != EINTR)
                break;
            if (fds[0].revents)
                break;
            if (fds[1].revents & (POLLERR | POLLHUP)) {
                poll(fds, 1, -1); /* unmounted: a reader ends the loop */
                break;
            }
            idle = 0;
            continue;
        }
        if (poll(fds, 1, LOOP_TICK_MS) > 0)
            break;
        uint64_t now = atomic_load_explicit(&l->received, memory_order_relaxed);
        idle = now == last ? idle + 1 : 0;
        last = now;
        loop_tick(l);
    }
    return NULL;
}

/* ---- the loop ---- */

/* One reader per CPU this process may run on (one if that is unknown). */
static int loop_add_readers(struct session_loop *l)
{
    cpu_set_t set;
    size_t n = 1;
    if (sched_getaffinity(0, sizeof set, &set) == 0 && CPU_COUNT(&set) > 0)
        n = (size_t)CPU_COUNT(&set);
    l->readers = calloc(n, sizeof *l->readers);
    if (!l->readers)
        return -ENOMEM;
    l->nreaders = n;
    for (size_t i = 0; i < n; i++)
        l->readers[i].loop = l;
    return 0;
}

static int loop_start(struct session_loop *l)
{
    for (size_t i = 0; i < l->max_spares; i++)
        l->spares[i].loop = l;
    for (size_t i = 0; i < l->nreaders; i++) {
        struct loop_thread *t = &l->readers[i];
        int rc = pthread_create(&t->thread, NULL, loop_reader_main, t);
        if (rc)
            return -rc; /* the ones started are joined */
        t->joinable = true;
    }
    int rc = pthread_create(&l->monitor, NULL, loop_monitor_main, l);
    l->monitor_started = rc == 0;
    return -rc;
}

/*
 * Ends T's blocking read, if it is in one, and joins it. A busy thread is not
 * signalled (the signal could fail a slow I/O of the request with EINTR): it
 * sees the loop stopping once it has replied.
 */
static void loop_join(struct loop_thread *t)
{
    struct timespec until;
    while (t->joinable) {
        if (atomic_load(&t->state) == LOOP_WAITING)
            pthread_kill(t->thread, LOOP_WAKE_SIGNAL);
        clock_gettime(CLOCK_REALTIME, &until);
        until.tv_nsec += LOOP_JOIN_RETRY_MS * 1000000L;
        until.tv_sec += until.tv_nsec / 1000000000L;
        until.tv_nsec %= 1000000000L;
        if (pthread_timedjoin_np(t->thread, NULL, &until) == 0)
            t->joinable = false;
    }
}

static void loop_stop(struct session_loop *l)
{
    atomic_store(&l->stopping, true);
    loop_signal_stop(l);
    if (l->monitor_started)
        pthread_join(l->monitor, NULL);
    /* The monitor has ended: no spare starts now. */
    for (size_t i = 0; i < l->nreaders; i++)
        loop_join(&l->readers[i]);
    for (size_t i = 0; i < l->max_spares; i++)
        loop_join(&l->spares[i]);
}

int session_loop_run(struct fuse_session *se, unsigned max_spares, const sigset_t *wait_mask)
{
    struct session_loop l = {.se = se, .fd = fuse_session_fd(se), .max_spares = max_spares};
    struct sigaction wake = {.sa_handler = loop_wake_handler}, old_wake;
    int rc = -ENOMEM;

    pthread_mutex_init(&l.lock, NULL);
    sigemptyset(&wake.sa_mask);
    /* No SA_RESTART: the read() it lands in must fail with EINTR. */
    sigaction(LOOP_WAKE_SIGNAL, &wake, &old_wake);
    l.stop_fd = eventfd(0, EFD_CLOEXEC);
    l.spares = calloc(max_spares ? max_spares : 1, sizeof *l.spares);
    if (l.stop_fd < 0 || !l.spares || loop_add_readers(&l) < 0)
        goto out;

    rc = loop_start(&l);
    /* Signals reach this thread only: their handler ends the session and wakes the ppoll. */
    while (rc == 0 && !fuse_session_exited(se)) {
        struct pollfd stop = {.fd = l.stop_fd, .events = POLLIN};
        if (ppoll(&stop, 1, NULL, wait_mask) > 0)
            break;
    }
    loop_stop(&l);
    if (rc == 0)
        rc = l.error;
out:
    if (l.stop_fd >= 0)
        close(l.stop_fd);
    free(l.readers);
    free(l.spares);
    sigaction(LOOP_WAKE_SIGNAL, &old_wake, NULL);
    pthread_mutex_destroy(&l.lock);
    return rc;
}
