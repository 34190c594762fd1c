/*
 * Resolving a path without stepping into a forbidden tree.
 *
 * The daemon must refuse images inside its own mount, and must not look
 * inside that mount to find out: with one thread (-s), or every thread busy,
 * nobody would answer the lookups it sends itself. So symlinks are followed
 * by hand, and the walk stops before it touches anything at or below ROOT.
 */
#ifndef FAULTFS_PATH_RESOLVE_H
#define FAULTFS_PATH_RESOLVE_H

#include <stdbool.h>
#include <stddef.h>

/* Whether PATH is ROOT or lies below it, comparing whole components. Both absolute. */
bool path_is_under(const char *path, const char *root);

/*
 * Resolves the absolute PATH into OUT: no symlinks, no "." or "..". Returns
 * 0, -EXDEV if the walk reaches ROOT or below it (ROOT may be NULL), or
 * -ENOENT, -ELOOP, -ENAMETOOLONG, -EINVAL (not absolute), -errno of lstat.
 */
int path_resolve(const char *path, const char *root, char *out, size_t size);

#endif
