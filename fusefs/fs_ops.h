/* The namespace of a mount and the FUSE callbacks. */
#ifndef FAULTFS_FS_OPS_H
#define FAULTFS_FS_OPS_H

#include "faultfs.h"

extern const struct request_ops faultfs_ops;

/* FUSE_INIT, which libfuse handles on either transport. */
void faultfs_init(void *userdata, struct fuse_conn_info *conn);

/* Dates the daemon's own files: call once, when mounting, before any thread starts. */
void faultfs_mark_mounted(void);

/* Frees the handles still open when the session ends. */
void faultfs_free_handles(struct faultfs *fs);

#endif
