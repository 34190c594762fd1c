/* The daemon's shared state, inode numbering and open-file handles. */
#ifndef FAULTFS_FAULTFS_H
#define FAULTFS_FAULTFS_H

#define FUSE_USE_VERSION 314

#include "delay_queue.h"
#include "disk_io.h"
#include "disk_registry.h"

#include <fuse_lowlevel.h>
#include <signal.h>
#include <stdbool.h>

struct handle;

/* The bytes of write data parked requests hold, and the bound on them. */
struct parking {
    pthread_mutex_t lock; /* guards used */
    pthread_cond_t room;  /* used went down */
    uint64_t budget;      /* -o max_parked */
    uint64_t used;
};

struct faultfs {
    struct disk_registry disks;
    struct delay_queue delays; /* requests held back by a slow fault */
    struct parking parked;     /* their write data */
    uid_t owner;               /* the mounting user: with root, the only one who may write ctl */
    struct fuse_session *session;
    char *mount_root; /* realpath of the mountpoint */
    /* Open handles, freed at exit if the kernel never sent their release. */
    pthread_mutex_t handles_lock; /* guards handles and every handle's prev/next */
    struct handle *handles;
    bool splice_replies; /* the kernel takes replies spliced from a pipe */
    unsigned max_read;   /* the largest read request, in bytes */
};

/*
 * Reads up to this size are spliced (image_io.c) and the kernel is asked for
 * no larger ones: libfuse's pipe must hold the reply's data, its header and
 * some slack within pipe-max-size, 1 MiB by default.
 */
#define FAULTFS_MAX_READ (512 * 1024)

/* Write data parked requests may hold unless -o max_parked= says otherwise. */
#define FAULTFS_MAX_PARKED (128ull << 20)

/*
 * Inodes: 1 is the root, 2 the mount's ctl; disk serial S (S >= 1, never
 * reused) owns 4S (its directory) to 4S+3. Numbers are never recycled, so a
 * stale inode of a detached disk can never reach a newer one.
 */
enum node_kind {
    NODE_ROOT,
    NODE_MOUNT_CTL,
    NODE_DISK_DIR,
    NODE_IMAGE,
    NODE_DISK_CTL,
    NODE_STATS,
};

#define INO_MOUNT_CTL 2

_Static_assert(FUSE_ROOT_ID == 1, "the root inode number is fixed by the protocol");

static inline fuse_ino_t node_ino(uint64_t serial, enum node_kind kind)
{
    return (fuse_ino_t)(serial * 4 + (uint64_t)(kind - NODE_DISK_DIR));
}

static inline enum node_kind node_kind_of(fuse_ino_t ino, uint64_t *serial)
{
    if (ino == FUSE_ROOT_ID)
        return NODE_ROOT;
    if (ino == INO_MOUNT_CTL)
        return NODE_MOUNT_CTL;
    *serial = ino / 4;
    return (enum node_kind)(NODE_DISK_DIR + ino % 4);
}

/* A ctl batch being written: everything written through one open file, applied at close. */
struct ctl_gather {
    char *text;     /* the bytes written so far */
    size_t len;
    size_t parsed;  /* bytes of whole lines already taken into commands */
    unsigned lines; /* the number of the next line */
    struct ctl_batch commands;
    int error;      /* the -errno that refused a piece: the whole batch is void */
};

/* What fi->fh points to for every open file and directory. */
struct handle {
    enum node_kind kind;
    struct disk *disk; /* a reference; NULL for the root and the mount's ctl */
    char *text;        /* ctl/stats contents or a directory listing, taken at open */
    size_t text_len;
    pthread_mutex_t lock;     /* guards gather: writes to one open file may come in parallel */
    struct ctl_gather gather; /* ctl files: the batch being written (ctl_file.c) */
    struct handle *prev, *next; /* in faultfs.handles */
};

static inline struct handle *handle_of(struct fuse_file_info *fi)
{
    return (struct handle *)(uintptr_t)fi->fh;
}

static inline struct faultfs *faultfs_of(fuse_req_t req)
{
    return fuse_req_userdata(req);
}

/* fs_ops.c */
extern const struct fuse_lowlevel_ops faultfs_ops;

/* Frees the handles still open when the session ends. */
void faultfs_free_handles(struct faultfs *fs);

/* image_io.c: the guest data path of ID/image. FLAGS: the write's O_DSYNC / O_SYNC. */
void image_io_read(fuse_req_t req, struct disk *disk, size_t size, off_t off);
void image_io_write(fuse_req_t req, struct disk *disk, const char *buf, size_t size, off_t off,
                    int flags);
void image_io_fallocate(fuse_req_t req, struct disk *disk, int mode, off_t off, off_t length);
void image_io_fsync(fuse_req_t req, struct disk *disk, int datasync);

/* parking.c: requests held back by a slow fault (see there). */
struct parked {
    struct delay_job job; /* first: the queue hands back a pointer to it */
    struct faultfs *fs;
    fuse_req_t req;
    struct disk_request rq; /* holds a reference to its disk, dropped with the request */
    size_t bytes;           /* write data it holds, reserved with parking_reserve */
    void (*finish)(struct parked *held); /* steps 2-4 and the reply, on a delay worker */
};

int parking_init(struct parking *p, uint64_t budget);
void parking_destroy(struct parking *p);
/* Waits for room for BYTES of write data: 0, or -EINTR once REQ's requester gives up. */
int parking_reserve(struct faultfs *fs, fuse_req_t req, size_t bytes);
void parking_unreserve(struct faultfs *fs, size_t bytes);
/*
 * Parks HELD (malloc'ed, fields above filled) for DELAY_NS; from then on it is
 * answered and freed for the caller. -errno: the caller replies, then frees
 * it with parking_discard (which also returns its bytes and its disk reference).
 */
int parking_hold(struct parked *held, uint64_t delay_ns);
void parking_discard(struct parked *held);
/* Re-times DISK's parked requests after its rules changed or it was detached. */
void parking_retime(struct faultfs *fs, struct disk *disk);

/* reply_buffer.c: a buffer of at least SIZE bytes owned by the calling thread, or NULL. */
char *reply_buffer_get(size_t size);
/* The calling thread's empty non-blocking pipe, holding SIZE bytes or more: 0 or -errno. */
int reply_pipe_get(size_t size, int fds[2]);
/* Drops the calling thread's pipe and whatever it still holds. */
void reply_pipe_discard(void);

/*
 * session_loop.c: serves SE until it is unmounted or a stop signal arrives, with at
 * most MAX_SPARES threads beyond one per CPU; the calling thread waits under WAIT_MASK
 * and every other thread must block the stop signals. 0 or -errno.
 */
int session_loop_run(struct fuse_session *se, unsigned max_spares, const sigset_t *wait_mask);

/* ctl_file.c: MOUNT/ctl, ID/ctl and ID/stats. */
int ctl_file_snapshot(struct faultfs *fs, struct handle *h);
/*
 * A batch is everything written through one open ctl file: each write()
 * is parsed and checked at once (a mistake fails that write and voids the
 * batch), and close() applies the batch (returning the error if it cannot).
 */
void ctl_file_write(fuse_req_t req, struct handle *h, const char *buf, size_t size);
int ctl_file_flush(struct faultfs *fs, struct handle *h);
void ctl_file_release(struct handle *h);

#endif
