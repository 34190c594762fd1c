/* A race-free walk to a disk image that never steps onto a forbidden mount. */
#include "image_open.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <unistd.h>

/* Most symlinks one walk follows, as the kernel's MAXSYMLINKS. */
#define IMAGE_MAX_HOPS 40

/* ---- mounts, looked up without touching their filesystems ---- */

/* The id of the mount FD lies on, from /proc/self/fdinfo: 0 or -errno. */
static int mount_id_of(int fd, int *out)
{
    char path[64], line[128];
    snprintf(path, sizeof path, "/proc/self/fdinfo/%d", fd);
    FILE *f = fopen(path, "re");
    if (!f)
        return -errno;
    int rc = -ENOTSUP;
    while (fgets(line, sizeof line, f)) {
        if (sscanf(line, "mnt_id: %d", out) == 1) {
            rc = 0;
            break;
        }
    }
    fclose(f);
    return rc;
}

/* The device of mount MNT_ID, from /proc/self/mountinfo: 0, -ENOENT if it is not listed. */
static int mount_dev_of(int mnt_id, dev_t *out)
{
    FILE *f = fopen("/proc/self/mountinfo", "re");
    if (!f)
        return -errno;
    char *line = NULL;
    size_t cap = 0;
    int rc = -ENOENT;
    while (getline(&line, &cap, f) > 0) {
        int id, parent;
        unsigned major, minor;
        if (sscanf(line, "%d %d %u:%u", &id, &parent, &major, &minor) == 4 && id == mnt_id) {
            *out = makedev(major, minor);
            rc = 0;
            break;
        }
    }
    free(line);
    fclose(f);
    return rc;
}

int image_guard_init(struct image_guard *guard, const char *root)
{
    struct stat st;
    memset(guard, 0, sizeof *guard);
    if (stat(root, &st) < 0)
        return -errno;
    guard->root = root;
    guard->root_dev = st.st_dev;
    guard->root_ino = st.st_ino;
    return 0;
}

int image_guard_mounted(struct image_guard *guard)
{
    /* An O_PATH open of a mountpoint lands on the mount's root without asking its filesystem. */
    int fd = open(guard->root, O_PATH | O_CLOEXEC);
    if (fd < 0)
        return -errno;
    int mnt_id = 0;
    int rc = mount_id_of(fd, &mnt_id);
    if (rc == 0)
        rc = mount_dev_of(mnt_id, &guard->mount_dev);
    close(fd);
    guard->mounted = rc == 0;
    return rc;
}

/* ---- the walk ---- */

struct walk {
    int dir;          /* O_PATH descriptor of the directory reached so far */
    int dir_mnt;      /* the mount it lies on */
    const struct image_guard *guard; /* NULL = none */
    char rest[PATH_MAX * 2]; /* components still to walk */
};

/* Replaces W's directory with FD (on mount MNT). */
static void walk_enter(struct walk *w, int fd, int mnt)
{
    close(w->dir);
    w->dir = fd;
    w->dir_mnt = mnt;
}

/*
 * Checks the mount of FD, just opened below W's directory, before anything
 * on it is touched: 0, or -EXDEV if it is the forbidden one.
 */
static int walk_check_mount(const struct walk *w, int fd, int *mnt)
{
    int rc = mount_id_of(fd, mnt);
    if (rc < 0 || *mnt == w->dir_mnt || !w->guard || !w->guard->mounted)
        return rc;
    dev_t dev;
    rc = mount_dev_of(*mnt, &dev);
    if (rc == -ENOENT)
        return -EXDEV; /* a mount we cannot see (detached, another namespace): not trusted */
    if (rc == 0 && dev == w->guard->mount_dev)
        return -EXDEV;
    return rc;
}

/* Puts the target of symlink LINK_FD in front of W's remaining components. */
static int walk_splice_link(struct walk *w, int link_fd, const char *after)
{
    char target[PATH_MAX];
    ssize_t n = readlinkat(link_fd, "", target, sizeof target - 1);
    if (n < 0)
        return -errno;
    target[n] = '\0';
    size_t left = strlen(after);
    if ((size_t)n + 1 + left + 1 > sizeof w->rest)
        return -ENAMETOOLONG;
    memmove(w->rest + n + 1, after, left + 1);
    memcpy(w->rest, target, (size_t)n);
    w->rest[n] = '/';
    if (target[0] == '/') {
        int root = open("/", O_PATH | O_DIRECTORY | O_CLOEXEC);
        if (root < 0)
            return -errno;
        int mnt;
        int rc = mount_id_of(root, &mnt);
        if (rc < 0) {
            close(root);
            return rc;
        }
        walk_enter(w, root, mnt); /* "/" is where the walk began: already checked */
    }
    return 0;
}

