/*
 * Per-thread reply buffers.
 *
 * A reply must not come from memory another thread may free: once the
 * kernel has the reply it can send a release at once, and that release can
 * be handled before our writev() has even returned. So read replies are
 * copied into (or read straight into) a buffer the replying thread owns.
 */
#include "faultfs.h"

#include <stdlib.h>

struct reply_buffer {
    size_t capacity;
    char *data;
};

static pthread_key_t reply_buffer_key;
static pthread_once_t reply_buffer_once = PTHREAD_ONCE_INIT;

static void reply_buffer_free(void *p)
{
    struct reply_buffer *b = p;
    free(b->data);
    free(b);
}

static void reply_buffer_key_create(void)
{
    pthread_key_create(&reply_buffer_key, reply_buffer_free);
}

char *reply_buffer_get(size_t size)
{
    if (size == 0)
        size = 1; /* a valid pointer even for an empty reply */
    pthread_once(&reply_buffer_once, reply_buffer_key_create);
    struct reply_buffer *b = pthread_getspecific(reply_buffer_key);
    if (!b) {
        b = calloc(1, sizeof *b);
        if (!b || pthread_setspecific(reply_buffer_key, b) != 0) {
            free(b);
            return NULL;
        }
    }
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
