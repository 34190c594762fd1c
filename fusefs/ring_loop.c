/*
 * FUSE over io_uring (see ring_loop.h and ring_abi.h).
 *
 * The kernel puts a request on the queue of the CPU its requester runs on
 * and hands it to an entry registered there; answering the entry and asking
 * for the next request are one command, so a busy queue costs one syscall
 * per request (io_uring_submit_and_wait), against three on /dev/fuse (read,
 * the I/O aside, writev) plus the poll that finds them.
 *
 * Each queue has one thread with its own io_uring. A reply made on that
 * thread goes straight into its submission queue; a reply made elsewhere (a
 * delay worker finishing a parked request, an interrupt) is put on the
 * queue's list and an eventfd the thread always has a read pending on wakes
 * it to submit it. Interrupts of ring requests come through /dev/fuse:
 * ring_loop_intercept finds the slot by the request's unique.
 */
#include "ring_loop.h"

#include "cpu_yield.h"
#include "ring_abi.h"
#include "ring_dispatch.h"
#include "work_pool.h"

#include <errno.h>
#include <liburing.h>
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <time.h>
#include <unistd.h>

/*
 * A request parked by a slow fault keeps its slot until answered, and a
 * request that finds no free slot waits in the kernel until some slot of its
 * queue is answered: a slot added later does not take it (Linux 6.18), so a
 * neighbour's request could wait out a parked one's whole delay. A queue
 * therefore starts with room for a burst and grows a chunk at a time while
 * fewer than half its first slots wait in the kernel. But the kernel copies a
 * write's data into its slot's payload as it hands the request over, so the
 * slots are what holds parked write data: the queues start with room for
 * max_held_bytes of 1 MiB writes between them (16 to 128 slots each), and
 * stop growing once the held requests' write data reaches it. Payloads are
 * virtual memory: only the pages requests use become real.
 */
#define RING_CHUNK_SLOTS 16
#define RING_FIRST_CHUNKS_MIN 1
#define RING_FIRST_CHUNKS_MAX 8
#define RING_MAX_CHUNKS 64 /* up to 1,024 requests held per queue */
/*
 * The kernel wants room for its largest request: libfuse 3.14 offers
 * max_write and max_pages of 1 MiB (256 pages).
 */
#define RING_PAYLOAD_SIZE (1024 * 1024)
/*
 * Reads and writes from this size on are served on a worker thread: copying
 * them costs more than the hand-over, and the queue's thread meanwhile copies
 * the previous reply out to the kernel (a ring reply is copied twice, once by
 * us into the ring and once by the kernel out of it, where /dev/fuse splices).
 */
#define RING_OFFLOAD_MIN (128 * 1024)
#define RING_AWAY_ABOVE 24 /* wake-ups bring over 1.5 requests: leave the requesters' CPU */
#define RING_HOME_BELOW 20 /* under 1.25: back to it */
#define RING_REGISTER_RETRY_NS (1000 * 1000)           /* FUSE_INIT not taken yet: again in 1 ms */
#define RING_REGISTER_SETTLE_NS (20 * 1000 * 1000)     /* no refusal by then: registered */
#define RING_REGISTER_DEADLINE_NS (10ull * 1000000000) /* and give up after 10 s */

enum slot_state { SLOT_UNREGISTERED, SLOT_IN_KERNEL, SLOT_IN_DAEMON, SLOT_ENDED };

struct ring_slot {
    struct ring_queue *queue;
    struct ring_req_header *header;
    char *payload;
    struct iovec iov[2];
    enum slot_state state; /* the queue thread's */
    pthread_mutex_t lock;  /* guards unique, hook and interrupted against interrupts */
    uint64_t unique;       /* the request it holds (or last held) */
    struct request_interrupt *hook;
    bool interrupted;
    struct ring_slot *next;   /* on the queue's list of replies made on other threads */
    struct work_item offload; /* handed to the workers (a large request) */
    uint32_t held_bytes;      /* write data its held request carries */
};

