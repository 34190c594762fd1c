/* ID/image and ID/stored: the guest's requests, each one disk request (core/disk_io.h). */
#ifndef FAULTFS_IMAGE_IO_H
#define FAULTFS_IMAGE_IO_H

#include "disk.h"

#include "request.h"

/*
 * Each gives REQ its one reply, at once or once a slow fault lets it go.
 * STORED: ID/stored, the image as stored (see disk_request.stored).
 */
void image_io_read(struct request req, struct disk *disk, bool stored, size_t size, off_t off);
/* FLAGS: the write's open flags; O_DSYNC / O_SYNC make it durable before the reply. */
void image_io_write(struct request req, struct disk *disk, bool stored, const char *buf, size_t size,
                    off_t off, int flags);
void image_io_fallocate(struct request req, struct disk *disk, bool stored, int mode, off_t off,
                        off_t length);
void image_io_fsync(struct request req, struct disk *disk, bool stored, int datasync);

#endif
