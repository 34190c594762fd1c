/*
 * A ring request is the kernel's own encoding (linux/fuse.h), as libfuse
 * would read it from /dev/fuse, split in two: the opcode's fixed argument in
 * the header, names and write data in the payload. Decoded here into the
 * handler calls of request.h, with the defaults libfuse gives an op left out.
 */
#include "ring_dispatch.h"

#include <errno.h>
#include <string.h>

/* The NUL-terminated names at the start of the payload; NULL if they are not there. */
static const char *payload_name(const char *payload, size_t len, size_t skip)
{
    if (skip >= len || !memchr(payload + skip, '\0', len - skip))
        return NULL;
    return payload + skip;
}

static void dispatch_setattr(const struct request_ops *ops, struct request r, uint64_t ino,
                             const struct fuse_setattr_in *a)
{
    struct stat st = {0};
    struct fuse_file_info fi = {0};
    int to_set =
        (int)(a->valid & (FUSE_SET_ATTR_MODE | FUSE_SET_ATTR_UID | FUSE_SET_ATTR_GID |
                          FUSE_SET_ATTR_SIZE | FUSE_SET_ATTR_ATIME | FUSE_SET_ATTR_MTIME |
                          FUSE_SET_ATTR_ATIME_NOW | FUSE_SET_ATTR_MTIME_NOW | FUSE_SET_ATTR_CTIME));
    st.st_mode = a->mode;
    st.st_uid = a->uid;
    st.st_gid = a->gid;
    st.st_size = (off_t)a->size;
    st.st_atim = (struct timespec){.tv_sec = (time_t)a->atime, .tv_nsec = a->atimensec};
    st.st_mtim = (struct timespec){.tv_sec = (time_t)a->mtime, .tv_nsec = a->mtimensec};
    st.st_ctim = (struct timespec){.tv_sec = (time_t)a->ctime, .tv_nsec = a->ctimensec};
    fi.fh = a->fh;
    ops->setattr(r, ino, &st, to_set, (a->valid & FATTR_FH) ? &fi : NULL);
}

/* FUSE_STATFS with no handler: libfuse's answer, a namespace of nothing. */
static void reply_statfs_default(struct request r)
{
    struct fuse_statfs_out out = {.st = {.bsize = 512, .namelen = 255}};
    request_reply_buf(r, &out, sizeof out);
}