struct ring_queue {
    struct ring_loop *ring;
    unsigned qid;
    struct io_uring uring;
    bool uring_ready;
    pthread_t thread;
    bool started;
    int error;   /* the first -errno a slot ended with */
    int wake_fd; /* eventfd: a reply is on the list, or the loop stops */
    uint64_t wake_value;
    pthread_mutex_t replies_lock;
    struct ring_slot *replies;
    struct ring_slot *chunks[RING_MAX_CHUNKS];
    _Atomic unsigned nchunks;      /* chunks set up (added by the queue's thread only) */
    unsigned held;                 /* slots whose request the daemon holds (the thread's) */
    unsigned first_chunks;         /* the chunks it started with */
    size_t ended;                  /* slots the kernel ended (the thread's) */
    size_t unregistered;           /* slots to offer the kernel (the thread's) */
    unsigned served_now;           /* requests the last wake-up brought */
    unsigned batch_avg;            /* their running mean, in sixteenths */
    bool away;                     /* running off its CPU, the requesters' */
    _Atomic uint64_t served_total; /* requests taken (written by the thread only) */
};

struct ring_loop {
    int fuse_fd;
    struct ring_loop_config config;
    struct ring_queue *queues;
    unsigned nqueues;
    _Atomic bool stopping;
    _Atomic bool live;           /* a request came on the ring: the kernel routes them all here */
    struct work_pool offload;    /* workers for the large reads and writes (RING_OFFLOAD_MIN) */
    struct cpu_yield *yield;     /* the queues' threads yield their CPU (NULL: they cannot) */
    _Atomic uint64_t held_bytes; /* write data in the slots of held requests */
    pthread_mutex_t lock;        /* guards registered and reported */
    unsigned registered;         /* queues with every slot registered */
    bool reported;               /* on_ready was called */
};

static size_t queue_nslots(struct ring_queue *q)
{
    return (size_t)atomic_load_explicit(&q->nchunks, memory_order_acquire) * RING_CHUNK_SLOTS;
}

static struct ring_slot *queue_slot(struct ring_queue *q, size_t i)
{
    return &q->chunks[i / RING_CHUNK_SLOTS][i % RING_CHUNK_SLOTS];
}

/* The wake read's user_data: not a slot. */
static char wake_tag;

static _Thread_local struct ring_queue *this_queue;

/* ---- the kernel's side ---- */

bool ring_loop_kernel_enabled(void)
{
    char value = 'N';
    FILE *f = fopen("/sys/module/fuse/parameters/enable_uring", "r");
    if (!f)
        return false;
    if (fread(&value, 1, 1, f) != 1)
        value = 'N';
    fclose(f);
    return value == 'Y';
}

/* The kernel makes a queue for every possible CPU, online or not, and needs them all. */
static unsigned possible_cpus(void)
{
    char text[256] = "";
    unsigned highest = 0;
    FILE *f = fopen("/sys/devices/system/cpu/possible", "r");
    if (f) {
        if (!fgets(text, sizeof text, f))
            text[0] = '\0';
        fclose(f);
    }
    /* "0-3" or "0,2-5": the last number is the highest. */
    for (const char *p = text; *p; p++) {
        if (*p >= '0' && *p <= '9' && (p == text || p[-1] < '0' || p[-1] > '9'))
            highest = (unsigned)strtoul(p, NULL, 10);
    }
    return highest + 1;
}

static struct io_uring_sqe *queue_sqe(struct ring_queue *q)
{
    struct io_uring_sqe *sqe = io_uring_get_sqe(&q->uring);
    if (!sqe) { /* full: hand over what is there and take one again */
        io_uring_submit(&q->uring);
        sqe = io_uring_get_sqe(&q->uring);
    }
    return sqe;
}

