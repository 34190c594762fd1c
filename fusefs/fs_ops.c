/*
 * The namespace of a mount and the FUSE callbacks: MOUNT/ctl, MOUNT/ID/
 * {image,ctl,stats,trace,stored}. Data requests are handed to image_io.c and ctl_file.c.
 *
 * Entries and attributes are never cached (timeouts of 0), so an attach or a
 * detach shows at the very next lookup.
 */
#include "fs_ops.h"

#include "ctl_file.h"
#include "image_io.h"
#include "reply_buffer.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

/* Raised from the kernel's 12 so a slow disk's parked async requests cannot starve the others. */
#define FAULTFS_MAX_BACKGROUND 4096

static const char *const disk_file_names[] = {
    [NODE_IMAGE] = "image",
    [NODE_DISK_CTL] = "ctl",
    [NODE_STATS] = "stats",
    [NODE_TRACE] = "trace",
    [NODE_STORED] = "stored",
};

/* ---- attributes ---- */

/* When the daemon mounted (set once, before any thread starts): its own files' times. */
static struct timespec attr_mounted_at;

void faultfs_mark_mounted(void)
{
    clock_gettime(CLOCK_REALTIME, &attr_mounted_at);
}

/* The daemon's own files and directories: the mounting user's, dated when it mounted. */
static void attr_base(struct stat *st, fuse_ino_t ino, mode_t mode)
{
    memset(st, 0, sizeof *st);
    st->st_ino = ino;
    st->st_mode = mode;
    st->st_nlink = S_ISDIR(mode) ? 2 : 1;
    st->st_uid = getuid();
    st->st_gid = getgid();
    st->st_atim = st->st_mtim = st->st_ctim = attr_mounted_at;
}

static int attr_image(struct disk *disk, fuse_ino_t ino, struct stat *st)
{
    struct stat backing;
    uint64_t size;
    if (fstat(disk->fd, &backing) < 0)
        return -errno;
    int rc = disk_size(disk, &size);
    if (rc < 0)
        return rc;
    attr_base(st, ino, S_IFREG | (backing.st_mode & 07777));
    st->st_uid = backing.st_uid;
    st->st_gid = backing.st_gid;
    st->st_size = (off_t)size;
    st->st_blocks = backing.st_blocks;
    st->st_blksize = backing.st_blksize;
    st->st_atim = backing.st_atim;
    st->st_mtim = backing.st_mtim;
    st->st_ctim = backing.st_ctim;
    return 0;
}

/* Fills ST for INO; *DISK_OUT (if given) gets the disk with a reference. */
static int attr_of(struct faultfs *fs, fuse_ino_t ino, struct stat *st, struct disk **disk_out)
{
    uint64_t serial = 0;
    enum node_kind kind = node_kind_of(ino, &serial);
    if (kind == NODE_ROOT) {
        attr_base(st, ino, S_IFDIR | 0755);
        return 0;
    }
    if (kind == NODE_MOUNT_CTL) {
        attr_base(st, ino, S_IFREG | 0644);
        return 0;
    }
    struct disk *disk = disk_registry_find_serial(&fs->disks, serial);
    if (!disk)
        return -ENOENT;
    int rc = 0;
    switch (kind) {
    case NODE_DISK_DIR:
        attr_base(st, ino, S_IFDIR | 0755);
        break;
    case NODE_IMAGE:
    case NODE_STORED:
        rc = attr_image(disk, ino, st);
        break;
    case NODE_DISK_CTL:
        attr_base(st, ino, S_IFREG | 0644);
        break;
    default:
        attr_base(st, ino, S_IFREG | 0444);
        break;
    }
    if (disk_out && rc == 0)
        *disk_out = disk;
    else
        disk_unref(disk);
    return rc;
}

static void reply_entry(struct request req, fuse_ino_t ino)
{
    struct fuse_entry_param e = {.ino = ino};
    int rc = attr_of(faultfs_of(req), ino, &e.attr, NULL);
    if (rc < 0)
        request_reply_err(req, -rc);
    else
        request_reply_entry(req, &e);
}

/* ---- namespace ---- */

