/*
 * A request from the kernel and its one reply, whichever transport brought
 * it: libfuse's session on /dev/fuse, or a FUSE-over-io_uring ring
 * (ring_loop.c). The handlers (fs_ops.c and below) see only this.
 */
#ifndef FAULTFS_REQUEST_H
#define FAULTFS_REQUEST_H

#include <fuse_lowlevel.h>
#include <stdbool.h>
#include <stddef.h>
#include <sys/stat.h>

struct ring_slot; /* ring_loop.h: one registered entry of a ring */

/* Exactly one of the two is set. A value: copy it to keep the request. */
struct request {
    fuse_req_t fuse;        /* the /dev/fuse transport's */
    struct ring_slot *slot; /* the io_uring transport's */
};

static inline struct request request_of_fuse(fuse_req_t req)
{
    return (struct request){.fuse = req};
}

/* Who sent it. */
struct request_caller {
    uid_t uid;
    gid_t gid;
    pid_t pid;
};

/* A transport calls this as each request begins, before its handler (see request.c). */
void request_begin(void);

/* What the daemon handed its session (faultfs's struct faultfs). */
void *request_userdata(struct request r);
struct request_caller request_caller(struct request r);

/* The replies: each request gets exactly one. 0, or -errno if it could not be sent. */
int request_reply_err(struct request r, int err);
int request_reply_entry(struct request r, const struct fuse_entry_param *e);
int request_reply_attr(struct request r, const struct stat *st, double timeout);
/* -ENOENT: the opener was interrupted and no release will follow. */
int request_reply_open(struct request r, const struct fuse_file_info *fi);
int request_reply_buf(struct request r, const void *buf, size_t size);
int request_reply_write(struct request r, size_t count);

/*
 * Where a read reply of SIZE bytes may be built: the ring's own payload
 * buffer (the reply then costs no copy), or NULL on /dev/fuse.
 */
void *request_reply_space(struct request r, size_t size);

/* Whether a write's bytes stay where they are until the reply (a ring's do; libfuse's buffer is
 * reused). */
bool request_data_kept(struct request r);

/*
 * Interrupts: HOOK->fn(HOOK->data) runs once the requester gives up (a
 * signal), at once if it has already; NULL takes the hook back, waiting for a
 * hook that is running. HOOK lives until taken back.
 */
struct request_interrupt {
    void (*fn)(void *data);
    void *data;
};
void request_on_interrupt(struct request r, struct request_interrupt *hook);
bool request_interrupted(struct request r);

/*
 * The handlers a transport calls, the libfuse low-level ones with a struct
 * request. FUSE_INIT, FORGET and INTERRUPT stay libfuse's on either transport.
 */
struct request_ops {
    void (*lookup)(struct request r, fuse_ino_t parent, const char *name);
    void (*getattr)(struct request r, fuse_ino_t ino, struct fuse_file_info *fi);
    void (*setattr)(struct request r, fuse_ino_t ino, struct stat *attr, int to_set,
                    struct fuse_file_info *fi);
    void (*mknod)(struct request r, fuse_ino_t parent, const char *name, mode_t mode, dev_t rdev);
    void (*mkdir)(struct request r, fuse_ino_t parent, const char *name, mode_t mode);
    void (*unlink)(struct request r, fuse_ino_t parent, const char *name);
    void (*rmdir)(struct request r, fuse_ino_t parent, const char *name);
    void (*rename)(struct request r, fuse_ino_t parent, const char *name, fuse_ino_t newparent,
                   const char *newname, unsigned int flags);
    void (*open)(struct request r, fuse_ino_t ino, struct fuse_file_info *fi);
    void (*read)(struct request r, fuse_ino_t ino, size_t size, off_t off,
                 struct fuse_file_info *fi);
    void (*write)(struct request r, fuse_ino_t ino, const char *buf, size_t size, off_t off,
                  struct fuse_file_info *fi);
    void (*flush)(struct request r, fuse_ino_t ino, struct fuse_file_info *fi);
    void (*release)(struct request r, fuse_ino_t ino, struct fuse_file_info *fi);
    void (*fsync)(struct request r, fuse_ino_t ino, int datasync, struct fuse_file_info *fi);
    void (*opendir)(struct request r, fuse_ino_t ino, struct fuse_file_info *fi);
    void (*readdir)(struct request r, fuse_ino_t ino, size_t size, off_t off,
                    struct fuse_file_info *fi);
    void (*releasedir)(struct request r, fuse_ino_t ino, struct fuse_file_info *fi);
    void (*fallocate)(struct request r, fuse_ino_t ino, int mode, off_t offset, off_t length,
                      struct fuse_file_info *fi);
};

/*
 * The libfuse low-level table that hands each request to OPS (a process
 * serves one session: OPS is kept for the life of the process), with INIT.
 */
void request_ops_lowlevel(const struct request_ops *ops,
                          void (*init)(void *userdata, struct fuse_conn_info *conn),
                          struct fuse_lowlevel_ops *out);

#endif
