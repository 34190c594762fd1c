/*
 * Replies, callers and interrupts of a request on either transport: libfuse
 * does the work on /dev/fuse; on a ring, the reply is encoded here into the
 * kernel's own structures (linux/fuse.h) and the slot commits it.
 */
#include "request.h"

#include "ring_loop.h"

#include <errno.h>
#include <stdatomic.h>
#include <linux/fuse.h>
#include <string.h>

/* ---- callers ---- */

void *request_userdata(struct request r)
{
    return r.fuse ? fuse_req_userdata(r.fuse) : ring_slot_userdata(r.slot);
}

struct request_caller request_caller(struct request r)
{
    if (r.fuse) {
        const struct fuse_ctx *ctx = fuse_req_ctx(r.fuse);
        return (struct request_caller){.uid = ctx->uid, .gid = ctx->gid, .pid = ctx->pid};
    }
    const struct fuse_in_header *in = ring_slot_in_header(r.slot);
    return (struct request_caller){
        .uid = (uid_t)in->uid, .gid = (gid_t)in->gid, .pid = (pid_t)in->pid};
}

/* ---- ordering ---- */

/*
 * Replies sent so far. The kernel orders a reply before every request its
 * requester makes next, whichever thread or transport that comes to (an open
 * answered on /dev/fuse, its reads on a ring); a release as each reply goes
 * and an acquire as each request begins say so to the C memory model, and
 * to ThreadSanitizer.
 */
static _Atomic uint64_t replies_sent;

static void reply_sent(void)
{
    atomic_fetch_add_explicit(&replies_sent, 1, memory_order_release);
}

void request_begin(void)
{
    (void)atomic_load_explicit(&replies_sent, memory_order_acquire);
}

/* ---- replies: the kernel's encodings, for a ring ---- */

static void encode_attr(struct fuse_attr *out, const struct stat *st)
{
    *out = (struct fuse_attr){
        .ino = st->st_ino,
        .size = (uint64_t)st->st_size,
        .blocks = (uint64_t)st->st_blocks,
        .atime = (uint64_t)st->st_atim.tv_sec,
        .mtime = (uint64_t)st->st_mtim.tv_sec,
        .ctime = (uint64_t)st->st_ctim.tv_sec,
        .atimensec = (uint32_t)st->st_atim.tv_nsec,
        .mtimensec = (uint32_t)st->st_mtim.tv_nsec,
        .ctimensec = (uint32_t)st->st_ctim.tv_nsec,
        .mode = st->st_mode,
        .nlink = (uint32_t)st->st_nlink,
        .uid = st->st_uid,
        .gid = st->st_gid,
        .rdev = (uint32_t)st->st_rdev,
        .blksize = (uint32_t)st->st_blksize,
    };
}

/* A timeout in seconds as the protocol's seconds and nanoseconds. */
static void encode_timeout(double timeout, uint64_t *sec, uint32_t *nsec)
{
    if (timeout <= 0) {
        *sec = 0;
        *nsec = 0;
        return;
    }
    *sec = (uint64_t)timeout;
    *nsec = (uint32_t)((timeout - (double)*sec) * 1e9);
}

int request_reply_err(struct request r, int err)
{
    reply_sent();
    if (r.fuse)
        return fuse_reply_err(r.fuse, err);
    return ring_slot_reply(r.slot, -err, NULL, 0);
}

int request_reply_entry(struct request r, const struct fuse_entry_param *e)
{
    reply_sent();
    if (r.fuse)
        return fuse_reply_entry(r.fuse, e);
    struct fuse_entry_out out = {.nodeid = e->ino, .generation = e->generation};
    encode_timeout(e->entry_timeout, &out.entry_valid, &out.entry_valid_nsec);
    encode_timeout(e->attr_timeout, &out.attr_valid, &out.attr_valid_nsec);
    encode_attr(&out.attr, &e->attr);
    return ring_slot_reply(r.slot, 0, &out, sizeof out);
}