static void faultfs_lookup(struct request req, fuse_ino_t parent, const char *name)
{
    struct faultfs *fs = faultfs_of(req);
    uint64_t serial = 0;
    enum node_kind kind = node_kind_of(parent, &serial);

    if (kind == NODE_ROOT) {
        if (strcmp(name, "ctl") == 0)
            return (void)reply_entry(req, INO_MOUNT_CTL);
        struct disk *disk = disk_registry_find_id(&fs->disks, name, strlen(name));
        if (!disk)
            return (void)request_reply_err(req, ENOENT);
        fuse_ino_t ino = node_ino(disk->serial, NODE_DISK_DIR);
        disk_unref(disk);
        return (void)reply_entry(req, ino);
    }
    if (kind != NODE_DISK_DIR)
        return (void)request_reply_err(req, ENOTDIR);
    for (enum node_kind k = NODE_IMAGE; k <= NODE_LAST; k++) {
        if (strcmp(name, disk_file_names[k]) == 0)
            return (void)reply_entry(req, node_ino(serial, k));
    }
    request_reply_err(req, ENOENT);
}

static void faultfs_getattr(struct request req, fuse_ino_t ino, struct fuse_file_info *fi)
{
    struct stat st;
    (void)fi;
    int rc = attr_of(faultfs_of(req), ino, &st, NULL);
    if (rc < 0)
        return (void)request_reply_err(req, -rc);
    request_reply_attr(req, &st, 0);
}

static void faultfs_setattr(struct request req, fuse_ino_t ino, struct stat *attr, int to_set,
                            struct fuse_file_info *fi)
{
    struct faultfs *fs = faultfs_of(req);
    uint64_t serial = 0;
    enum node_kind kind = node_kind_of(ino, &serial);
    struct disk *disk = NULL;
    struct stat st;
    (void)fi;

    /* The O_TRUNC of `echo cmd > ctl` arrives as a size of 0: a ctl file has nothing to cut. */
    if ((to_set & FUSE_SET_ATTR_SIZE) &&
        !((kind == NODE_MOUNT_CTL || kind == NODE_DISK_CTL) && attr->st_size == 0))
        return (void)request_reply_err(req, node_is_image(kind) ? EPERM : EACCES);

    int rc = attr_of(fs, ino, &st, &disk);
    /*
     * Owners and modes are the backing file's or the daemon's: no change is
     * made here, but setting the ones already there succeeds (relabelling
     * tools chown an image to the owner it already has). A real change is
     * EPERM, which libvirt's DAC driver tolerates: at a domain's stop it
     * chowns the image back to root:root and goes on when that is refused.
     */
    if (rc == 0 && (((to_set & FUSE_SET_ATTR_MODE) && (attr->st_mode & 07777) != (st.st_mode & 07777)) ||
                    ((to_set & FUSE_SET_ATTR_UID) && attr->st_uid != st.st_uid) ||
                    ((to_set & FUSE_SET_ATTR_GID) && attr->st_gid != st.st_gid)))
        rc = -EPERM;
    if (rc == 0 && node_is_image(kind) && (to_set & (FUSE_SET_ATTR_ATIME | FUSE_SET_ATTR_MTIME))) {
        struct timespec times[2] = {{.tv_nsec = UTIME_OMIT}, {.tv_nsec = UTIME_OMIT}};
        if (to_set & FUSE_SET_ATTR_ATIME)
            times[0] = (to_set & FUSE_SET_ATTR_ATIME_NOW) ? (struct timespec){.tv_nsec = UTIME_NOW}
                                                          : attr->st_atim;
        if (to_set & FUSE_SET_ATTR_MTIME)
            times[1] = (to_set & FUSE_SET_ATTR_MTIME_NOW) ? (struct timespec){.tv_nsec = UTIME_NOW}
                                                          : attr->st_mtim;
        if (futimens(disk->fd, times) < 0)
            rc = -errno;
        else
            rc = attr_image(disk, ino, &st);
    }
    if (disk)
        disk_unref(disk);
    if (rc < 0)
        return (void)request_reply_err(req, -rc);
    request_reply_attr(req, &st, 0);
}

/*
 * The namespace is made by attach and detach only: EPERM, or ENOENT when the
 * parent is a disk's directory and the disk has just been detached (a
 * shell's `> ID/ctl` whose lookup of ctl lost the race turns into a create).
 */
static int refuse_new_entry(struct request req, fuse_ino_t parent)
{
    uint64_t serial = 0;
    if (node_kind_of(parent, &serial) != NODE_DISK_DIR)
        return EPERM;
    struct disk *disk = disk_registry_find_serial(&faultfs_of(req)->disks, serial);
    if (!disk)
        return ENOENT;
    disk_unref(disk);
    return EPERM;
}

static void faultfs_mknod(struct request req, fuse_ino_t parent, const char *name, mode_t mode,
                          dev_t rdev)
{
    (void)name, (void)mode, (void)rdev;
    request_reply_err(req, refuse_new_entry(req, parent));
}

