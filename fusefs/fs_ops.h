/* The namespace of a mount and the FUSE callbacks. */
#ifndef FAULTFS_FS_OPS_H
#define FAULTFS_FS_OPS_H

#include "faultfs.h"

extern const struct fuse_lowlevel_ops faultfs_ops;

/* Frees the handles still open when the session ends. */
void faultfs_free_handles(struct faultfs *fs);

#endif
