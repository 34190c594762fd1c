/* Sending a batch to a ctl file and reading back why it was refused. */
#include "ctl_client.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

/* Fills ERR with the reason the daemon left in FD, or with strerror(-RC). */
static void client_reason(int fd, int rc, struct ff_error *err)
{
    char text[FF_ERROR_MSG_MAX + 64];
    ssize_t n = pread(fd, text, sizeof text - 1, 0);
    text[n > 0 ? n : 0] = '\0';
    if (n <= 0 || ff_error_parse(text, err) < 0) {
        memset(err, 0, sizeof *err);
        snprintf(err->msg, sizeof err->msg, "%s", strerror(-rc));
    }
}

int ctl_client_send(const char *path, const char *text, struct ff_error *err)
{
    size_t len = strlen(text), done = 0;
    memset(err, 0, sizeof *err);
    int fd = open(path, O_RDWR | O_CLOEXEC);
    if (fd < 0) {
        int rc = -errno;
        snprintf(err->msg, sizeof err->msg, "%s: %s", path, strerror(-rc));
        return rc;
    }
    int rc = 0;
    while (done < len && rc == 0) {
        ssize_t n = write(fd, text + done, len - done);
        if (n < 0 && errno != EINTR)
            rc = -errno;
        else if (n > 0)
            done += (size_t)n;
    }
    if (rc == 0 && fsync(fd) < 0)
        rc = -errno;
    if (rc < 0)
        client_reason(fd, rc, err);
    close(fd); /* nothing left to apply: fsync did it */
    return rc;
}
