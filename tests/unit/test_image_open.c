#include "image_open.h"

#include <criterion/criterion.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/*
 * DIR holds real/a.img, symlinks of every kind, and mnt/ (the guarded
 * mountpoint, not mounted over). A second tree on /dev/shm, a filesystem of
 * its own, stands in for the mount: the guard is told its device.
 */
static char dir[] = "/tmp/faultfs-image-XXXXXX";
static char shm[] = "/dev/shm/faultfs-image-XXXXXX";
static char root[PATH_MAX / 2];
static struct image_guard guard;
static struct ff_error err;

static void at(char *out, const char *base, const char *rel)
{
    snprintf(out, PATH_MAX, "%s/%s", base, rel);
}

static void make_file(const char *base, const char *rel)
{
    char p[PATH_MAX];
    at(p, base, rel);
    int fd = open(p, O_CREAT | O_WRONLY, 0644);
    cr_assert_geq(fd, 0, "%s: %s", p, strerror(errno));
    close(fd);
}

static void link_to(const char *target, const char *rel)
{
    char p[PATH_MAX];
    at(p, dir, rel);
    cr_assert_eq(symlink(target, p), 0, "%s: %s", p, strerror(errno));
}

static void setup(void)
{
    char p[PATH_MAX], t[PATH_MAX];
    cr_assert_not_null(mkdtemp(dir));
    cr_assert_not_null(mkdtemp(shm));
    at(root, dir, "mnt");
    mkdir(root, 0755);
    at(p, dir, "real");
    mkdir(p, 0755);
    make_file(dir, "real/a.img");
    make_file(dir, "mnt/x.img");
    make_file(shm, "s.img");
    at(t, dir, "real/a.img");
    link_to(t, "abs-link");
    link_to("real/../real/a.img", "rel-link");
    link_to("mnt/x.img", "into-mnt");
    link_to("real", "dir-link");
    link_to("loop", "loop");
    at(t, shm, "s.img");
    link_to(t, "into-shm");
    link_to("/proc/self/root/tmp", "magic");
    at(p, dir, "fifo");
    cr_assert_eq(mkfifo(p, 0644), 0);
    cr_assert_eq(image_guard_init(&guard, root), 0);
}

static void teardown(void)
{
    char cmd[PATH_MAX * 2];
    snprintf(cmd, sizeof cmd, "rm -rf %s %s", dir, shm);
    cr_assert_eq(system(cmd), 0);
    strcpy(dir, "/tmp/faultfs-image-XXXXXX");
    strcpy(shm, "/dev/shm/faultfs-image-XXXXXX");
}

TestSuite(image_open, .init = setup, .fini = teardown);

/* Opens DIR/REL and checks it is the same file as DIR/WANT. */
static void opens(const char *rel, const char *want_rel)
{
    char in[PATH_MAX], want[PATH_MAX];
    struct stat a, b;
    at(in, dir, rel);
    at(want, dir, want_rel);
    int fd = image_open(in, &guard, &err);
    cr_assert_geq(fd, 0, "%s: %s", rel, err.msg);
    cr_assert_eq(fstat(fd, &a), 0);
    cr_assert_eq(stat(want, &b), 0);
    cr_assert(a.st_dev == b.st_dev && a.st_ino == b.st_ino, "%s opened another file", rel);
    cr_assert_eq(fcntl(fd, F_GETFL) & O_ACCMODE, O_RDWR);
    cr_assert_neq(fcntl(fd, F_GETFD) & FD_CLOEXEC, 0);
    close(fd);
}

static int fails(const char *base, const char *rel)
{
    char in[PATH_MAX];
    at(in, base, rel);
    err.msg[0] = '\0';
    int fd = image_open(in, &guard, &err);
    if (fd >= 0)
        close(fd);
    return fd;
}

