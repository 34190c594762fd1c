/*
 * A line-oriented connection to a unix socket with deadlines: what both the
 * QMP monitor and the guest agent speak.
 */
#ifndef FAULTFS_LINE_CONN_H
#define FAULTFS_LINE_CONN_H

#include <stddef.h>
#include <stdint.h>

struct line_conn {
    int fd;       /* -1 when closed */
    char *buf;    /* bytes received, not yet returned as lines */
    size_t len;
    size_t capacity;
    char *last;   /* the line returned last, freed at the next read */
};

/* Connects to the unix socket PATH, retrying until DEADLINE_NS (CLOCK_MONOTONIC). 0 or -errno. */
int line_conn_open(struct line_conn *c, const char *path, uint64_t deadline_ns);
void line_conn_close(struct line_conn *c);

/*
 * Returns the next line (without its "\n" or "\r\n"), valid until the next
 * call, or NULL with *ERR = -ETIMEDOUT (deadline passed), -EPIPE (peer
 * closed) or another -errno.
 */
char *line_conn_read(struct line_conn *c, uint64_t deadline_ns, int *err);

/* Sends all LEN bytes of TEXT. 0 or -errno. */
int line_conn_write(struct line_conn *c, const char *text, size_t len);

#endif