static void prep_command(struct ring_queue *q, struct ring_slot *slot, enum ring_cmd cmd)
{
    struct io_uring_sqe *sqe = queue_sqe(q);
    if (!sqe)
        return; /* cannot happen: every slot has at most one command in flight */
    io_uring_prep_rw(IORING_OP_URING_CMD, sqe, q->ring->fuse_fd,
                     cmd == RING_CMD_REGISTER ? slot->iov : NULL, cmd == RING_CMD_REGISTER ? 2 : 0,
                     0);
    sqe->cmd_op = cmd;
    memset(sqe->cmd, 0, 80);
    struct ring_cmd_req *req = (struct ring_cmd_req *)sqe->cmd;
    req->qid = (uint16_t)q->qid;
    req->commit_id = cmd == RING_CMD_COMMIT_AND_FETCH ? slot->unique : 0;
    io_uring_sqe_set_data(sqe, slot);
    if (cmd == RING_CMD_COMMIT_AND_FETCH) {
        q->held--;
        atomic_fetch_sub_explicit(&q->ring->held_bytes, slot->held_bytes, memory_order_relaxed);
        slot->held_bytes = 0;
    }
    slot->state = SLOT_IN_KERNEL;
}

static void prep_wake_read(struct ring_queue *q)
{
    struct io_uring_sqe *sqe = queue_sqe(q);
    if (!sqe)
        return;
    io_uring_prep_read(sqe, q->wake_fd, &q->wake_value, sizeof q->wake_value, 0);
    io_uring_sqe_set_data(sqe, &wake_tag);
}

/* ---- slots: what request.c calls ---- */

void *ring_slot_userdata(struct ring_slot *slot)
{
    return slot->queue->ring->config.userdata;
}

const struct fuse_in_header *ring_slot_in_header(struct ring_slot *slot)
{
    return (const struct fuse_in_header *)slot->header->in_out;
}

void *ring_slot_payload(struct ring_slot *slot, size_t size)
{
    return size <= RING_PAYLOAD_SIZE ? slot->payload : NULL;
}

int ring_slot_reply(struct ring_slot *slot, int err, const void *arg, size_t size)
{
    struct ring_queue *q = slot->queue;
    if (size > RING_PAYLOAD_SIZE) {
        err = -EIO;
        size = 0;
    }
    if (err)
        size = 0;
    if (size && arg != slot->payload)
        memcpy(slot->payload, arg, size);
    struct fuse_out_header *out = (struct fuse_out_header *)slot->header->in_out;
    *out = (struct fuse_out_header){
        .len = (uint32_t)(sizeof *out + size), .error = err, .unique = slot->unique};
    slot->header->ent.payload_sz = (uint32_t)size;

    if (this_queue == q) {
        prep_command(q, slot, RING_CMD_COMMIT_AND_FETCH);
        return 0;
    }
    /* Another thread: the queue's thread submits it. */
    pthread_mutex_lock(&q->replies_lock);
    slot->next = q->replies;
    q->replies = slot;
    pthread_mutex_unlock(&q->replies_lock);
    uint64_t one = 1;
    (void)!write(q->wake_fd, &one,
                 sizeof one); /* fails only when the counter is full: awake then */
    return 0;
}

void ring_slot_on_interrupt(struct ring_slot *slot, struct request_interrupt *hook)
{
    pthread_mutex_lock(&slot->lock);
    slot->hook = hook;
    bool now = hook && slot->interrupted;
    if (now)
        hook->fn(hook->data);
    pthread_mutex_unlock(&slot->lock);
}

bool ring_slot_interrupted(struct ring_slot *slot)
{
    pthread_mutex_lock(&slot->lock);
    bool interrupted = slot->interrupted;
    pthread_mutex_unlock(&slot->lock);
    return interrupted;
}