int request_reply_attr(struct request r, const struct stat *st, double timeout)
{
    reply_sent();
    if (r.fuse)
        return fuse_reply_attr(r.fuse, st, timeout);
    struct fuse_attr_out out = {0};
    encode_timeout(timeout, &out.attr_valid, &out.attr_valid_nsec);
    encode_attr(&out.attr, st);
    return ring_slot_reply(r.slot, 0, &out, sizeof out);
}

int request_reply_open(struct request r, const struct fuse_file_info *fi)
{
    reply_sent();
    if (r.fuse)
        return fuse_reply_open(r.fuse, fi);
    struct fuse_open_out out = {.fh = fi->fh};
    if (fi->direct_io)
        out.open_flags |= FOPEN_DIRECT_IO;
    if (fi->keep_cache)
        out.open_flags |= FOPEN_KEEP_CACHE;
    if (fi->nonseekable)
        out.open_flags |= FOPEN_NONSEEKABLE;
    /* A ring request stays the kernel's until answered: an interrupted open still gets its release.
     */
    return ring_slot_reply(r.slot, 0, &out, sizeof out);
}

int request_reply_buf(struct request r, const void *buf, size_t size)
{
    reply_sent();
    if (r.fuse)
        return fuse_reply_buf(r.fuse, buf, size);
    return ring_slot_reply(r.slot, 0, buf, size);
}

int request_reply_write(struct request r, size_t count)
{
    reply_sent();
    if (r.fuse)
        return fuse_reply_write(r.fuse, count);
    struct fuse_write_out out = {.size = (uint32_t)count};
    return ring_slot_reply(r.slot, 0, &out, sizeof out);
}

void *request_reply_space(struct request r, size_t size)
{
    return r.slot ? ring_slot_payload(r.slot, size) : NULL;
}

bool request_data_kept(struct request r)
{
    return r.slot != NULL;
}

/* ---- interrupts ---- */

static void fuse_interrupted(fuse_req_t req, void *data)
{
    struct request_interrupt *hook = data;
    (void)req;
    hook->fn(hook->data);
}

void request_on_interrupt(struct request r, struct request_interrupt *hook)
{
    if (r.fuse)
        fuse_req_interrupt_func(r.fuse, hook ? fuse_interrupted : NULL, hook);
    else
        ring_slot_on_interrupt(r.slot, hook);
}

bool request_interrupted(struct request r)
{
    return r.fuse ? fuse_req_interrupted(r.fuse) != 0 : ring_slot_interrupted(r.slot);
}

/* ---- libfuse's table over request_ops ---- */

static const struct request_ops *lowlevel_ops; /* one session per process */

static void ll_lookup(fuse_req_t req, fuse_ino_t parent, const char *name)
{
    request_begin();
    lowlevel_ops->lookup(request_of_fuse(req), parent, name);
}

static void ll_getattr(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
    request_begin();
    lowlevel_ops->getattr(request_of_fuse(req), ino, fi);
}

static void ll_setattr(fuse_req_t req, fuse_ino_t ino, struct stat *attr, int to_set,
                       struct fuse_file_info *fi)
{
    request_begin();
    lowlevel_ops->setattr(request_of_fuse(req), ino, attr, to_set, fi);
}

static void ll_mknod(fuse_req_t req, fuse_ino_t parent, const char *name, mode_t mode, dev_t rdev)
{
    request_begin();
    lowlevel_ops->mknod(request_of_fuse(req), parent, name, mode, rdev);
}

static void ll_mkdir(fuse_req_t req, fuse_ino_t parent, const char *name, mode_t mode)
{
    request_begin();
    lowlevel_ops->mkdir(request_of_fuse(req), parent, name, mode);
}

static void ll_unlink(fuse_req_t req, fuse_ino_t parent, const char *name)
{
    request_begin();
    lowlevel_ops->unlink(request_of_fuse(req), parent, name);
}

