/*
 * The daemon's shared state, inode numbering and open-file handles.
 *
 * Each fusefs file has its header, and the includes run one way:
 *   request.h, reply_buffer.h, parking.h (no daemon state) <- faultfs.h (the state)
 *   <- image_io.h, ctl_file.h <- fs_ops.h <- transport.h (the /dev/fuse loop and the
 *   ring: session_loop.h, ring_loop.h) <- main.c (with mount_guard.h)
 */
#ifndef FAULTFS_FAULTFS_H
#define FAULTFS_FAULTFS_H

#include "disk_registry.h"
#include "parking.h"

#include "request.h"

#include <fuse_lowlevel.h>
#include <stdatomic.h>
#include <stdbool.h>

struct handle;

struct faultfs {
    struct disk_registry disks;
    struct parking parked;     /* requests held back by a slow fault */
    uid_t owner;               /* the mounting user: with root, the only one who may write ctl */
    struct fuse_session *session;
    char *mount_root; /* realpath of the mountpoint */
    /* Open handles, freed at exit if the kernel never sent their release. */
    pthread_mutex_t handles_lock; /* guards handles and every handle's prev/next */
    struct handle *handles;
    bool splice_replies; /* the kernel takes replies spliced from a pipe */
    _Atomic(const char *) transport; /* "uring" once the ring took over, else "dev" */
    unsigned max_read;   /* the largest read request, in bytes */
};

/*
 * Reads up to this size are spliced (image_io.c) and the kernel is asked for
 * no larger ones: libfuse's pipe must hold the reply's data, its header and
 * some slack within pipe-max-size, 1 MiB by default.
 */
#define FAULTFS_MAX_READ (512 * 1024)

/*
 * Inodes: 1 is the root, 2 the mount's ctl; disk serial S (S >= 1, never
 * reused) owns 8S (its directory) to 8S+7. Numbers are never recycled, so a
 * stale inode of a detached disk can never reach a newer one.
 */
enum node_kind {
    NODE_ROOT,
    NODE_MOUNT_CTL,
    NODE_DISK_DIR,
    NODE_IMAGE,
    NODE_DISK_CTL,
    NODE_STATS,
    NODE_TRACE,  /* the I/O trace, JSON lines */
    NODE_STORED, /* the image as stored: data faults and the volatile cache pass it by */
    NODE_LAST = NODE_STORED,
};

#define NODES_PER_DISK 8
_Static_assert(NODE_LAST - NODE_DISK_DIR < NODES_PER_DISK, "a disk's nodes fit its inodes");

/* The nodes whose reads and writes are the disk's I/O. */
static inline bool node_is_image(enum node_kind kind)
{
    return kind == NODE_IMAGE || kind == NODE_STORED;
}

#define INO_MOUNT_CTL 2

_Static_assert(FUSE_ROOT_ID == 1, "the root inode number is fixed by the protocol");

static inline fuse_ino_t node_ino(uint64_t serial, enum node_kind kind)
{
    return (fuse_ino_t)(serial * NODES_PER_DISK + (uint64_t)(kind - NODE_DISK_DIR));
}

static inline enum node_kind node_kind_of(fuse_ino_t ino, uint64_t *serial)
{
    if (ino == FUSE_ROOT_ID)
        return NODE_ROOT;
    if (ino == INO_MOUNT_CTL)
        return NODE_MOUNT_CTL;
    *serial = ino / NODES_PER_DISK;
    return (enum node_kind)(NODE_DISK_DIR + ino % NODES_PER_DISK);
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

static inline struct faultfs *faultfs_of(struct request req)
{
    return request_userdata(req);
}

#endif
