/*
 * The client side of a ctl file, for faultctl and the Lua module: send a
 * batch and, if the daemon refuses it, learn why.
 *
 * The daemon applies a batch when the file is closed or fsync()ed, and
 * after it refuses one, reading the same open file returns the reason as
 * "line L, column C: TEXT" (ff_error_format). So a client opens the ctl
 * file read-write, writes, fsyncs, and on a refusal reads the reason back.
 */
#ifndef FAULTFS_CTL_CLIENT_H
#define FAULTFS_CTL_CLIENT_H

#include "ctl_parse.h"

/*
 * Sends TEXT as one batch to the ctl file at PATH. Returns 0, or -errno with
 * ERR holding the daemon's reason (or, when it gave none, strerror and line 0).
 */
int ctl_client_send(const char *path, const char *text, struct ff_error *err);

#endif
