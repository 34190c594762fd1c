/*
 * A disk's I/O trace (SPEC §2b): while it is on, a ring of the last
 * requests (time, op, bytes, result, the rule that fired) and of the marks
 * written into it, read back as JSON lines. Every entry has a sequence
 * number, so a test can take "everything after mark X" even once older
 * entries have left the ring.
 */
#ifndef FAULTFS_IO_TRACE_H
#define FAULTFS_IO_TRACE_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

/* Entries the ring keeps; the oldest go first. */
#define IO_TRACE_ENTRIES 65536

/* One traced request, as the disk pipeline hands it over. */
struct io_trace_request {
    const char *op;     /* "read", "write", "discard", ... */
    uint64_t offset;    /* bytes */
    uint64_t length;    /* bytes */
    int64_t result;     /* bytes moved, or -errno */
    const char *rule;   /* mode of the rule that fired, or NULL */
    uint64_t rule_id;
    bool stored;        /* through ID/stored (a test's read_sectors), not the guest's view */
};

struct io_trace_entry;

struct io_trace {
    _Atomic bool on;
    pthread_mutex_t lock;
    struct io_trace_entry *ring; /* IO_TRACE_ENTRIES long once anything was traced */
    uint64_t next_seq;           /* sequence number of the next entry (from 1) */
    uint64_t oldest_seq;         /* of the oldest entry still in the ring */
};

int io_trace_init(struct io_trace *trace);
void io_trace_destroy(struct io_trace *trace);

/* Starts or stops recording requests; the entries stay. 0, or -ENOMEM. */
int io_trace_switch(struct io_trace *trace, bool on);

/* Forgets every entry (sequence numbers go on). */
void io_trace_clear(struct io_trace *trace);

/* Records RQ if the trace is on (one atomic load when it is off). */
void io_trace_request(struct io_trace *trace, const struct io_trace_request *rq);

/* Records a mark (on or off). 0, or -ENOMEM. */
int io_trace_mark(struct io_trace *trace, const char *text);

/*
 * The entries as JSON lines, oldest first, in a malloc'd string (*LEN
 * bytes, NUL-terminated); NULL if out of memory.
 */
char *io_trace_render(struct io_trace *trace, size_t *len);

#endif
