/* The control files: MOUNT/ctl (attach, detach, list), ID/ctl (faults) and ID/stats. */
#ifndef FAULTFS_CTL_FILE_H
#define FAULTFS_CTL_FILE_H

#include "faultfs.h"

/* Fills H's text with what reading the file returns (taken at open). 0 or -errno. */
int ctl_file_snapshot(struct faultfs *fs, struct handle *h);

/*
 * A batch is everything written through one open ctl file: each write()
 * is parsed and checked at once (a mistake fails that write and voids the
 * batch), and close() or fsync() applies the batch (returning the error if
 * it cannot). After a refusal, reading the file returns the reason.
 */
void ctl_file_write(struct request req, struct handle *h, const char *buf, size_t size);
int ctl_file_flush(struct faultfs *fs, struct handle *h);
void ctl_file_release(struct handle *h);

#endif