static void faultfs_mkdir(struct request req, fuse_ino_t parent, const char *name, mode_t mode)
{
    (void)name, (void)mode;
    request_reply_err(req, refuse_new_entry(req, parent));
}

static void faultfs_unlink(struct request req, fuse_ino_t parent, const char *name)
{
    (void)parent, (void)name;
    request_reply_err(req, EPERM);
}

static void faultfs_rename(struct request req, fuse_ino_t parent, const char *name,
                           fuse_ino_t newparent, const char *newname, unsigned int flags)
{
    (void)parent, (void)name, (void)newparent, (void)newname, (void)flags;
    request_reply_err(req, EPERM);
}

/* ---- directories ---- */

struct listing {
    char *buf;
    size_t len;
    size_t capacity;
};

static int listing_add(struct listing *l, const char *name, fuse_ino_t ino, mode_t mode)
{
    struct stat st = {.st_ino = ino, .st_mode = mode};
    size_t need = fuse_add_direntry(NULL, NULL, 0, name, NULL, 0);
    if (l->len + need > l->capacity) {
        size_t cap = (l->capacity ? l->capacity * 2 : 1024) + need;
        char *grown = realloc(l->buf, cap);
        if (!grown)
            return -ENOMEM;
        l->buf = grown;
        l->capacity = cap;
    }
    fuse_add_direntry(NULL, l->buf + l->len, need, name, &st, (off_t)(l->len + need));
    l->len += need;
    return 0;
}

static int listing_root(struct faultfs *fs, struct listing *l)
{
    struct disk **disks;
    ssize_t n = disk_registry_list(&fs->disks, &disks);
    if (n < 0)
        return (int)n;
    int rc = listing_add(l, ".", FUSE_ROOT_ID, S_IFDIR);
    if (rc == 0)
        rc = listing_add(l, "..", FUSE_ROOT_ID, S_IFDIR);
    if (rc == 0)
        rc = listing_add(l, "ctl", INO_MOUNT_CTL, S_IFREG);
    for (ssize_t i = 0; i < n && rc == 0; i++)
        rc = listing_add(l, disks[i]->id, node_ino(disks[i]->serial, NODE_DISK_DIR), S_IFDIR);
    disk_registry_list_free(disks, (size_t)n);
    return rc;
}

static int listing_disk(struct disk *disk, struct listing *l)
{
    int rc = listing_add(l, ".", node_ino(disk->serial, NODE_DISK_DIR), S_IFDIR);
    if (rc == 0)
        rc = listing_add(l, "..", FUSE_ROOT_ID, S_IFDIR);
    for (enum node_kind k = NODE_IMAGE; k <= NODE_LAST && rc == 0; k++)
        rc = listing_add(l, disk_file_names[k], node_ino(disk->serial, k), S_IFREG);
    return rc;
}

static void handle_unpublish(struct request req, struct handle *h);

static struct handle *handle_new(enum node_kind kind)
{
    struct handle *h = calloc(1, sizeof *h);
    if (h) {
        h->kind = kind;
        h->gather.lines = 1;
        pthread_mutex_init(&h->lock, NULL);
    }
    return h;
}

static void handle_free(struct handle *h)
{
    if (h->disk)
        disk_unref(h->disk);
    pthread_mutex_destroy(&h->lock);
    ctl_file_release(h);
    free(h->text);
    free(h);
}

/* Hands H to the kernel as FI's file handle and replies to the open. */
static void handle_publish(struct request req, struct handle *h, struct fuse_file_info *fi)
{
    struct faultfs *fs = faultfs_of(req);
    pthread_mutex_lock(&fs->handles_lock);
    h->next = fs->handles;
    if (fs->handles)
        fs->handles->prev = h;
    fs->handles = h;
    pthread_mutex_unlock(&fs->handles_lock);
    fi->fh = (uintptr_t)h;
    if (request_reply_open(req, fi) == -ENOENT) /* the opener was interrupted: no release follows */
        handle_unpublish(req, h);
}

static void handle_unpublish(struct request req, struct handle *h)
{
    struct faultfs *fs = faultfs_of(req);
    pthread_mutex_lock(&fs->handles_lock);
    if (h->prev)
        h->prev->next = h->next;
    else
        fs->handles = h->next;
    if (h->next)
        h->next->prev = h->prev;
    pthread_mutex_unlock(&fs->handles_lock);
    handle_free(h);
}

