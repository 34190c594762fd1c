/*
 * The host side of the guest agent's protocol (agent_protocol.h): commands
 * out, results in. Many commands run at once; results that arrive for
 * other commands are kept until asked for.
 */
#ifndef FAULTFS_AGENT_H
#define FAULTFS_AGENT_H

#include "agent_protocol.h"
#include "ff_error.h"
#include "line_conn.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Room for an id and its NUL. */
#define AGENT_ID_SIZE (AGENT_PROTO_ID_MAX + 1)

struct agent_result {
    int status; /* exit code, or 128 + signal */
    char *out;  /* stdout, NUL-terminated (may hold NULs) */
    size_t out_len;
    char *err; /* stderr */
    size_t err_len;
    char *failure; /* set instead when the command never ran or was lost */
};

struct agent_job; /* a command started and not yet collected */

struct agent {
    struct line_conn conn;
    unsigned generation;   /* bumped at every hello: the guest (re)started */
    char peer_version[16]; /* the VERSION of the last hello, as the guest wrote it */
    struct agent_job *jobs;
};

/* Sets A up closed: no connection (conn.fd = -1), no commands. */
void agent_init(struct agent *a);

/* Forgets the commands in flight and closes the connection; safe on a closed A. */
void agent_close(struct agent *a);

/*
 * Waits for the guest's next hello on A's connected socket (at boot, after a
 * reset); commands in flight are failed. 0; -ETIMEDOUT at DEADLINE_NS with
 * ERR "waiting for the guest agent's hello"; -EPROTO when the guest speaks
 * another AGENT_PROTO_VERSION (ERR names both); or another -errno.
 */
int agent_wait_hello(struct agent *a, uint64_t deadline_ns, struct ff_error *err);

/*
 * Starts CMD with /bin/sh -c in the guest; ID gets its id, unique in this
 * process (a command of an earlier boot can never be mistaken for a new one).
 * 0, -E2BIG (longer than AGENT_PROTO_COMMAND_MAX) or -errno.
 */
int agent_start(struct agent *a, const char *cmd, char id[AGENT_ID_SIZE]);

/*
 * Waits until command ID has finished and fills OUT (freed with
 * agent_result_free). 0, -ETIMEDOUT (still running; wait again later),
 * -ENOENT (no such command), or another -errno for a lost connection.
 */
int agent_wait(struct agent *a, const char *id, uint64_t deadline_ns, struct agent_result *out);

/* Whether command ID has finished, without blocking. */
bool agent_done(struct agent *a, const char *id);

/* Handles whatever the guest has sent already, without waiting. */
void agent_drain(struct agent *a);

/* Forgets command ID: a result that still comes is dropped. */
void agent_forget(struct agent *a, const char *id);

/* SIGKILLs command ID's process group in the guest. 0 or -errno. */
int agent_kill(struct agent *a, const char *id);

void agent_result_free(struct agent_result *r);

#endif
