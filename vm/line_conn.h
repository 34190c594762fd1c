/*
 * A line-oriented connection to a unix socket with deadlines: what both the
 * QMP monitor and the guest agent speak. Errors are plain -errno: each one
 * (-ETIMEDOUT, -EPIPE, ...) says all there is to say.
 */
#ifndef FAULTFS_LINE_CONN_H
#define FAULTFS_LINE_CONN_H

#include <stddef.h>
#include <stdint.h>

struct line_conn {
    int fd;    /* -1 when closed */
    char *buf; /* bytes received, not yet returned as lines */
    size_t len;
    size_t capacity;
    char *last; /* the line returned last, freed at the next read */
};

/* Sets C up closed (fd -1), so closing it is safe. */
void line_conn_init(struct line_conn *c);

/*
 * Connects C (closed) to the unix socket PATH: one try, no waiting. 0, or
 * -errno (-ENOENT or -ECONNREFUSED while the server has not made its socket).
 */
int line_conn_open(struct line_conn *c, const char *path);

/* Closes C and drops what it buffered; safe on a closed C. */
void line_conn_close(struct line_conn *c);

/*
 * Points *LINE at the next line (without its "\n" or "\r\n"), valid until
 * the next call, and returns 0; or -ETIMEDOUT once DEADLINE_NS
 * (CLOCK_MONOTONIC) has passed (a deadline of 0 takes only what is already
 * there), -EPIPE when the peer closed, or another -errno.
 */
int line_conn_read(struct line_conn *c, uint64_t deadline_ns, char **line);

/* Sends all LEN bytes of TEXT. 0 or -errno. */
int line_conn_write(struct line_conn *c, const char *text, size_t len);

#endif