bool ring_loop_intercept(struct ring_loop *ring, const void *buf, size_t len)
{
    const struct fuse_in_header *in = buf;
    if (len < sizeof *in + sizeof(struct fuse_interrupt_in) || in->opcode != FUSE_INTERRUPT)
        return false;
    uint64_t unique = ((const struct fuse_interrupt_in *)(in + 1))->unique;
    for (unsigned i = 0; i < ring->nqueues; i++) {
        struct ring_queue *q = &ring->queues[i];
        size_t nslots = q->ring ? queue_nslots(q) : 0;
        for (size_t s = 0; s < nslots; s++) {
            struct ring_slot *slot = queue_slot(q, s);
            pthread_mutex_lock(&slot->lock);
            bool mine = slot->unique == unique;
            if (mine) {
                slot->interrupted = true;
                if (slot->hook)
                    slot->hook->fn(slot->hook->data);
            }
            pthread_mutex_unlock(&slot->lock);
            if (mine)
                return true;
        }
    }
    /*
     * Not held here: answered already, or it came on /dev/fuse before the ring
     * was ready. Once the ring is, libfuse has no request it could be for.
     */
    return atomic_load(&ring->live);
}

/* ---- a queue's thread ---- */

static void queue_take_replies(struct ring_queue *q)
{
    pthread_mutex_lock(&q->replies_lock);
    struct ring_slot *slot = q->replies;
    q->replies = NULL;
    pthread_mutex_unlock(&q->replies_lock);
    for (; slot; slot = slot->next)
        prep_command(q, slot, RING_CMD_COMMIT_AND_FETCH);
}

static int queue_add_chunk(struct ring_queue *q);

/* Hands SLOT's request to its handler (on whichever thread: the reply finds its way). */
static void slot_dispatch(struct ring_slot *slot)
{
    size_t len = slot->header->ent.payload_sz;
    if (len > RING_PAYLOAD_SIZE)
        len = RING_PAYLOAD_SIZE;
    ring_dispatch(slot->queue->ring->config.ops, (struct request){.slot = slot},
                  ring_slot_in_header(slot), slot->header->op_in, slot->payload, len);
}

static bool slot_is_large(struct ring_slot *slot)
{
    uint32_t opcode = ring_slot_in_header(slot)->opcode;
    if (opcode == FUSE_READ)
        return ((const struct fuse_read_in *)slot->header->op_in)->size >= RING_OFFLOAD_MIN;
    return opcode == FUSE_WRITE && slot->header->ent.payload_sz >= RING_OFFLOAD_MIN;
}

static void offload_run(struct work_item *item)
{
    slot_dispatch((struct ring_slot *)((char *)item - offsetof(struct ring_slot, offload)));
}

static void queue_end_slot(struct ring_queue *q, struct ring_slot *slot, int error)
{
    if (slot->state == SLOT_ENDED)
        return;
    slot->state = SLOT_ENDED;
    q->ended++;
    if (!q->error)
        q->error = error;
}

/* A request came into SLOT: hand it to its handler. */
static void queue_serve(struct ring_queue *q, struct ring_slot *slot)
{
    const struct fuse_in_header *in = ring_slot_in_header(slot);
    pthread_mutex_lock(&slot->lock);
    slot->unique = in->unique;
    slot->interrupted = false;
    slot->hook = NULL;
    pthread_mutex_unlock(&slot->lock);
    slot->state = SLOT_IN_DAEMON;
    request_begin();
    q->served_now++;
    atomic_store_explicit(&q->served_total,
                          atomic_load_explicit(&q->served_total, memory_order_relaxed) + 1,
                          memory_order_relaxed);
    if (in->opcode == FUSE_WRITE) {
        slot->held_bytes = slot->header->ent.payload_sz;
        atomic_fetch_add_explicit(&q->ring->held_bytes, slot->held_bytes, memory_order_relaxed);
    }
    /* Registered on the loop's next turn; a queue full of write data grows no more. */
    uint64_t max = q->ring->config.max_held_bytes;
    if (++q->held + q->first_chunks * RING_CHUNK_SLOTS / 2 > queue_nslots(q) &&
        (max == 0 || atomic_load_explicit(&q->ring->held_bytes, memory_order_relaxed) < max))
        queue_add_chunk(q);
    if (!atomic_load_explicit(&q->ring->live, memory_order_relaxed))
        atomic_store(&q->ring->live, true);
    if (slot_is_large(slot) && q->ring->offload.nthreads)
        work_pool_push(&q->ring->offload, &slot->offload);
    else
        slot_dispatch(slot);
}

