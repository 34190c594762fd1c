/* Symlink resolution by hand, refusing to touch a forbidden tree. */
#include "path_resolve.h"

#include <errno.h>
#include <limits.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* Most symlinks one resolution follows, as the kernel's MAXSYMLINKS. */
#define PATH_MAX_HOPS 40

bool path_is_under(const char *path, const char *root)
{
    size_t n = strlen(root);
    while (n > 1 && root[n - 1] == '/')
        n--;
    if (n == 1 && root[0] == '/')
        return path[0] == '/';
    return strncmp(path, root, n) == 0 && (path[n] == '\0' || path[n] == '/');
}

int path_resolve(const char *path, const char *root, char *out, size_t size)
{
    /* REST holds the components still to walk; OUT what is resolved ("" = "/"). */
    char rest[PATH_MAX * 2], link[PATH_MAX], next[PATH_MAX];
    size_t len = 0;
    int hops = 0;

    if (path[0] != '/')
        return -EINVAL;
    if (strlen(path) >= sizeof rest || size < 2)
        return -ENAMETOOLONG;
    strcpy(rest, path);
    out[0] = '\0';
    char *p = rest;
    while (*p) {
        while (*p == '/')
            p++;
        if (!*p)
            break;
        char *comp = p;
        while (*p && *p != '/')
            p++;
        size_t n = (size_t)(p - comp);
        if (n == 1 && comp[0] == '.')
            continue;
        if (n == 2 && comp[0] == '.' && comp[1] == '.') {
            while (len > 0 && out[len - 1] != '/')
                len--;
            if (len > 0)
                len--;
            out[len] = '\0';
            continue;
        }
        if (len + 1 + n + 1 > size || len + 1 + n + 1 > sizeof next)
            return -ENAMETOOLONG;
        memcpy(next, out, len);
        next[len] = '/';
        memcpy(next + len + 1, comp, n);
        next[len + 1 + n] = '\0';
        if (root && path_is_under(next, root))
            return -EXDEV;

        struct stat st;
        if (lstat(next, &st) < 0)
            return -errno;
        if (!S_ISLNK(st.st_mode)) {
            strcpy(out, next);
            len += 1 + n;
            continue;
        }
        if (++hops > PATH_MAX_HOPS)
            return -ELOOP;
        ssize_t l = readlink(next, link, sizeof link - 1);
        if (l < 0)
            return -errno;
        link[l] = '\0';
        /* Walk the target, then what was left after the link. */
        size_t left = strlen(p);
        if ((size_t)l + 1 + left + 1 > sizeof rest)
            return -ENAMETOOLONG;
        memmove(rest + l + 1, p, left + 1);
        memcpy(rest, link, (size_t)l);
        rest[l] = '/';
        p = rest;
        if (link[0] == '/') {
            len = 0;
            out[0] = '\0';
        }
    }
    if (len == 0)
        strcpy(out, "/");
    return 0;
}
