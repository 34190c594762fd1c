/* Per-thread reply buffers and pipes: a reply never comes from memory another thread may free. */
#ifndef FAULTFS_REPLY_BUFFER_H
#define FAULTFS_REPLY_BUFFER_H

#include <stddef.h>

/* A buffer of at least SIZE bytes owned by the calling thread, or NULL. */
char *reply_buffer_get(size_t size);

/* The calling thread's empty non-blocking pipe, holding SIZE bytes or more: 0 or -errno. */
int reply_pipe_get(size_t size, int fds[2]);

/* Drops the calling thread's pipe and whatever it still holds. */
void reply_pipe_discard(void);

#endif
