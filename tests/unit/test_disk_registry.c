#include "disk_registry.h"

#include <criterion/criterion.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static char dir[] = "/tmp/faultfs-registry-XXXXXX";
static char mnt[PATH_MAX / 2];
static struct disk_registry reg;
static struct ff_error err;

static void make_file(const char *name, size_t size)
{
    char path[PATH_MAX];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    int fd = open(path, O_CREAT | O_WRONLY | O_TRUNC, 0644);
    cr_assert_geq(fd, 0);
    cr_assert_eq(ftruncate(fd, (off_t)size), 0);
    close(fd);
}

static void setup(void)
{
    cr_assert_not_null(mkdtemp(dir));
    snprintf(mnt, sizeof mnt, "%s/mnt", dir);
    cr_assert_eq(mkdir(mnt, 0755), 0);
    make_file("a.img", 1 << 20);
    make_file("b.img", 4096);
    cr_assert_eq(disk_registry_init(&reg, mnt), 0);
}

static void teardown(void)
{
    char cmd[PATH_MAX + 16];
    disk_registry_destroy(&reg);
    snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
    cr_assert_eq(system(cmd), 0);
    strcpy(dir, "/tmp/faultfs-registry-XXXXXX");
}

TestSuite(disk_registry, .init = setup, .fini = teardown);

/* Runs one MOUNT/ctl batch; TEXT may use %s for the temporary directory. */
static int run(const char *fmt)
{
    char text[4096];
    struct ctl_batch batch;
    snprintf(text, sizeof text, fmt, dir, dir, dir);
    int rc = ctl_parse(CTL_SCOPE_MOUNT, text, strlen(text), &batch, &err);
    cr_assert_eq(rc, 0, "parse: %s", err.msg);
    rc = disk_registry_apply(&reg, &batch, &err);
    ctl_batch_free(&batch);
    return rc;
}

static size_t attached(void)
{
    struct disk **disks;
    ssize_t n = disk_registry_list(&reg, &disks);
    cr_assert_geq(n, 0);
    disk_registry_list_free(disks, (size_t)n);
    return (size_t)n;
}

Test(disk_registry, attach_then_find_by_id_and_serial)
{
    cr_assert_eq(run("attach vda %s/a.img\n"), 0);
    struct disk *d = disk_registry_find_id(&reg, "vda", 3);
    cr_assert_not_null(d);
    uint64_t size;
    cr_assert_eq(disk_size(d, &size), 0);
    cr_assert_eq(size, 1 << 20);
    struct disk *same = disk_registry_find_serial(&reg, d->serial);
    cr_assert_eq(same, d);
    disk_unref(same);
    disk_unref(d);
    cr_assert_null(disk_registry_find_id(&reg, "vdb", 3));
}

Test(disk_registry, size_limit_cuts_the_visible_size)
{
    cr_assert_eq(run("attach vda %s/a.img size=64K\nattach vdb %s/b.img size=1G\n"), 0);
    struct disk *a = disk_registry_find_id(&reg, "vda", 3);
    struct disk *b = disk_registry_find_id(&reg, "vdb", 3);
    uint64_t size;
    disk_size(a, &size);
    cr_assert_eq(size, 65536);
    disk_size(b, &size);
    cr_assert_eq(size, 4096, "a limit above the file's size shows the file's size");
    disk_unref(a);
    disk_unref(b);
}

Test(disk_registry, size_follows_the_backing_file)
{
    char path[PATH_MAX];
    cr_assert_eq(run("attach vda %s/b.img\n"), 0);
    snprintf(path, sizeof path, "%s/b.img", dir);
    cr_assert_eq(truncate(path, 8192), 0);
    struct disk *d = disk_registry_find_id(&reg, "vda", 3);
    uint64_t size;
    disk_size(d, &size);
    cr_assert_eq(size, 8192);
    disk_unref(d);
}

Test(disk_registry, missing_image_is_refused_and_not_created)
{
    char path[PATH_MAX];
    cr_assert_eq(run("attach vda %s/nope.img\n"), -ENOENT);
    snprintf(path, sizeof path, "image '%s/nope.img' does not exist (faultfs never creates images)",
             dir);
    cr_assert_str_eq(err.msg + strlen("attach: "), path);
    snprintf(path, sizeof path, "%s/nope.img", dir);
    cr_assert_eq(access(path, F_OK), -1);
    cr_assert_eq(attached(), 0);
}

Test(disk_registry, directories_and_fifos_are_not_images)
{
    char path[PATH_MAX], want[PATH_MAX + 64];
    cr_assert_eq(run("attach vda %s\n"), -EISDIR);
    snprintf(want, sizeof want, "attach: image '%s' is not a regular file", dir);
    cr_assert_str_eq(err.msg, want);
    snprintf(path, sizeof path, "%s/fifo", dir);
    cr_assert_eq(mkfifo(path, 0644), 0);
    cr_assert_eq(run("attach vda %s/fifo\n"), -EINVAL, "a FIFO must be refused, not waited on");
    snprintf(want, sizeof want, "attach: image '%s' is not a regular file", path);
    cr_assert_str_eq(err.msg, want);
    cr_assert_eq(run("attach vda /dev/null\n"), -EINVAL);
    cr_assert_str_eq(err.msg, "attach: image '/dev/null' is not a regular file");
}

