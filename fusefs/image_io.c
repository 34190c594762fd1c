/*
 * ID/image: each FUSE read, write, fallocate and fsync becomes one disk
 * request (core/disk_io.h), which is parked while a slow fault delays it
 * (parking.c) and then run and answered here.
 */
#include "image_io.h"

#include "faultfs.h"
#include "parking.h"
#include "reply_buffer.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/falloc.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <unistd.h>

/*
 * Reads from this size on are spliced: image pages go into a pipe by
 * reference and the kernel copies them once, straight into the reader's
 * buffer, instead of once into ours and once more out of it.
 */
#define IMAGE_SPLICE_MIN (32 * 1024)
#define IMAGE_PAGE 4096 /* a pipe holds pages: an unaligned read spans one more */

/* ---- reads: spliced, or into the replying thread's buffer ---- */

struct read_reply {
    int pipe[2];  /* the thread's pipe to splice into */
    bool spliced; /* the bytes are in pipe[0] */
};

/* The disk request's read step: splices LEN bytes into the pipe, or asks for a buffer. */
static ssize_t image_splice(struct disk_request *rq, uint64_t len)
{
    struct read_reply *r = rq->ctx;
    size_t done = 0;
    while (done < len) {
        loff_t at = (loff_t)(rq->offset + done);
        ssize_t n = splice(rq->disk->fd, &at, r->pipe[1], NULL, len - done, SPLICE_F_NONBLOCK);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0) {
            int err = errno;
            reply_pipe_discard();
            /* EINVAL: no splice from this file; EAGAIN: more pages than the pipe holds. */
            return -err;
        }
        if (n == 0)
            break; /* the live end of the file */
        done += (size_t)n;
    }
    r->spliced = true;
    return (ssize_t)done;
}

/* Replies with the N bytes spliced into the thread's pipe and leaves the pipe empty. */
static void reply_spliced(struct request req, const struct read_reply *r, size_t n)
{
    struct fuse_bufvec data = FUSE_BUFVEC_INIT(n);
    int left = 0;
    data.buf[0].flags = FUSE_BUF_IS_FD;
    data.buf[0].fd = r->pipe[0];
    if (fuse_reply_data(req.fuse, &data, 0) != 0 || ioctl(r->pipe[0], FIONREAD, &left) < 0 || left != 0)
        reply_pipe_discard();
}

/* The disk request's buffer step: the replying thread's own buffer. */
static void *image_buffer(struct disk_request *rq)
{
    return reply_buffer_get(rq->length);
}

static void finish_read(struct request req, struct disk_request *rq)
{
    struct read_reply r = {.pipe = {-1, -1}};
    rq->read = NULL;
    rq->buf = NULL;
    rq->buffer = image_buffer;
    /*
     * A ring's reply is read straight into the ring's buffer. On /dev/fuse it
     * comes from memory this thread owns (see reply_buffer.c), or is spliced.
     */
    if ((rq->buf = request_reply_space(req, rq->length))) {
        rq->buffer = NULL;
    } else if (rq->length >= IMAGE_SPLICE_MIN && rq->length <= FAULTFS_MAX_READ &&
               faultfs_of(req)->splice_replies &&
               reply_pipe_get(rq->length + IMAGE_PAGE, r.pipe) == 0) {
        rq->read = image_splice;
        rq->ctx = &r;
    } else {
        rq->buf = reply_buffer_get(rq->length);
    }
    ssize_t n = disk_request_run(rq);
    if (n < 0) {
        if (r.spliced)
            reply_pipe_discard(); /* a fault after the I/O: the bytes stay unsent */
        request_reply_err(req, (int)-n);
    } else if (r.spliced) {
        reply_spliced(req, &r, (size_t)n);
    } else {
        request_reply_buf(req, rq->buf, (size_t)n);
    }
}

/* Runs RQ (parked or not) and gives its one reply. */
static void image_finish(struct request req, struct disk_request *rq)
{
    if (rq->op == DISK_OP_READ)
        return finish_read(req, rq);
    ssize_t n = disk_request_run(rq);
    if (n < 0)
        request_reply_err(req, (int)-n);
    else if (rq->op == DISK_OP_WRITE)
        request_reply_write(req, (size_t)n);
    else
        request_reply_err(req, 0);
}