void faultfs_free_handles(struct faultfs *fs)
{
    pthread_mutex_lock(&fs->handles_lock);
    while (fs->handles) {
        struct handle *h = fs->handles;
        fs->handles = h->next;
        handle_free(h);
    }
    pthread_mutex_unlock(&fs->handles_lock);
}

static void faultfs_opendir(struct request req, fuse_ino_t ino, struct fuse_file_info *fi)
{
    struct faultfs *fs = faultfs_of(req);
    uint64_t serial = 0;
    enum node_kind kind = node_kind_of(ino, &serial);
    struct handle *h = handle_new(kind);
    struct listing l = {0};
    int rc;

    if (!h)
        return (void)request_reply_err(req, ENOMEM);
    if (kind == NODE_ROOT) {
        rc = listing_root(fs, &l);
    } else if (kind == NODE_DISK_DIR) {
        h->disk = disk_registry_find_serial(&fs->disks, serial);
        rc = h->disk ? listing_disk(h->disk, &l) : -ENOENT;
    } else {
        rc = -ENOTDIR;
    }
    h->text = l.buf;
    h->text_len = l.len;
    if (rc < 0) {
        handle_free(h);
        return (void)request_reply_err(req, -rc);
    }
    handle_publish(req, h, fi);
}

static void reply_slice(struct request req, struct handle *h, size_t size, off_t off)
{
    /* H's text is replaced when a ctl write is refused (ctl_file.c): copy it under the lock. */
    pthread_mutex_lock(&h->lock);
    size_t left = off >= 0 && (size_t)off < h->text_len ? h->text_len - (size_t)off : 0;
    size_t n = size < left ? size : left;
    char *copy = reply_buffer_get(n); /* see reply_buffer.c: H may be freed before writev returns */
    if (copy && n)
        memcpy(copy, h->text + off, n);
    pthread_mutex_unlock(&h->lock);
    if (!copy)
        return (void)request_reply_err(req, ENOMEM);
    request_reply_buf(req, copy, n);
}

static void faultfs_readdir(struct request req, fuse_ino_t ino, size_t size, off_t off,
                            struct fuse_file_info *fi)
{
    (void)ino;
    reply_slice(req, handle_of(fi), size, off);
}

static void faultfs_releasedir(struct request req, fuse_ino_t ino, struct fuse_file_info *fi)
{
    (void)ino;
    handle_unpublish(req, handle_of(fi));
    request_reply_err(req, 0);
}

/* ---- files ---- */

static void faultfs_open(struct request req, fuse_ino_t ino, struct fuse_file_info *fi)
{
    struct faultfs *fs = faultfs_of(req);
    uint64_t serial = 0;
    enum node_kind kind = node_kind_of(ino, &serial);
    int access = fi->flags & O_ACCMODE;

    if (kind == NODE_ROOT || kind == NODE_DISK_DIR)
        return (void)request_reply_err(req, EISDIR);
    if ((kind == NODE_STATS || kind == NODE_TRACE) && access != O_RDONLY)
        return (void)request_reply_err(req, EACCES);
    /* Control is the mounting user's (and root's), whatever -o allow_other lets others see. */
    if ((kind == NODE_MOUNT_CTL || kind == NODE_DISK_CTL) && access != O_RDONLY) {
        uid_t uid = request_caller(req).uid;
        if (uid != fs->owner && uid != 0)
            return (void)request_reply_err(req, EACCES);
    }

    struct handle *h = handle_new(kind);
    if (!h)
        return (void)request_reply_err(req, ENOMEM);
    if (kind != NODE_MOUNT_CTL && !(h->disk = disk_registry_find_serial(&fs->disks, serial))) {
        handle_free(h);
        return (void)request_reply_err(req, ENOENT);
    }
    if (!node_is_image(kind) && access != O_WRONLY) {
        int rc = ctl_file_snapshot(fs, h);
        if (rc < 0) {
            handle_free(h);
            return (void)request_reply_err(req, -rc);
        }
    }
    /* Every guest request must reach us: the page cache would hide faults. */
    fi->direct_io = 1;
    fi->keep_cache = 0;
    handle_publish(req, h, fi);
}

static void faultfs_release(struct request req, fuse_ino_t ino, struct fuse_file_info *fi)
{
    (void)ino;
    handle_unpublish(req, handle_of(fi));
    request_reply_err(req, 0);
}