Test(disk_registry, images_inside_the_mount_are_refused)
{
    char want[PATH_MAX * 2];
    cr_assert_eq(run("attach vda %s/mnt/x.img\n"), -EINVAL);
    snprintf(want, sizeof want,
             "attach: image '%s/mnt/x.img' is inside the faultfs mount %s (it would deadlock)", dir,
             mnt);
    cr_assert_str_eq(err.msg, want);
    /* Dodging the check with dots or a symlink does not help. */
    make_file("mnt/real.img", 4096);
    cr_assert_eq(run("attach vda %s/./mnt/../mnt/real.img\n"), -EINVAL);
    char link[PATH_MAX], target[PATH_MAX];
    snprintf(link, sizeof link, "%s/link.img", dir);
    snprintf(target, sizeof target, "%s/real.img", mnt);
    cr_assert_eq(symlink(target, link), 0);
    cr_assert_eq(run("attach vda %s/link.img\n"), -EINVAL);
    cr_assert_eq(attached(), 0);
    /* A sibling whose name merely starts like the mount is fine. */
    cr_assert_eq(mkdir(strcat(strcpy(target, mnt), "2"), 0755), 0);
    make_file("mnt2/ok.img", 4096);
    cr_assert_eq(run("attach vda %s/mnt2/ok.img\n"), 0);
}

Test(disk_registry, duplicate_and_unknown_ids)
{
    cr_assert_eq(run("attach vda %s/a.img\n"), 0);
    cr_assert_eq(run("attach vda %s/b.img\n"), -EEXIST);
    cr_assert_str_eq(err.msg, "attach: disk 'vda' is already attached");
    cr_assert_eq(run("detach vdz\n"), -ENOENT);
    cr_assert_str_eq(err.msg, "detach: no disk 'vdz' is attached");
    cr_assert_eq(run("attach vdb %s/b.img\nattach vdb %s/b.img\n"), -EEXIST);
    cr_assert_eq(err.line, 2);
    cr_assert_eq(attached(), 1);
}

Test(disk_registry, a_bad_line_leaves_every_disk_as_it_was)
{
    cr_assert_eq(run("attach vda %s/a.img\n"), 0);
    cr_assert_eq(run("detach vda\nattach vdb %s/b.img\nattach vdc %s/missing.img\n"), -ENOENT);
    cr_assert_eq(err.line, 3);
    struct disk *d = disk_registry_find_id(&reg, "vda", 3);
    cr_assert_not_null(d, "vda must still be attached");
    cr_assert_eq(atomic_load(&d->detached), false);
    disk_unref(d);
    cr_assert_null(disk_registry_find_id(&reg, "vdb", 3));
    cr_assert_eq(attached(), 1);
}

Test(disk_registry, detach_then_reattach_in_one_batch)
{
    cr_assert_eq(run("attach vda %s/a.img\n"), 0);
    struct disk *old = disk_registry_find_id(&reg, "vda", 3);
    cr_assert_eq(run("detach vda\nattach vda %s/b.img\n"), 0);
    struct disk *now = disk_registry_find_id(&reg, "vda", 3);
    cr_assert_neq(old->serial, now->serial, "serials are never reused");
    cr_assert(atomic_load(&old->detached));
    cr_assert_eq(disk_io_enter(old), -ENXIO, "no request reaches a detached disk's image");
    cr_assert_eq(disk_io_enter(now), 0);
    disk_io_leave(now);
    disk_unref(old);
    disk_unref(now);
}

Test(disk_registry, list_json)
{
    cr_assert_eq(run("attach vda %s/a.img\nattach vdb %s/b.img size=2K\n"), 0);
    json_t *j = disk_registry_json(&reg);
    json_t *disks = json_object_get(j, "disks");
    cr_assert_eq(json_array_size(disks), 2);
    json_t *b = json_array_get(disks, 1);
    cr_assert_str_eq(json_string_value(json_object_get(b, "id")), "vdb");
    cr_assert_eq(json_integer_value(json_object_get(b, "size")), 2048);
    cr_assert_eq(json_integer_value(json_object_get(b, "size_limit")), 2048);
    cr_assert_eq(json_array_size(json_object_get(b, "faults")), 0);
    json_decref(j);
}

Test(disk_registry, many_disks)
{
    char text[64 * 1024];
    size_t len = 0;
    for (int i = 0; i < 1000; i++)
        len += (size_t)snprintf(text + len, sizeof text - len, "attach d%d %s/b.img\n", i, dir);
    struct ctl_batch batch;
    cr_assert_eq(ctl_parse(CTL_SCOPE_MOUNT, text, len, &batch, &err), 0, "%s", err.msg);
    cr_assert_eq(disk_registry_apply(&reg, &batch, &err), 0, "%s", err.msg);
    ctl_batch_free(&batch);
    cr_assert_eq(attached(), 1000);
    struct disk *d = disk_registry_find_id(&reg, "d999", 4);
    cr_assert_not_null(d);
    struct disk *s = disk_registry_find_serial(&reg, d->serial);
    cr_assert_eq(s, d);
    disk_unref(s);
    disk_unref(d);
}