/* One completion; -errno once the queue must end. */
static int queue_complete(struct ring_queue *q, struct io_uring_cqe *cqe)
{
    void *data = io_uring_cqe_get_data(cqe);
    if (data == &wake_tag) {
        if (atomic_load(&q->ring->stopping))
            return -ECANCELED;
        queue_take_replies(q);
        prep_wake_read(q);
        return 0;
    }
    struct ring_slot *slot = data;
    if (cqe->res == 0) {
        queue_serve(q, slot);
        return 0;
    }
    /* EAGAIN at registration: FUSE_INIT is not through yet. Anything else ends the slot. */
    if (cqe->res == -EAGAIN) {
        slot->state = SLOT_UNREGISTERED;
        q->unregistered++;
        return 0;
    }
    queue_end_slot(q, slot, cqe->res);
    return 0;
}

static void queue_drain(struct ring_queue *q, int *rc)
{
    struct io_uring_cqe *cqe;
    while (io_uring_peek_cqe(&q->uring, &cqe) == 0) {
        int r = queue_complete(q, cqe);
        io_uring_cqe_seen(&q->uring, cqe);
        if (r < 0 && *rc == 0)
            *rc = r;
    }
}

static uint64_t now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static void ring_registered(struct ring_loop *ring, int error)
{
    pthread_mutex_lock(&ring->lock);
    if (!error)
        ring->registered++;
    bool report = !ring->reported && (error || ring->registered == ring->nqueues);
    ring->reported |= report;
    pthread_mutex_unlock(&ring->lock);
    if (report && error != -ECANCELED)
        ring->config.on_ready(ring->config.userdata, error);
}

/* Registers the slots not registered yet (FUSE_INIT not through when they were tried). */
static void queue_register_again(struct ring_queue *q)
{
    size_t nslots = queue_nslots(q);
    for (size_t s = 0; s < nslots && q->unregistered; s++) {
        if (queue_slot(q, s)->state == SLOT_UNREGISTERED) {
            q->unregistered--;
            prep_command(q, queue_slot(q, s), RING_CMD_REGISTER);
        }
    }
}

/*
 * Registers every slot. A refusal comes back at once, or, retried on an
 * io_uring worker, within microseconds: once RING_REGISTER_SETTLE_NS pass
 * without one, the slots are the kernel's.
 */
static int queue_register(struct ring_queue *q)
{
    uint64_t deadline = now_ns() + RING_REGISTER_DEADLINE_NS;
    for (;;) {
        queue_register_again(q);
        int rc = io_uring_submit(&q->uring);
        if (rc < 0)
            return rc;
        rc = 0;
        struct io_uring_cqe *cqe;
        struct __kernel_timespec settle = {.tv_nsec = RING_REGISTER_SETTLE_NS};
        while (rc == 0 && io_uring_wait_cqe_timeout(&q->uring, &cqe, &settle) == 0)
            queue_drain(q, &rc);
        if (rc < 0)
            return rc;
        if (q->ended)
            return q->error ? q->error : -EOPNOTSUPP;
        if (!q->unregistered)
            return 0;
        if (atomic_load(&q->ring->stopping))
            return -ECANCELED;
        if (now_ns() > deadline)
            return -ETIMEDOUT;
        nanosleep(&(struct timespec){.tv_nsec = RING_REGISTER_RETRY_NS}, NULL);
    }
}

/*
 * Where a queue's thread runs. Its requests come from the processes on its
 * CPU. One requester waiting for each reply (psync, QD1) sleeps while the
 * request is served: the thread is best on that CPU, where waking it costs
 * no inter-processor interrupt. A requester that keeps many in flight
 * (libaio, QD32) keeps its CPU busy: sharing it halves both, so the thread
 * moves to the other CPUs while its wake-ups bring several requests each,
 * and back once they bring one. Plain affinity, no scheduling class: under
 * CPU contention the thread is an ordinary one, never starved.
 */
