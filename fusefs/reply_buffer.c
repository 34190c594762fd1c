/*
 * Per-thread reply buffers and pipes.
 *
 * A reply must not come from memory another thread may free: once the
 * kernel has the reply it can send a release at once, and that release can
 * be handled before our writev() has even returned. So read replies are
 * copied into (or read straight into) a buffer the replying thread owns, or
 * spliced into a pipe it owns: a pipe holds references to the image's pages.
 */
#include "reply_buffer.h"

#include <pthread.h>

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <unistd.h>

struct reply_buffer {
    size_t capacity;
    char *data;
    int pipe[2];          /* read and write ends, or -1 */
    size_t pipe_capacity; /* bytes the pipe holds without blocking */
};

static pthread_key_t reply_buffer_key;
static pthread_once_t reply_buffer_once = PTHREAD_ONCE_INIT;

static void reply_pipe_close(struct reply_buffer *b)
{
    if (b->pipe[0] >= 0) {
        close(b->pipe[0]);
        close(b->pipe[1]);
    }
    b->pipe[0] = b->pipe[1] = -1;
    b->pipe_capacity = 0;
}

static void reply_buffer_free(void *p)
{
    struct reply_buffer *b = p;
    reply_pipe_close(b);
    free(b->data);
    free(b);
}

static void reply_buffer_key_create(void)
{
    pthread_key_create(&reply_buffer_key, reply_buffer_free);
}

static struct reply_buffer *reply_buffer_mine(void)
{
    pthread_once(&reply_buffer_once, reply_buffer_key_create);
    struct reply_buffer *b = pthread_getspecific(reply_buffer_key);
    if (!b) {
        b = calloc(1, sizeof *b);
        if (!b || pthread_setspecific(reply_buffer_key, b) != 0) {
            free(b);
            return NULL;
        }
        b->pipe[0] = b->pipe[1] = -1;
    }
    return b;
}

char *reply_buffer_get(size_t size)
{
    if (size == 0)
        size = 1; /* a valid pointer even for an empty reply */
    struct reply_buffer *b = reply_buffer_mine();
    if (!b)
        return NULL;
    if (b->capacity < size) {
        void *grown;
        /* Page-aligned so an O_DIRECT backing file could take it as is. */
        if (posix_memalign(&grown, 4096, size) != 0)
            return NULL;
        free(b->data);
        b->data = grown;
        b->capacity = size;
    }
    return b->data;
}

int reply_pipe_get(size_t size, int fds[2])
{
    struct reply_buffer *b = reply_buffer_mine();
    if (!b)
        return -ENOMEM;
    if (b->pipe[0] < 0 && pipe2(b->pipe, O_CLOEXEC | O_NONBLOCK) < 0) {
        b->pipe[0] = b->pipe[1] = -1;
        return -errno;
    }
    if (b->pipe_capacity == 0)
        b->pipe_capacity = (size_t)fcntl(b->pipe[0], F_GETPIPE_SZ);
    if (b->pipe_capacity < size) {
        int got = fcntl(b->pipe[0], F_SETPIPE_SZ, (int)size);
        if (got < 0)
            return -errno;
        b->pipe_capacity = (size_t)got;
    }
    fds[0] = b->pipe[0];
    fds[1] = b->pipe[1];
    return 0;
}

void reply_pipe_discard(void)
{
    struct reply_buffer *b = reply_buffer_mine();
    if (b)
        reply_pipe_close(b); /* the next one starts empty */
}
