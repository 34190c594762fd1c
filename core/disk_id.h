/* Disk identifiers: the directory name of a disk under the mount. */
#ifndef FAULTFS_DISK_ID_H
#define FAULTFS_DISK_ID_H

#include <stddef.h>

#define DISK_ID_MAX 64

/* 0 if LEN bytes of ID make a valid disk id, else -EINVAL with *WHY set. */
int disk_id_check(const char *id, size_t len, const char **why);

#endif
