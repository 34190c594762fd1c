/* The I/O trace: a ring of entries under a lock, rendered with jansson. */
#include "io_trace.h"

#include <errno.h>
#include <jansson.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

struct io_trace_entry {
    uint64_t seq;     /* 0: the slot is empty */
    uint64_t time_us; /* wall clock, to line up with the guest's and the test's logs */
    struct io_trace_request rq;
    char *mark;       /* a mark's text; NULL for a request */
};

int io_trace_init(struct io_trace *trace)
{
    memset(trace, 0, sizeof *trace);
    atomic_init(&trace->on, false);
    trace->next_seq = trace->oldest_seq = 1;
    int rc = pthread_mutex_init(&trace->lock, NULL);
    return rc ? -rc : 0;
}

static void trace_free_entries(struct io_trace *trace)
{
    for (size_t i = 0; trace->ring && i < IO_TRACE_ENTRIES; i++) {
        free(trace->ring[i].mark);
        trace->ring[i] = (struct io_trace_entry){0};
    }
    trace->oldest_seq = trace->next_seq;
}

void io_trace_destroy(struct io_trace *trace)
{
    trace_free_entries(trace);
    free(trace->ring);
    pthread_mutex_destroy(&trace->lock);
}

/* The ring, allocated on first use. Caller holds the lock. */
static int trace_ring(struct io_trace *trace)
{
    if (!trace->ring)
        trace->ring = calloc(IO_TRACE_ENTRIES, sizeof *trace->ring);
    return trace->ring ? 0 : -ENOMEM;
}

int io_trace_switch(struct io_trace *trace, bool on)
{
    pthread_mutex_lock(&trace->lock);
    int rc = on ? trace_ring(trace) : 0;
    if (rc == 0)
        atomic_store_explicit(&trace->on, on, memory_order_release);
    pthread_mutex_unlock(&trace->lock);
    return rc;
}

void io_trace_clear(struct io_trace *trace)
{
    pthread_mutex_lock(&trace->lock);
    trace_free_entries(trace);
    pthread_mutex_unlock(&trace->lock);
}

static uint64_t now_us(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (uint64_t)ts.tv_sec * 1000000 + (uint64_t)ts.tv_nsec / 1000;
}

/* Puts E in the ring as the newest entry, dropping the oldest when full. Caller holds the lock. */
static void trace_push(struct io_trace *trace, struct io_trace_entry e)
{
    e.seq = trace->next_seq++;
    struct io_trace_entry *slot = &trace->ring[e.seq % IO_TRACE_ENTRIES];
    free(slot->mark);
    *slot = e;
    if (trace->next_seq - trace->oldest_seq > IO_TRACE_ENTRIES)
        trace->oldest_seq = trace->next_seq - IO_TRACE_ENTRIES;
}

void io_trace_request(struct io_trace *trace, const struct io_trace_request *rq)
{
    if (!atomic_load_explicit(&trace->on, memory_order_acquire))
        return;
    struct io_trace_entry e = {.time_us = now_us(), .rq = *rq};
    pthread_mutex_lock(&trace->lock);
    if (trace->ring)
        trace_push(trace, e);
    pthread_mutex_unlock(&trace->lock);
}

int io_trace_mark(struct io_trace *trace, const char *text)
{
    struct io_trace_entry e = {.time_us = now_us(), .mark = strdup(text)};
    if (!e.mark)
        return -ENOMEM;
    pthread_mutex_lock(&trace->lock);
    int rc = trace_ring(trace);
    if (rc == 0)
        trace_push(trace, e);
    else
        free(e.mark);
    pthread_mutex_unlock(&trace->lock);
    return rc;
}

static json_t *entry_json(const struct io_trace_entry *e)
{
    json_t *o = json_object();
    json_object_set_new(o, "seq", json_integer((json_int_t)e->seq));
    json_object_set_new(o, "time_us", json_integer((json_int_t)e->time_us));
    if (e->mark) {
        json_object_set_new(o, "mark", json_string(e->mark));
        return o;
    }
    const struct io_trace_request *rq = &e->rq;
    uint64_t first = rq->offset / 512;
    uint64_t end = rq->length ? (rq->offset + rq->length + 511) / 512 : first;
    json_object_set_new(o, "op", json_string(rq->op));
    json_object_set_new(o, "sector", json_integer((json_int_t)first));
    json_object_set_new(o, "count", json_integer((json_int_t)(end - first)));
    json_object_set_new(o, "offset", json_integer((json_int_t)rq->offset));
    json_object_set_new(o, "length", json_integer((json_int_t)rq->length));
    if (rq->result < 0) {
        const char *name = strerrorname_np((int)-rq->result);
        json_object_set_new(o, "result", json_string(name ? name : "E?"));
    } else {
        json_object_set_new(o, "result", json_string("ok"));
        json_object_set_new(o, "bytes", json_integer((json_int_t)rq->result));
    }
    if (rq->stored)
        json_object_set_new(o, "stored", json_true());
    if (rq->rule) {
        json_object_set_new(o, "rule", json_string(rq->rule));
        json_object_set_new(o, "rule_id", json_integer((json_int_t)rq->rule_id));
    }
    return o;
}

char *io_trace_render(struct io_trace *trace, size_t *len)
{
    size_t used = 0, cap = 4096;
    char *out = malloc(cap);
    pthread_mutex_lock(&trace->lock);
    for (uint64_t seq = trace->oldest_seq; out && trace->ring && seq < trace->next_seq; seq++) {
        const struct io_trace_entry *e = &trace->ring[seq % IO_TRACE_ENTRIES];
        if (e->seq != seq)
            continue;
        json_t *o = entry_json(e);
        char *line = o ? json_dumps(o, JSON_COMPACT) : NULL;
        json_decref(o);
        size_t l = line ? strlen(line) : 0;
        if (!line || used + l + 2 > cap) {
            while (line && used + l + 2 > cap)
                cap *= 2;
            char *grown = line ? realloc(out, cap) : NULL;
            if (!grown) {
                free(out);
                out = NULL;
            }
            out = grown;
        }
        if (out) {
            memcpy(out + used, line, l);
            used += l;
            out[used++] = '\n';
        }
        free(line);
    }
    pthread_mutex_unlock(&trace->lock);
    if (out)
        out[used] = '\0';
    *len = used;
    return out;
}
