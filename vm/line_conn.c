/* Line-oriented unix-socket connections with deadlines. */
#include "line_conn.h"

#include "duration.h"

#include <errno.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

void line_conn_init(struct line_conn *c)
{
    memset(c, 0, sizeof *c);
    c->fd = -1;
}

int line_conn_open(struct line_conn *c, const char *path)
{
    struct sockaddr_un addr = {.sun_family = AF_UNIX};
    line_conn_init(c);
    if (strlen(path) >= sizeof addr.sun_path)
        return -ENAMETOOLONG;
    strcpy(addr.sun_path, path);
    int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return -errno;
    if (connect(fd, (struct sockaddr *)&addr, sizeof addr) < 0) {
        int err = errno;
        close(fd);
        return -err;
    }
    c->fd = fd;
    return 0;
}

void line_conn_close(struct line_conn *c)
{
    if (c->fd >= 0) {
        /* shutdown first: QEMU only notices a client that really hung up. */
        shutdown(c->fd, SHUT_RDWR);
        close(c->fd);
    }
    free(c->buf);
    free(c->last);
    line_conn_init(c);
}

int line_conn_read(struct line_conn *c, uint64_t deadline_ns, char **line)
{
    free(c->last);
    c->last = NULL;
    *line = NULL;
    for (;;) {
        char *nl = c->len ? memchr(c->buf, '\n', c->len) : NULL;
        if (nl) {
            size_t end = (size_t)(nl - c->buf);
            size_t keep = end > 0 && c->buf[end - 1] == '\r' ? end - 1 : end;
            c->last = strndup(c->buf, keep);
            memmove(c->buf, nl + 1, c->len - end - 1);
            c->len -= end + 1;
            if (!c->last)
                return -ENOMEM;
            *line = c->last;
            return 0;
        }
        if (c->fd < 0)
            return -EPIPE;
        /* Poll even when the deadline has passed: a zero wait still picks up what is there. */
        uint64_t now = duration_now_ns();
        uint64_t wait_ms = deadline_ns > now
                               ? (deadline_ns - now + DURATION_NS_PER_MS - 1) / DURATION_NS_PER_MS
                               : 0;
        struct pollfd p = {.fd = c->fd, .events = POLLIN};
        int rc = poll(&p, 1, wait_ms > 60000 ? 60000 : (int)wait_ms);
        if (rc < 0 && errno != EINTR)
            return -errno;
        if (rc == 0 && duration_now_ns() >= deadline_ns)
            return -ETIMEDOUT;
        if (rc <= 0)
            continue;
        if (c->len + 65536 > c->capacity) {
            size_t cap = c->capacity ? c->capacity * 2 : 131072;
            char *grown = realloc(c->buf, cap);
            if (!grown)
                return -ENOMEM;
            c->buf = grown;
            c->capacity = cap;
        }
        ssize_t n = read(c->fd, c->buf + c->len, c->capacity - c->len);
        if (n < 0 && (errno == EINTR || errno == EAGAIN))
            continue;
        if (n <= 0)
            return n == 0 ? -EPIPE : -errno;
        c->len += (size_t)n;
        /* Data that keeps coming without a newline must not hold us past the deadline. */
        if (!memchr(c->buf + c->len - (size_t)n, '\n', (size_t)n) &&
            duration_now_ns() >= deadline_ns)
            return -ETIMEDOUT;
    }
}

int line_conn_write(struct line_conn *c, const char *text, size_t len)
{
    size_t done = 0;
    if (c->fd < 0)
        return -EPIPE;
    while (done < len) {
        ssize_t n = send(c->fd, text + done, len - done, MSG_NOSIGNAL);
        if (n < 0) {
            if (errno == EINTR)
                continue;
            return -errno;
        }
        done += (size_t)n;
    }
    return 0;
}