static void queue_pin(struct ring_queue *q, bool away)
{
    cpu_set_t allowed, set;
    if (sched_getaffinity(0, sizeof allowed, &allowed) != 0 || q->qid >= CPU_SETSIZE ||
        !CPU_ISSET(q->qid, &allowed))
        return; /* not ours to run on: the scheduler places the thread */
    CPU_ZERO(&set);
    if (away) {
        CPU_OR(&set, &set, &allowed);
        CPU_CLR(q->qid, &set);
        if (CPU_COUNT(&set) == 0)
            return; /* one CPU: nowhere else to go */
    } else {
        CPU_SET(q->qid, &set);
    }
    if (pthread_setaffinity_np(pthread_self(), sizeof set, &set) == 0)
        q->away = away;
}

static void queue_place(struct ring_queue *q)
{
    if (q->served_now == 0)
        return; /* a wake-up for replies made elsewhere */
    /* A mean over the last 8 wake-ups, in sixteenths; the gap keeps it from flapping. */
    q->batch_avg = q->batch_avg - q->batch_avg / 8 + q->served_now * 2;
    if (!q->away && q->batch_avg > RING_AWAY_ABOVE)
        queue_pin(q, true);
    else if (q->away && q->batch_avg < RING_HOME_BELOW)
        queue_pin(q, false);
}

static void *queue_main(void *arg)
{
    struct ring_queue *q = arg;
    this_queue = q;
    queue_pin(q, false);
    if (q->ring->yield)
        cpu_yield_join(q->ring->yield, q->qid, &q->served_total); /* else an ordinary thread */
    prep_wake_read(q);
    int rc = queue_register(q);
    ring_registered(q->ring, rc);
    while (rc == 0) {
        queue_register_again(q);
        int n = io_uring_submit_and_wait(&q->uring, 1);
        if (n < 0 && n != -EINTR && n != -EAGAIN && n != -EBUSY)
            break;
        q->served_now = 0;
        queue_drain(q, &rc);
        queue_place(q);
        if (q->ended == queue_nslots(q))
            break; /* unmounted: the kernel ended every entry */
    }
    /* Replies made since (parked requests answered at the end) still go out. */
    queue_take_replies(q);
    io_uring_submit(&q->uring);
    return NULL;
}

/* ---- the loop ---- */

static void queue_free(struct ring_queue *q)
{
    if (!q->ring)
        return; /* never set up */
    size_t nslots = queue_nslots(q);
    for (size_t s = 0; s < nslots; s++) {
        free(queue_slot(q, s)->header);
        free(queue_slot(q, s)->payload);
        pthread_mutex_destroy(&queue_slot(q, s)->lock);
    }
    for (unsigned c = 0; c < RING_MAX_CHUNKS; c++)
        free(q->chunks[c]);
    if (q->uring_ready)
        io_uring_queue_exit(&q->uring);
    if (q->wake_fd >= 0)
        close(q->wake_fd);
    pthread_mutex_destroy(&q->replies_lock);
}

/*
 * Adds a chunk of unregistered slots (the queue's thread, or before it runs).
 * The payloads are the kernel's largest request each, but only the pages a
 * request touches are ever made real. 0 or -errno.
 */
static int queue_add_chunk(struct ring_queue *q)
{
    unsigned n = atomic_load(&q->nchunks);
    if (n == RING_MAX_CHUNKS)
        return -ENOSPC;
    struct ring_slot *chunk = calloc(RING_CHUNK_SLOTS, sizeof *chunk);
    if (!chunk)
        return -ENOMEM;
    q->chunks[n] = chunk;
    for (size_t s = 0; s < RING_CHUNK_SLOTS; s++) {
        struct ring_slot *slot = &chunk[s];
        slot->queue = q;
        pthread_mutex_init(&slot->lock, NULL);
        slot->header = calloc(1, sizeof *slot->header);
        slot->payload = aligned_alloc(4096, RING_PAYLOAD_SIZE);
        slot->iov[0] = (struct iovec){.iov_base = slot->header, .iov_len = sizeof *slot->header};
        slot->iov[1] = (struct iovec){.iov_base = slot->payload, .iov_len = RING_PAYLOAD_SIZE};
        if (!slot->header || !slot->payload)
            queue_end_slot(q, slot, -ENOMEM); /* never offered to the kernel */
        else
            q->unregistered++;
    }
    /* Published whole: an interrupt may look at the slots from another thread. */
    atomic_store_explicit(&q->nchunks, n + 1, memory_order_release);
    return 0;
}