static void ll_rmdir(fuse_req_t req, fuse_ino_t parent, const char *name)
{
    request_begin();
    lowlevel_ops->rmdir(request_of_fuse(req), parent, name);
}

static void ll_rename(fuse_req_t req, fuse_ino_t parent, const char *name, fuse_ino_t newparent,
                      const char *newname, unsigned int flags)
{
    request_begin();
    lowlevel_ops->rename(request_of_fuse(req), parent, name, newparent, newname, flags);
}

static void ll_open(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
    request_begin();
    lowlevel_ops->open(request_of_fuse(req), ino, fi);
}

static void ll_read(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off,
                    struct fuse_file_info *fi)
{
    request_begin();
    lowlevel_ops->read(request_of_fuse(req), ino, size, off, fi);
}

static void ll_write(fuse_req_t req, fuse_ino_t ino, const char *buf, size_t size, off_t off,
                     struct fuse_file_info *fi)
{
    request_begin();
    lowlevel_ops->write(request_of_fuse(req), ino, buf, size, off, fi);
}

static void ll_flush(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
    request_begin();
    lowlevel_ops->flush(request_of_fuse(req), ino, fi);
}

static void ll_release(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
    request_begin();
    lowlevel_ops->release(request_of_fuse(req), ino, fi);
}

static void ll_fsync(fuse_req_t req, fuse_ino_t ino, int datasync, struct fuse_file_info *fi)
{
    request_begin();
    lowlevel_ops->fsync(request_of_fuse(req), ino, datasync, fi);
}

static void ll_opendir(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
    request_begin();
    lowlevel_ops->opendir(request_of_fuse(req), ino, fi);
}

static void ll_readdir(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off,
                       struct fuse_file_info *fi)
{
    request_begin();
    lowlevel_ops->readdir(request_of_fuse(req), ino, size, off, fi);
}

static void ll_releasedir(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
    request_begin();
    lowlevel_ops->releasedir(request_of_fuse(req), ino, fi);
}

static void ll_fallocate(fuse_req_t req, fuse_ino_t ino, int mode, off_t offset, off_t length,
                         struct fuse_file_info *fi)
{
    request_begin();
    lowlevel_ops->fallocate(request_of_fuse(req), ino, mode, offset, length, fi);
}

void request_ops_lowlevel(const struct request_ops *ops,
                          void (*init)(void *userdata, struct fuse_conn_info *conn),
                          struct fuse_lowlevel_ops *out)
{
    lowlevel_ops = ops;
    /* An op the table leaves out stays out: libfuse answers it as it would (ENOSYS). */
    *out = (struct fuse_lowlevel_ops){
        .init = init,
        .lookup = ops->lookup ? ll_lookup : NULL,
        .getattr = ops->getattr ? ll_getattr : NULL,
        .setattr = ops->setattr ? ll_setattr : NULL,
        .mknod = ops->mknod ? ll_mknod : NULL,
        .mkdir = ops->mkdir ? ll_mkdir : NULL,
        .unlink = ops->unlink ? ll_unlink : NULL,
        .rmdir = ops->rmdir ? ll_rmdir : NULL,
        .rename = ops->rename ? ll_rename : NULL,
        .open = ops->open ? ll_open : NULL,
        .read = ops->read ? ll_read : NULL,
        .write = ops->write ? ll_write : NULL,
        .flush = ops->flush ? ll_flush : NULL,
        .release = ops->release ? ll_release : NULL,
        .fsync = ops->fsync ? ll_fsync : NULL,
        .opendir = ops->opendir ? ll_opendir : NULL,
        .readdir = ops->readdir ? ll_readdir : NULL,
        .releasedir = ops->releasedir ? ll_releasedir : NULL,
        .fallocate = ops->fallocate ? ll_fallocate : NULL,
    };
}