void ring_dispatch(const struct request_ops *ops, struct request r, const struct fuse_in_header *in,
                   const void *op_in, const char *payload, size_t len)
{
    uint64_t ino = in->nodeid;
    struct fuse_file_info fi = {0};
    const char *name = NULL, *newname = NULL;

    switch (in->opcode) {
    case FUSE_LOOKUP:
        if (!ops->lookup)
            break;
        if (!(name = payload_name(payload, len, 0)))
            return (void)request_reply_err(r, EINVAL);
        return ops->lookup(r, ino, name);
    case FUSE_GETATTR: {
        const struct fuse_getattr_in *a = op_in;
        if (!ops->getattr)
            break;
        fi.fh = a->fh;
        return ops->getattr(r, ino, (a->getattr_flags & FUSE_GETATTR_FH) ? &fi : NULL);
    }
    case FUSE_SETATTR:
        if (!ops->setattr)
            break;
        return dispatch_setattr(ops, r, ino, op_in);
    case FUSE_MKNOD: {
        const struct fuse_mknod_in *a = op_in;
        if (!ops->mknod)
            break;
        if (!(name = payload_name(payload, len, 0)))
            return (void)request_reply_err(r, EINVAL);
        return ops->mknod(r, ino, name, a->mode, a->rdev);
    }
    case FUSE_MKDIR: {
        const struct fuse_mkdir_in *a = op_in;
        if (!ops->mkdir)
            break;
        if (!(name = payload_name(payload, len, 0)))
            return (void)request_reply_err(r, EINVAL);
        return ops->mkdir(r, ino, name, a->mode);
    }
    case FUSE_UNLINK:
    case FUSE_RMDIR: {
        void (*op)(struct request, fuse_ino_t, const char *) =
            in->opcode == FUSE_UNLINK ? ops->unlink : ops->rmdir;
        if (!op)
            break;
        if (!(name = payload_name(payload, len, 0)))
            return (void)request_reply_err(r, EINVAL);
        return op(r, ino, name);
    }
    case FUSE_RENAME:
    case FUSE_RENAME2: {
        uint64_t newdir = ((const struct fuse_rename_in *)op_in)->newdir;
        unsigned flags =
            in->opcode == FUSE_RENAME2 ? ((const struct fuse_rename2_in *)op_in)->flags : 0;
        if (!ops->rename)
            break;
        if (!(name = payload_name(payload, len, 0)) ||
            !(newname = payload_name(payload, len, strlen(name) + 1)))
            return (void)request_reply_err(r, EINVAL);
        return ops->rename(r, ino, name, newdir, newname, flags);
    }
    case FUSE_OPEN:
    case FUSE_OPENDIR: {
        void (*op)(struct request, fuse_ino_t, struct fuse_file_info *) =
            in->opcode == FUSE_OPEN ? ops->open : ops->opendir;
        fi.flags = (int)((const struct fuse_open_in *)op_in)->flags;
        if (!op)
            return (void)request_reply_open(r, &fi); /* libfuse opens what it has no handler for */
        return op(r, ino, &fi);
    }
    case FUSE_READ:
    case FUSE_READDIR: {
        const struct fuse_read_in *a = op_in;
        void (*op)(struct request, fuse_ino_t, size_t, off_t, struct fuse_file_info *) =
            in->opcode == FUSE_READ ? ops->read : ops->readdir;
        if (!op)
            break;
        fi.fh = a->fh;
        fi.flags = (int)a->flags;
        return op(r, ino, a->size, (off_t)a->offset, &fi);
    }
    case FUSE_WRITE: {
        const struct fuse_write_in *a = op_in;
        if (!ops->write)
            break;
        if (a->size > len)
            return (void)request_reply_err(r, EINVAL);
        fi.fh = a->fh;
        fi.flags = (int)a->flags;
        fi.writepage = (a->write_flags & FUSE_WRITE_CACHE) != 0;
        return ops->write(r, ino, payload, a->size, (off_t)a->offset, &fi);
    }
    case FUSE_FLUSH: {
        const struct fuse_flush_in *a = op_in;
        if (!ops->flush)
            break;
        fi.fh = a->fh;
        fi.flush = 1;
        fi.lock_owner = a->lock_owner;
        return ops->flush(r, ino, &fi);
    }
    case FUSE_RELEASE:
    case FUSE_RELEASEDIR: {
        const struct fuse_release_in *a = op_in;
        void (*op)(struct request, fuse_ino_t, struct fuse_file_info *) =
            in->opcode == FUSE_RELEASE ? ops->release : ops->releasedir;
        fi.fh = a->fh;
        fi.flags = (int)a->flags;
        fi.flush = (a->release_flags & FUSE_RELEASE_FLUSH) != 0;
        fi.lock_owner = a->lock_owner;
        if (!op)
            return (void)request_reply_err(r, 0);
        return op(r, ino, &fi);
    }
    case FUSE_FSYNC: {
        const struct fuse_fsync_in *a = op_in;
        if (!ops->fsync)
            break;
        fi.fh = a->fh;
        return ops->fsync(r, ino, (int)(a->fsync_flags & 1), &fi);
    }
    case FUSE_FALLOCATE: {
        const struct fuse_fallocate_in *a = op_in;
        if (!ops->fallocate)
            break;
        fi.fh = a->fh;
        return ops->fallocate(r, ino, (int)a->mode, (off_t)a->offset, (off_t)a->length, &fi);
    }
    case FUSE_STATFS:
        return reply_statfs_default(r);
    case FUSE_DESTROY:
        return (void)request_reply_err(r, 0);
    default:
        break;
    }
    request_reply_err(r, ENOSYS);
}
