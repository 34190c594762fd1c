#include "path_resolve.h"

#include <criterion/criterion.h>
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static char dir[] = "/tmp/faultfs-resolve-XXXXXX";
static char root[PATH_MAX / 2];

static void at(char *out, const char *rel)
{
    snprintf(out, PATH_MAX, "%s/%s", dir, rel);
}

static void setup(void)
{
    char p[PATH_MAX], t[PATH_MAX];
    cr_assert_not_null(mkdtemp(dir));
    snprintf(root, sizeof root, "%s/mnt", dir);
    mkdir(root, 0755);
    at(p, "real");
    mkdir(p, 0755);
    at(p, "real/a.img");
    fclose(fopen(p, "w"));
    at(p, "abs-link");
    at(t, "real/a.img");
    cr_assert_eq(symlink(t, p), 0);
    at(p, "rel-link");
    cr_assert_eq(symlink("real/../real/a.img", p), 0);
    at(p, "into-mnt");
    cr_assert_eq(symlink("mnt/x.img", p), 0);
    at(p, "dir-link");
    cr_assert_eq(symlink("real", p), 0);
    at(p, "loop");
    cr_assert_eq(symlink("loop", p), 0);
    at(p, "mnt2");
    mkdir(p, 0755);
}

static void teardown(void)
{
    char cmd[PATH_MAX];
    snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
    cr_assert_eq(system(cmd), 0);
    strcpy(dir, "/tmp/faultfs-resolve-XXXXXX");
}

TestSuite(path_resolve, .init = setup, .fini = teardown);

static void resolves(const char *rel, const char *want_rel)
{
    char in[PATH_MAX], want[PATH_MAX], out[PATH_MAX];
    at(in, rel);
    at(want, want_rel);
    int rc = path_resolve(in, root, out, sizeof out);
    cr_assert_eq(rc, 0, "%s: %s", rel, strerror(-rc));
    cr_assert_str_eq(out, want);
}

static int fails(const char *rel)
{
    char in[PATH_MAX], out[PATH_MAX];
    at(in, rel);
    return path_resolve(in, root, out, sizeof out);
}

Test(path_resolve, plain_paths_and_dots)
{
    resolves("real/a.img", "real/a.img");
    resolves("real/./a.img", "real/a.img");
    resolves("real/../real//a.img", "real/a.img");
}

Test(path_resolve, symlinks_absolute_relative_and_in_the_middle)
{
    resolves("abs-link", "real/a.img");
    resolves("rel-link", "real/a.img");
    resolves("dir-link/a.img", "real/a.img");
}

Test(path_resolve, the_forbidden_tree_is_refused_without_a_look)
{
    cr_assert_eq(fails("mnt/x.img"), -EXDEV);
    cr_assert_eq(fails("mnt"), -EXDEV);
    cr_assert_eq(fails("real/../mnt/x.img"), -EXDEV);
    cr_assert_eq(fails("into-mnt"), -EXDEV, "a symlink into the mount");
    resolves("mnt2", "mnt2"); /* a sibling named like the root is fine */
}

Test(path_resolve, errors)
{
    char out[PATH_MAX];
    cr_assert_eq(fails("missing.img"), -ENOENT);
    cr_assert_eq(fails("loop"), -ELOOP);
    cr_assert_eq(path_resolve("relative/path", root, out, sizeof out), -EINVAL);
    cr_assert_eq(path_resolve("/", NULL, out, sizeof out), 0);
    cr_assert_str_eq(out, "/");
    cr_assert_eq(path_resolve("/tmp", NULL, out, 3), -ENAMETOOLONG);
}

Test(path_resolve, is_under_compares_components)
{
    cr_assert(path_is_under("/a/b", "/a"));
    cr_assert(path_is_under("/a", "/a/"));
    cr_assert(!path_is_under("/ab", "/a"));
    cr_assert(path_is_under("/anything", "/"));
}