/* ---- requests held back by a slow fault (parking.c) ---- */

struct held_request {
    struct parked base; /* first */
    char data[];        /* writes on /dev/fuse: the bytes; libfuse reuses its buffer once we return */
};

static void held_finish(struct parked *held)
{
    image_finish(held->req, &held->rq);
}

/* Parks RQ for DELAY_NS; 0, or -errno and the caller replies. */
static int hold(struct request req, const struct disk_request *rq, uint64_t delay_ns)
{
    struct parking *lot = &faultfs_of(req)->parked;
    size_t bytes = rq->op == DISK_OP_WRITE ? rq->length : 0;
    /* A ring keeps the bytes where the kernel put them until we answer: no copy. */
    size_t copied = request_data_kept(req) ? 0 : bytes;
    int rc = parking_reserve(lot, req, bytes);
    if (rc < 0)
        return rc;
    struct held_request *h = malloc(sizeof *h + copied);
    if (!h) {
        parking_unreserve(lot, bytes);
        return -ENOMEM;
    }
    h->base = (struct parked){
        .lot = lot, .req = req, .rq = *rq, .bytes = bytes, .finish = held_finish};
    if (copied) {
        memcpy(h->data, rq->data, copied);
        h->base.rq.data = h->data;
    }
    disk_ref(rq->disk);
    rc = parking_hold(&h->base, delay_ns);
    if (rc < 0)
        parking_discard(&h->base);
    return rc;
}

/* Starts RQ: parked while a slow fault delays it, else run at once; one reply either way. */
static void image_start(struct request req, struct disk_request *rq)
{
    disk_request_begin(rq);
    uint64_t delay = disk_request_delay_ns(rq);
    if (!delay)
        return image_finish(req, rq);
    int rc = hold(req, rq, delay);
    if (rc < 0) {
        disk_request_abandon(rq, -rc);
        request_reply_err(req, -rc);
    }
}

/* ---- entry points ---- */

void image_io_read(struct request req, struct disk *disk, bool stored, size_t size, off_t off)
{
    struct disk_request rq = {.disk = disk,
                              .op = DISK_OP_READ,
                              .offset = (uint64_t)off,
                              .length = size,
                              .stored = stored};
    image_start(req, &rq);
}

void image_io_write(struct request req, struct disk *disk, bool stored, const char *buf, size_t size,
                    off_t off, int flags)
{
    struct disk_request rq = {.disk = disk,
                              .stored = stored,
                              .op = DISK_OP_WRITE,
                              .offset = (uint64_t)off,
                              .length = size,
                              .flags = flags & (O_DSYNC | O_SYNC),
                              .data = buf};
    image_start(req, &rq);
}

void image_io_fallocate(struct request req, struct disk *disk, bool stored, int mode, off_t off,
                        off_t length)
{
    /* What QEMU sends for discard and write-zeroes, and preallocation. */
    enum disk_op op;
    if (mode == (FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE))
        op = DISK_OP_DISCARD;
    else if ((mode & ~FALLOC_FL_KEEP_SIZE) == FALLOC_FL_ZERO_RANGE)
        op = DISK_OP_WRITE_ZEROES;
    else if ((mode & ~FALLOC_FL_KEEP_SIZE) == 0)
        op = DISK_OP_ALLOCATE;
    else
        return (void)request_reply_err(req, EOPNOTSUPP);
    if (off < 0 || length <= 0)
        return (void)request_reply_err(req, EINVAL);
    struct disk_request rq = {.disk = disk,
                              .op = op,
                              .offset = (uint64_t)off,
                              .length = (uint64_t)length,
                              .flags = mode & FALLOC_FL_KEEP_SIZE,
                              .stored = stored};
    image_start(req, &rq);
}

void image_io_fsync(struct request req, struct disk *disk, bool stored, int datasync)
{
    struct disk_request rq = {
        .disk = disk, .op = DISK_OP_FLUSH, .flags = datasync ? 1 : 0, .stored = stored};
    image_start(req, &rq);
}