static void faultfs_read(struct request req, fuse_ino_t ino, size_t size, off_t off,
                         struct fuse_file_info *fi)
{
    struct handle *h = handle_of(fi);
    (void)ino;
    if (node_is_image(h->kind))
        return (void)image_io_read(req, h->disk, h->kind == NODE_STORED, size, off);
    reply_slice(req, h, size, off);
}

static void faultfs_write(struct request req, fuse_ino_t ino, const char *buf, size_t size, off_t off,
                          struct fuse_file_info *fi)
{
    struct handle *h = handle_of(fi);
    (void)ino;
    switch (h->kind) {
    case NODE_IMAGE:
    case NODE_STORED:
        return (void)image_io_write(req, h->disk, h->kind == NODE_STORED, buf, size, off,
                                    fi->flags);
    case NODE_MOUNT_CTL:
    case NODE_DISK_CTL:
        return (void)ctl_file_write(req, h, buf, size);
    default:
        return (void)request_reply_err(req, EBADF);
    }
}

static void faultfs_flush(struct request req, fuse_ino_t ino, struct fuse_file_info *fi)
{
    struct handle *h = handle_of(fi);
    (void)ino;
    if (h->kind != NODE_MOUNT_CTL && h->kind != NODE_DISK_CTL)
        return (void)request_reply_err(req, 0);
    /* close() applies what was written through this file (ctl_file.c). */
    request_reply_err(req, -ctl_file_flush(faultfs_of(req), h));
}

static void faultfs_fsync(struct request req, fuse_ino_t ino, int datasync, struct fuse_file_info *fi)
{
    struct handle *h = handle_of(fi);
    (void)ino;
    if (node_is_image(h->kind))
        return (void)image_io_fsync(req, h->disk, h->kind == NODE_STORED, datasync);
    /* On a ctl file, fsync() applies what was written so far, as close() would. */
    if (h->kind == NODE_MOUNT_CTL || h->kind == NODE_DISK_CTL)
        return (void)request_reply_err(req, -ctl_file_flush(faultfs_of(req), h));
    request_reply_err(req, 0);
}

static void faultfs_fallocate(struct request req, fuse_ino_t ino, int mode, off_t offset, off_t length,
                              struct fuse_file_info *fi)
{
    struct handle *h = handle_of(fi);
    (void)ino;
    if (!node_is_image(h->kind))
        return (void)request_reply_err(req, EOPNOTSUPP);
    image_io_fallocate(req, h->disk, h->kind == NODE_STORED, mode, offset, length);
}

/* ---- session ---- */

void faultfs_init(void *userdata, struct fuse_conn_info *conn)
{
    struct faultfs *fs = userdata;
    conn->max_background = FAULTFS_MAX_BACKGROUND;
    conn->congestion_threshold = FAULTFS_MAX_BACKGROUND * 3 / 4;
    /* Let the kernel split large direct I/O into parallel requests. */
    if (conn->capable & FUSE_CAP_ASYNC_DIO)
        conn->want |= FUSE_CAP_ASYNC_DIO;
    conn->want &= ~(unsigned)FUSE_CAP_AUTO_INVAL_DATA;
    conn->max_read = fs->max_read; /* as on the mount options (main.c) */
    /* Large reads are spliced from the image (image_io.c). */
    if (conn->capable & FUSE_CAP_SPLICE_WRITE) {
        conn->want |= FUSE_CAP_SPLICE_WRITE;
        fs->splice_replies = true;
    }
}

/*
 * No xattr handlers, on purpose: faultfs stores nothing but the images'
 * bytes. The kernel turns the first ENOSYS into EOPNOTSUPP and from then on
 * answers every xattr call so without a round trip to the daemon.
 * libvirt reads EOPNOTSUPP on its trusted.libvirt.security.* labels as a
 * filesystem that cannot remember owners, and goes on without them
 * (tests/integration/test-relabel.sh, tests/e2e/test-libvirt.sh).
 */
const struct request_ops faultfs_ops = {
    .lookup = faultfs_lookup,
    .getattr = faultfs_getattr,
    .setattr = faultfs_setattr,
    .mknod = faultfs_mknod,
    .mkdir = faultfs_mkdir,
    .unlink = faultfs_unlink,
    .rmdir = faultfs_unlink,
    .rename = faultfs_rename,
    .open = faultfs_open,
    .read = faultfs_read,
    .write = faultfs_write,
    .flush = faultfs_flush,
    .release = faultfs_release,
    .fsync = faultfs_fsync,
    .opendir = faultfs_opendir,
    .readdir = faultfs_readdir,
    .releasedir = faultfs_releasedir,
    .fallocate = faultfs_fallocate,
};