static int queue_init(struct ring_loop *ring, struct ring_queue *q, unsigned qid)
{
    q->ring = ring;
    q->qid = qid;
    pthread_mutex_init(&q->replies_lock, NULL);
    uint64_t room = ring->config.max_held_bytes ? ring->config.max_held_bytes : UINT64_MAX;
    uint64_t first = room / RING_PAYLOAD_SIZE / ring->nqueues / RING_CHUNK_SLOTS;
    q->first_chunks = first < RING_FIRST_CHUNKS_MIN   ? RING_FIRST_CHUNKS_MIN
                      : first > RING_FIRST_CHUNKS_MAX ? RING_FIRST_CHUNKS_MAX
                                                      : (unsigned)first;
    int rc = 0;
    for (unsigned c = 0; c < q->first_chunks && rc == 0; c++)
        rc = queue_add_chunk(q);
    if (rc < 0)
        return rc;
    q->wake_fd = eventfd(0, EFD_CLOEXEC);
    if (q->wake_fd < 0)
        return -errno;
    /* 128-byte entries carry the commands; a full queue is submitted and refilled. */
    rc = io_uring_queue_init(RING_CHUNK_SLOTS * 2, &q->uring, IORING_SETUP_SQE128);
    if (rc < 0)
        return rc;
    q->uring_ready = true;
    return 0;
}

int ring_loop_start(struct fuse_session *se, const struct ring_loop_config *config,
                    struct ring_loop **out)
{
    struct ring_loop *ring = calloc(1, sizeof *ring);
    if (!ring)
        return -ENOMEM;
    ring->fuse_fd = fuse_session_fd(se);
    ring->config = *config;
    ring->nqueues = possible_cpus();
    pthread_mutex_init(&ring->lock, NULL);
    ring->queues = calloc(ring->nqueues, sizeof *ring->queues);
    if (!ring->queues) {
        ring_loop_stop(ring);
        return -ENOMEM;
    }
    for (unsigned i = 0; i < ring->nqueues; i++)
        ring->queues[i].wake_fd = -1;
    work_pool_start(&ring->offload, offload_run);
    if (cpu_yield_allowed() && cpu_yield_start(ring->nqueues, &ring->yield) < 0)
        ring->yield = NULL;
    for (unsigned i = 0; i < ring->nqueues; i++) {
        int rc = queue_init(ring, &ring->queues[i], i);
        if (rc == 0) {
            rc = -pthread_create(&ring->queues[i].thread, NULL, queue_main, &ring->queues[i]);
            ring->queues[i].started = rc == 0;
        }
        if (rc < 0) {
            ring_loop_stop(ring);
            return rc;
        }
    }
    *out = ring;
    return 0;
}

void ring_loop_stop(struct ring_loop *ring)
{
    /* The workers first: their last replies go out through the queues' threads. */
    if (ring->queues)
        work_pool_stop(&ring->offload);
    atomic_store(&ring->stopping, true);
    for (unsigned i = 0; ring->queues && i < ring->nqueues; i++) {
        struct ring_queue *q = &ring->queues[i];
        if (q->started) {
            uint64_t one = 1;
            (void)!write(q->wake_fd, &one, sizeof one);
            pthread_join(q->thread, NULL);
        }
    }
    if (ring->yield)
        cpu_yield_stop(ring->yield); /* after the threads: a starving one is promoted to end */
    for (unsigned i = 0; ring->queues && i < ring->nqueues; i++)
        queue_free(&ring->queues[i]);
    free(ring->queues);
    pthread_mutex_destroy(&ring->lock);
    free(ring);
}
