/* A QMP client: QEMU's JSON monitor, over a unix socket, through jansson. */
#ifndef FAULTFS_QMP_H
#define FAULTFS_QMP_H

#include "line_conn.h"

#include <jansson.h>
#include <stdint.h>

struct qmp {
    struct line_conn conn;
    json_t *events; /* events received and not yet taken, oldest first */
    unsigned next_id;
};

/* Connects, reads the greeting and negotiates capabilities. 0, or -errno with WHY. */
int qmp_open(struct qmp *q, const char *path, uint64_t deadline_ns, char *why, size_t why_size);
void qmp_close(struct qmp *q);

/*
 * Runs COMMAND with ARGS (a reference stolen; may be NULL). Returns its
 * "return" value (a new reference), or NULL with WHY set to QEMU's error
 * description (or the transport error).
 */
json_t *qmp_execute(struct qmp *q, const char *command, json_t *args, uint64_t timeout_ns,
                    char *why, size_t why_size);

/*
 * Waits for an event named NAME whose data holds every member of MATCH
 * (borrowed; may be NULL). Returns the event (a new reference) or NULL at
 * the timeout. Earlier events stay queued for later calls.
 */
json_t *qmp_wait_event(struct qmp *q, const char *name, json_t *match, uint64_t timeout_ns);

/* Removes and returns (new array) the queued events named NAME, NULL = all; reads what is pending first. */
json_t *qmp_take_events(struct qmp *q, const char *name);

#endif
