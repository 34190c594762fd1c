/* A QMP client: QEMU's JSON monitor, over a unix socket, through jansson. */
#ifndef FAULTFS_QMP_H
#define FAULTFS_QMP_H

#include "ff_error.h"
#include "line_conn.h"

#include <jansson.h>
#include <stdint.h>

struct qmp {
    struct line_conn conn;
    json_t *events; /* events received and not yet taken, oldest first */
    unsigned next_id;
};

/* Sets Q up closed: no connection (conn.fd = -1), an empty event queue. */
void qmp_init(struct qmp *q);

/*
 * On Q's freshly connected socket: reads QEMU's greeting and negotiates
 * capabilities, both before DEADLINE_NS (CLOCK_MONOTONIC). 0; -ETIMEDOUT
 * with ERR naming the step it was waiting at ("waiting for QMP greeting",
 * "waiting for QEMU to answer qmp_capabilities"); or another -errno.
 */
int qmp_handshake(struct qmp *q, uint64_t deadline_ns, struct ff_error *err);

/* Closes the connection and drops the queued events; safe on a closed Q. */
void qmp_close(struct qmp *q);

/*
 * Runs COMMAND with ARGS (a reference stolen; may be NULL) and waits for its
 * answer until DEADLINE_NS. 0 with *RET its "return" value (a new reference;
 * RET may be NULL to drop it). When QEMU refuses, the code is its error
 * class, so callers decide on the class and never on QEMU's wording:
 *
 *   -ENODEV     DeviceNotFound        -ENOTSUP    KVMMissingCap
 *   -ENOSYS     CommandNotFound       -EREMOTEIO  GenericError, and any class not listed
 *   -ENXIO      DeviceNotActive
 *
 * with ERR's message QEMU's description. Otherwise -ETIMEDOUT ("waiting for
 * QEMU to answer COMMAND") or the transport's -errno, all with ERR.
 */
int qmp_command(struct qmp *q, const char *command, json_t *args, uint64_t deadline_ns,
                json_t **ret, struct ff_error *err);

/*
 * Waits for an event named NAME whose data holds every member of MATCH
 * (borrowed; may be NULL). Returns the event (a new reference) or NULL at
 * the timeout. Earlier events stay queued for later calls.
 */
json_t *qmp_wait_event(struct qmp *q, const char *name, json_t *match, uint64_t timeout_ns);

/* Removes and returns (new array) the queued events named NAME, NULL = all; reads what is pending
 * first. */
json_t *qmp_take_events(struct qmp *q, const char *name);

#endif