Test(image_open, plain_paths_dots_and_symlinks)
{
    opens("real/a.img", "real/a.img");
    opens("./real/../real//a.img", "real/a.img");
    opens("abs-link", "real/a.img");
    opens("rel-link", "real/a.img");
    opens("dir-link/a.img", "real/a.img");
    opens("dir-link/../real/a.img", "real/a.img");
}

Test(image_open, the_mountpoint_directory_is_refused_however_it_is_named)
{
    char want[PATH_MAX * 2];
    cr_assert_eq(fails(dir, "mnt/x.img"), -EINVAL);
    snprintf(want, sizeof want, "image '%s/mnt/x.img' is inside the faultfs mount %s (it would deadlock)",
             dir, root);
    cr_assert_str_eq(err.msg, want);
    cr_assert_eq(fails(dir, "into-mnt"), -EINVAL);
    cr_assert_eq(fails(dir, "real/../mnt/./x.img"), -EINVAL);
    cr_assert_eq(fails(dir, "mnt"), -EINVAL);
}

Test(image_open, the_mounted_device_is_refused_through_any_path)
{
    char shm_img[PATH_MAX];
    at(shm_img, shm, "s.img");
    int fd = image_open(shm_img, &guard, &err);
    cr_assert_geq(fd, 0, "%s: %s (not guarded yet)", shm_img, err.msg);
    close(fd);

    /* Guard /dev/shm's mount, as the daemon guards its own once mounted. */
    struct image_guard shm_guard = guard;
    shm_guard.root = "/dev/shm";
    cr_assert_eq(image_guard_mounted(&shm_guard), 0);
    cr_assert_eq(image_open(shm_img, &shm_guard, &err), -EINVAL);
    cr_assert(strstr(err.msg, "is inside the faultfs mount /dev/shm"), "%s", err.msg);
    char in[PATH_MAX];
    at(in, dir, "into-shm");
    cr_assert_eq(image_open(in, &shm_guard, &err), -EINVAL, "%s", err.msg);
    at(in, dir, "real/a.img");
    fd = image_open(in, &shm_guard, &err);
    cr_assert_geq(fd, 0, "a file elsewhere still opens: %s", err.msg);
    close(fd);
}

Test(image_open, not_regular_files_and_missing_ones)
{
    char want[PATH_MAX * 2];
    cr_assert_eq(fails(dir, "real"), -EISDIR);
    snprintf(want, sizeof want, "image '%s/real' is not a regular file", dir);
    cr_assert_str_eq(err.msg, want);
    cr_assert_eq(fails(dir, "fifo"), -EINVAL, "a FIFO is refused, never opened");
    cr_assert_eq(image_open("/dev/null", &guard, &err), -EINVAL);
    cr_assert_str_eq(err.msg, "image '/dev/null' is not a regular file");
    cr_assert_eq(fails(dir, "nope.img"), -ENOENT);
    snprintf(want, sizeof want, "image '%s/nope.img' does not exist (faultfs never creates images)",
             dir);
    cr_assert_str_eq(err.msg, want);
    cr_assert_eq(fails(dir, "real/a.img/more"), -ENOTDIR);
    cr_assert_eq(fails(dir, "loop"), -ELOOP);
    cr_assert_eq(image_open("relative/x.img", &guard, &err), -EINVAL);
    cr_assert_str_eq(err.msg, "image path 'relative/x.img' is not absolute");
}

Test(image_open, magic_links_are_read_as_text_not_followed)
{
    /* /proc/self/root is read as "/": the walk goes on from the real root. */
    char in[PATH_MAX];
    snprintf(in, sizeof in, "%s/magic/%s/real/a.img", dir, dir + strlen("/tmp/"));
    int fd = image_open(in, &guard, &err);
    cr_assert_geq(fd, 0, "%s: %s", in, err.msg);
    close(fd);
}

Test(image_open, no_guard_opens_anything_regular)
{
    char in[PATH_MAX];
    at(in, dir, "mnt/x.img");
    int fd = image_open(in, NULL, &err);
    cr_assert_geq(fd, 0, "%s", err.msg);
    close(fd);
}