/*
 * Walks W to its last component; *LAST gets an O_PATH descriptor of it and
 * ST its attributes. 0 or -errno.
 */
static int walk_run(struct walk *w, int *last, struct stat *st)
{
    int hops = 0;
    char *p = w->rest;
    *last = -1;
    for (;;) {
        while (*p == '/')
            p++;
        if (!*p)
            break;
        char *comp = p;
        while (*p && *p != '/')
            p++;
        bool final = true;
        for (const char *q = p; *q; q++)
            final = final && *q == '/';
        char saved = *p;
        *p = '\0';
        if (strcmp(comp, ".") == 0) {
            *p = saved;
            continue;
        }
        int fd = openat(w->dir, comp, O_PATH | O_NOFOLLOW | O_CLOEXEC);
        *p = saved;
        if (fd < 0)
            return -errno;
        int mnt;
        int rc = walk_check_mount(w, fd, &mnt);
        if (rc == 0 && fstatat(fd, "", st, AT_EMPTY_PATH) < 0)
            rc = -errno;
        /* The mountpoint directory itself, before the mount or through a bind mount of it. */
        if (rc == 0 && w->guard && w->guard->root && st->st_dev == w->guard->root_dev &&
            st->st_ino == w->guard->root_ino)
            rc = -EXDEV;
        if (rc == 0 && S_ISLNK(st->st_mode)) {
            rc = ++hops > IMAGE_MAX_HOPS ? -ELOOP : walk_splice_link(w, fd, p);
            close(fd);
            if (rc < 0)
                return rc;
            p = w->rest;
            continue;
        }
        if (rc == 0 && final) {
            *last = fd;
            return 0;
        }
        if (rc == 0 && !S_ISDIR(st->st_mode))
            rc = -ENOTDIR;
        if (rc < 0) {
            close(fd);
            return rc;
        }
        walk_enter(w, fd, mnt);
    }
    /* The path ended on a directory ("/", or "x/."): no file to open. */
    *last = fcntl(w->dir, F_DUPFD_CLOEXEC, 0);
    if (*last < 0)
        return -errno;
    return fstatat(*last, "", st, AT_EMPTY_PATH) < 0 ? -errno : 0;
}

int image_open(const char *path, const struct image_guard *guard, struct ff_error *err)
{
    struct walk w = {.guard = guard && guard->root ? guard : NULL};
    struct stat checked, opened;
    int last = -1, fd = -1;

    if (path[0] != '/')
        return ff_error_set(err, -EINVAL, "image path '%s' is not absolute", path);
    if (strlen(path) >= sizeof w.rest)
        return ff_error_set(err, -ENAMETOOLONG, "image path '%s' is too long", path);
    strcpy(w.rest, path);
    w.dir = open("/", O_PATH | O_DIRECTORY | O_CLOEXEC);
    int rc = w.dir < 0 ? -errno : mount_id_of(w.dir, &w.dir_mnt);
    if (rc == 0)
        rc = walk_run(&w, &last, &checked);
    if (rc == 0 && !S_ISREG(checked.st_mode))
        rc = S_ISDIR(checked.st_mode) ? -EISDIR : -EINVAL;
    if (rc == 0) {
        /* Reopening the checked descriptor opens that inode, whatever the path names now. */
        char self[64];
        snprintf(self, sizeof self, "/proc/self/fd/%d", last);
        fd = open(self, O_RDWR | O_CLOEXEC | O_NOCTTY);
        if (fd < 0)
            rc = -errno;
        else if (fstat(fd, &opened) < 0)
            rc = -errno;
        else if (opened.st_dev != checked.st_dev || opened.st_ino != checked.st_ino)
            rc = -EAGAIN; /* cannot happen: the magic link names the checked inode */
    }
    if (w.dir >= 0)
        close(w.dir);
    if (last >= 0)
        close(last);
    if (rc == 0)
        return fd;
    if (fd >= 0)
        close(fd);

    switch (rc) {
    case -ENOENT:
        return ff_error_set(err, rc, "image '%s' does not exist (faultfs never creates images)",
                            path);
    case -EXDEV:
        return ff_error_set(err, -EINVAL,
                            "image '%s' is inside the faultfs mount %s (it would deadlock)", path,
                            w.guard ? w.guard->root : "");
    case -EISDIR:
    case -EINVAL:
        return ff_error_set(err, rc, "image '%s' is not a regular file", path);
    case -EACCES:
    case -EPERM:
    case -EROFS:
    case -ETXTBSY:
        return ff_error_set(err, rc, "cannot open image '%s' read-write: %s", path, strerror(-rc));
    default:
        return ff_error_set(err, rc, "image '%s': %s", path, strerror(-rc));
    }
}
